"""Who is calling: the logged-in console agent of a request, and the role checks on it.

In the core because both sides serve routes for logged-in dispatchers: the console's API in
dispatch, and channel routes such as call recordings and the chat's console side. Logging
in and out is dispatch's (dispatch.auth); this only reads the session it left.
"""

from __future__ import annotations

import json
from typing import NoReturn
from urllib.parse import urlsplit

from aiohttp import web

from hub.agents import get_agent
from hub.appkeys import DATABASE, SESSIONS, SETTINGS
from hub.audit_web import record_access
from hub.error_codes import ErrorCode, answer
from hub.errors import Forbidden
from hub.model import Agent, Role
from hub.sessions import COOKIE_NAME

AGENT = web.RequestKey("agent", Agent)


def origin_allowed(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    if origin is None:
        return True  # not a browser: nothing to forge, the session cookie still decides
    settings = request.app[SETTINGS]
    allowed = set(settings.console.allowed_origins)
    if settings.http.public_url:
        parts = urlsplit(settings.http.public_url)
        allowed.add(f"{parts.scheme}://{parts.netloc}")
    if origin in allowed:
        return True
    return urlsplit(origin).netloc == request.host


async def current_agent(request: web.Request) -> Agent:
    """The logged-in agent, or 401. Cached on the request.

    A call that changes something must come from the hub's own pages (or an allowed
    origin): SameSite=Strict does not stop a form on a sibling subdomain.
    """
    if request.method not in ("GET", "HEAD") and not origin_allowed(request):
        raise web.HTTPForbidden(text=json.dumps(answer(ErrorCode.ORIGIN_NOT_ALLOWED.of())),
                                content_type="application/json")
    cached: Agent | None = request.get(AGENT)
    if cached is not None:
        return cached
    token = request.cookies.get(COOKIE_NAME, "")
    agent_id = await request.app[SESSIONS].agent_of(token)
    agent = None
    if agent_id is not None:
        async with request.app[DATABASE].read() as conn:
            agent = await get_agent(conn, agent_id)
    if agent is None or not agent.active:
        raise web.HTTPUnauthorized(
            text=json.dumps(answer(ErrorCode.LOGIN_REQUIRED.of())), content_type="application/json"
        )
    request[AGENT] = agent
    return agent


async def require_admin(request: web.Request) -> Agent:
    """The logged-in agent if an admin; 403 for team and external users, in the audit."""
    agent = await current_agent(request)
    if agent.role is not Role.ADMIN:
        await refuse(request, agent, ErrorCode.ADMINS_ONLY)
    return agent


async def require_centre(request: web.Request, refusal: ErrorCode) -> Agent:
    """The logged-in agent if one of the centre's own (team or admin); 403 with `refusal`
    for an external user, in the audit."""
    agent = await current_agent(request)
    if agent.role is Role.EXTERNAL:
        await refuse(request, agent, refusal)
    return agent


async def refuse(request: web.Request, agent: Agent, reason: ErrorCode) -> NoReturn:
    """403 with `reason`, after an `access.refused` entry naming the agent, their role
    and the route they tried."""
    await record_access(request, "access.refused", agent_id=agent.id,
                        subject=f"{request.method} {request.path}",
                        detail={"role": agent.role.value, "reason": reason.of().english()})
    raise Forbidden(reason)
