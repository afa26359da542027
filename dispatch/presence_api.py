"""The console's presence API: who is on and what they hold, and one's own state."""

from __future__ import annotations

from aiohttp import web

from dispatch.appkeys import HANDBACK
from dispatch.handback import NOTE_OFFLINE
from dispatch.presence import PresenceBoard
from hub.agent_auth import current_agent
from hub.appkeys import DATABASE, KEYS, REDIS
from hub.console_presence import PresenceState
from hub.error_codes import ErrorCode
from hub.errors import Forbidden
from hub.model import Role
from hub.request_body import read_body
from hub.request_models import PresenceChoice


def board(app: web.Application) -> PresenceBoard:
    """The presence board over the app's database and Redis."""
    return PresenceBoard(app[DATABASE], app[REDIS].client, app[KEYS])


async def list_presence(request: web.Request) -> web.Response:
    """Every active dispatcher and admin: state, live console, since when, what they hold."""
    if (await current_agent(request)).role is Role.EXTERNAL:
        raise Forbidden(ErrorCode.EXTERNAL_NO_COLLEAGUES)
    return web.json_response({"agents": await board(request.app).entries()})


async def set_presence(request: web.Request) -> web.Response:
    """Choose one's own state. Offline hands one's unanswered requests back at once."""
    agent = await current_agent(request)
    if agent.role is Role.EXTERNAL:
        raise Forbidden(ErrorCode.EXTERNAL_NO_PRESENCE)
    state = (await read_body(request, PresenceChoice)).state
    presence = board(request.app)
    changed = await presence.presence.choose(agent.id, state)
    handed_back: list[str] = []
    if state is PresenceState.OFFLINE:
        handed_back = await request.app[HANDBACK].hand_back(agent.id, NOTE_OFFLINE)
    if changed and not handed_back:  # a hand-back announces the new state itself
        await presence.announce(agent.id)
    entry = (await presence.entries([agent.id]))[0]
    return web.json_response({"presence": entry, "handed_back": handed_back})


def routes() -> list[web.RouteDef]:
    return [
        web.get("/api/v1/presence", list_presence),
        web.put("/api/v1/me/presence", set_presence),
    ]
