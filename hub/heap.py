"""The garbage collector of a serving hub process, settled once the hub has started.

Everything loaded at start-up (modules, SQLAlchemy's compiled statements, the app and its
caches) lives as long as the process. Left in the collector's generations, each full
collection walks all of it again, a pause of tens of milliseconds on a busy hub (hundreds
on a loaded machine) that every POST waiting at that moment adds to its answer time.
Frozen, the collector skips it for good; what the traffic creates is collected as before.
The young generation's threshold is raised so that the short-lived objects of a request
mostly die before a collection looks at them, instead of being promoted and walked again.
"""

from __future__ import annotations

import gc

from aiohttp import web

YOUNG_THRESHOLD = 10_000  # objects allocated between young collections (Python's own: 700)
MIDDLE_THRESHOLD = 10  # young collections per middle one (Python's own)
OLD_THRESHOLD = 10  # middle collections per full one (Python's own)


async def settle_heap(app: web.Application) -> None:
    """Last of the start-up steps of a serving process (not of the tests' apps, which
    share one process and come and go)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, MIDDLE_THRESHOLD, OLD_THRESHOLD)
