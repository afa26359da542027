"""The audit trail seen from HTTP: where each entry's client address comes from, and the one
short write that records a read of personal data.

The middleware puts the client address (hub.client_address, proxies considered) where
`hub.audit.record()` finds it, so every entry written while serving a request says where it
came from without each caller passing it along.

A read of one item (a request, a passenger's card or timeline) is recorded once per agent,
item and REPEAT_READ_S on each process: the console reloads the open request on each of its
events, and the trail is to say who saw what, not to grow with every reload.
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from aiohttp import web

from hub import audit
from hub.appkeys import DATABASE, TRUSTED_PROXIES
from hub.client_address import client_address
from hub.json_types import JsonDocument

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

REPEAT_READ_S = 300.0
RECENT_READS_KEPT = 10_000
_recent_reads: OrderedDict[tuple[str, uuid.UUID, str], float] = OrderedDict()


@web.middleware
async def audit_address(request: web.Request, handler: Handler) -> web.StreamResponse:
    token = audit.CLIENT_ADDRESS.set(client_address(request, request.app[TRUSTED_PROXIES]))
    try:
        return await handler(request)
    finally:
        audit.CLIENT_ADDRESS.reset(token)


async def record_access(request: web.Request, action: str, *, agent_id: uuid.UUID | None,
                        subject: str | None = None,
                        detail: JsonDocument | None = None) -> None:
    """One entry in a short write transaction of its own, for a handler that only read: a
    read of personal data, or a refusal. Call it after the read's connection is closed and
    before answering, so that nothing is shown that is not in the trail."""
    key = _read_key(action, agent_id, subject)
    seen = _recent_reads.get(key) if key is not None else None
    if seen is not None and time.monotonic() - seen < REPEAT_READ_S:
        return
    async with request.app[DATABASE].write() as conn:
        await audit.record(conn, action, agent_id=agent_id, subject=subject, detail=detail)
    if key is not None:  # only once it is in the trail
        _recent_reads[key] = time.monotonic()
        _recent_reads.move_to_end(key)
        while len(_recent_reads) > RECENT_READS_KEPT:
            _recent_reads.popitem(last=False)


def _read_key(action: str, agent_id: uuid.UUID | None,
              subject: str | None) -> tuple[str, uuid.UUID, str] | None:
    """Reads of one item by one agent are recorded once a while; everything else each time."""
    if not action.startswith("read.") or agent_id is None or subject is None:
        return None
    return action, agent_id, subject
