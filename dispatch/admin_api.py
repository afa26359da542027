"""The admin pages' API: accounts (add, edit, disable, reset a password); the audit trail's
is dispatch.audit_api.

Admins only: 401 without a session, 403 for team and external users, and every write from
the hub's own origin like the console's. The rules live in `hub.agents`; this module is HTTP.
"""

from __future__ import annotations

import logging
import uuid

from aiohttp import web

from dispatch.appkeys import HANDBACK
from dispatch.handback import NOTE_DISABLED
from hub import agents
from hub.agent_auth import require_admin
from hub.appkeys import DATABASE, SESSIONS, SETTINGS
from hub.error_codes import ErrorCode
from hub.errors import NotFound
from hub.middleware import CONSOLE_POLICY
from hub.request_body import read_body, read_json_object
from hub.request_models import PasswordReset
from hub.sessions import COOKIE_NAME
from web import ROOT as WEB_ROOT

log = logging.getLogger(__name__)

BASE = "/api/v1/admin"


def _agent_id(request: web.Request) -> uuid.UUID:
    try:
        return uuid.UUID(request.match_info["agent_id"])
    except ValueError as exc:
        raise NotFound(ErrorCode.AGENT_NOT_FOUND) from exc


async def list_accounts(request: web.Request) -> web.Response:
    """Every account, disabled ones too; never a password hash."""
    await require_admin(request)
    async with request.app[DATABASE].read() as conn:
        found = await agents.list_agents(conn)
    return web.json_response({"agents": found})


async def add_account(request: web.Request) -> web.Response:
    admin = await require_admin(request)
    body = await read_json_object(request)
    created = await agents.create_account(
        request.app[DATABASE], body, by=admin,
        default_region=request.app[SETTINGS].phone.default_region)
    log.info("agent %s added by %s", created["id"], admin.id)
    return web.json_response({"agent": created}, status=201)


async def change_account(request: web.Request) -> web.Response:
    """Edit name, role, email, phones or active. Disabling ends the agent's sessions at once
    and hands every request they hold back to the queue; a changed role closes their
    consoles at the next session check (their feed was filtered for the old role)."""
    admin = await require_admin(request)
    agent_id = _agent_id(request)
    body = await read_json_object(request)
    before, after = await agents.update_agent(
        request.app[DATABASE], agent_id, body, by=admin,
        default_region=request.app[SETTINGS].phone.default_region)
    if before["active"] and not after["active"]:
        ended = await request.app[SESSIONS].end_all(agent_id)
        handed = await request.app[HANDBACK].hand_back(agent_id, NOTE_DISABLED,
                                                       answered_too=True)
        log.info("agent %s disabled by %s; %d sessions ended, %d requests handed back",
                 agent_id, admin.id, ended, len(handed))
    return web.json_response({"agent": after})


async def reset_password(request: web.Request) -> web.Response:
    """Set a new password and end the agent's other sessions (an admin resetting their own
    keeps the session they are using)."""
    admin = await require_admin(request)
    agent_id = _agent_id(request)
    password = (await read_body(request, PasswordReset)).password
    changed = await agents.set_password(request.app[DATABASE], agent_id, password, by=admin)
    keep = request.cookies.get(COOKIE_NAME) if agent_id == admin.id else None
    ended = await request.app[SESSIONS].end_all(agent_id, keep=keep)
    log.info("password of agent %s reset by %s; %d sessions ended", agent_id, admin.id, ended)
    return web.json_response({"agent": changed, "sessions_ended": ended})


async def admin_page(request: web.Request) -> web.FileResponse:
    """The admin page; it asks the API who is logged in, so it is served to anyone."""
    return web.FileResponse(WEB_ROOT / "admin" / "index.html", headers={
        "Content-Security-Policy": CONSOLE_POLICY, "X-Frame-Options": "DENY",
        "Cache-Control": "no-store",
    })


def routes() -> list[web.RouteDef]:
    # Any segment is routed here (the router's default refuses braces), so that even a
    # malformed id is answered after the session check, in JSON.
    one = BASE + "/agents/{agent_id:[^/]+}"
    return [
        web.get("/admin", admin_page),
        web.get(BASE + "/agents", list_accounts),
        web.post(BASE + "/agents", add_account),
        web.patch(one, change_account),
        web.post(one + "/password", reset_password),
    ]
