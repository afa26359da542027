"""Where each asyncpg connection of the test run was opened, so that one left unclosed names
its origin when it is collected.

asyncpg records the creating stack only when the event loop is in debug mode, which slows
the whole run; without it, a connection leaked by one test fails a later test on the same
worker ("unclosed connection", turned into an error by the warning filter) with no clue to
which. Recording the stack costs microseconds per connection, and the tests open few.
"""

from __future__ import annotations

import traceback
from typing import Any


def record_connection_origins() -> None:
    try:
        from asyncpg import connection
    except ImportError:
        return
    original = connection.Connection.__init__
    if getattr(original, "records_origin", False):
        return

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        if self._source_traceback is None:
            self._source_traceback = "".join(traceback.format_stack(limit=40)[:-1])

    init.records_origin = True  # type: ignore[attr-defined]
    connection.Connection.__init__ = init  # type: ignore[method-assign]
