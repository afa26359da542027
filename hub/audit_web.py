"""The audit trail seen from HTTP: where each entry's client address comes from, and the one
short write that records a read of personal data.

The middleware puts the client address (hub.client_address, proxies considered) where
`hub.audit.record()` finds it, so every entry written while serving a request says where it
came from without each caller passing it along.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from hub import audit
from hub.appkeys import DATABASE, TRUSTED_PROXIES
from hub.client_address import client_address

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def audit_address(request: web.Request, handler: Handler) -> web.StreamResponse:
    token = audit.CLIENT_ADDRESS.set(client_address(request, request.app[TRUSTED_PROXIES]))
    try:
        return await handler(request)
    finally:
        audit.CLIENT_ADDRESS.reset(token)


async def record_access(request: web.Request, action: str, *, agent_id: uuid.UUID | None,
                        subject: str | None = None,
                        detail: Mapping[str, Any] | None = None) -> None:
    """One entry in a short write transaction of its own, for a handler that only read: a
    read of personal data, or a refusal. Call it after the read's connection is closed and
    before answering, so that nothing is shown that is not in the trail."""
    async with request.app[DATABASE].write() as conn:
        await audit.record(conn, action, agent_id=agent_id, subject=subject, detail=detail)
