"""Canned replies over HTTP: admins manage them, dispatchers list them and render one for the
request they are answering (the console's composer inserts the text for editing; nothing is
sent from here).

Admin routes answer 401 without a session and 403 to team and external users; the
dispatchers' routes answer 403 to external users, who answer in their own words. Every write
comes from the hub's own origin, as the console's do (`hub.agent_auth.current_agent`).
"""

from __future__ import annotations

import logging
import uuid

from aiohttp import web

from dispatch import canned_store
from dispatch.canned import LANGUAGES, PLACEHOLDERS, clean_eta, clean_fields
from hub.agent_auth import require_admin, require_centre
from hub.appkeys import DATABASE
from hub.error_codes import ErrorCode
from hub.errors import BadInput, NotFound
from hub.request_body import read_body, read_json_object
from hub.request_models import CannedRender

log = logging.getLogger(__name__)

ADMIN_BASE = "/api/v1/admin/canned-replies"
BASE = "/api/v1/canned-replies"


def _uuid(request: web.Request, name: str, missing: ErrorCode) -> uuid.UUID:
    try:
        return uuid.UUID(request.match_info[name])
    except ValueError as exc:
        raise NotFound(missing) from exc


def _listing(replies: list[dict[str, object]]) -> web.Response:
    return web.json_response({"canned_replies": replies, "placeholders": list(PLACEHOLDERS),
                              "languages": list(LANGUAGES)})


async def admin_list(request: web.Request) -> web.Response:
    await require_admin(request)
    async with request.app[DATABASE].read() as conn:
        found = await canned_store.list_replies(conn)
    return _listing(found)


async def admin_add(request: web.Request) -> web.Response:
    admin = await require_admin(request)
    fields = clean_fields(await read_json_object(request))
    added = await canned_store.add_reply(request.app[DATABASE], fields, by=admin)
    log.info("canned reply %s added by %s", added["id"], admin.id)
    return web.json_response({"canned_reply": added}, status=201)


async def admin_change(request: web.Request) -> web.Response:
    """Replace a reply's title, language, text and lane (position kept when not given)."""
    admin = await require_admin(request)
    canned_id = _uuid(request, "canned_id", ErrorCode.CANNED_NOT_FOUND)
    fields = clean_fields(await read_json_object(request))
    changed = await canned_store.change_reply(request.app[DATABASE], canned_id, fields,
                                              by=admin)
    return web.json_response({"canned_reply": changed})


async def admin_delete(request: web.Request) -> web.Response:
    admin = await require_admin(request)
    canned_id = _uuid(request, "canned_id", ErrorCode.CANNED_NOT_FOUND)
    await canned_store.delete_reply(request.app[DATABASE], canned_id, by=admin)
    log.info("canned reply %s deleted by %s", canned_id, admin.id)
    return web.json_response({"deleted": str(canned_id)})


async def dispatcher_list(request: web.Request) -> web.Response:
    """`?lane=` keeps that lane's replies and those for every lane; `?language=fi|sv|en`."""
    await require_centre(request, ErrorCode.CANNED_CENTRE_ONLY)
    lane = request.query.get("lane") or None
    language = request.query.get("language") or None
    if language is not None and language not in LANGUAGES:
        raise BadInput(ErrorCode.LANGUAGE_INVALID.of(allowed=", ".join(LANGUAGES)))
    async with request.app[DATABASE].read() as conn:
        found = await canned_store.list_replies(conn, lane=lane, language=language)
    return _listing(found)


async def render(request: web.Request) -> web.Response:
    """The reply filled in for the request: {"eta": "10 min"} when its text names {eta}."""
    agent = await require_centre(request, ErrorCode.CANNED_CENTRE_ONLY)
    request_id = _uuid(request, "request_id", ErrorCode.REQUEST_NOT_FOUND)
    canned_id = _uuid(request, "canned_id", ErrorCode.CANNED_NOT_FOUND)
    body = await read_body(request, CannedRender) if request.body_exists else CannedRender()
    rendered = await canned_store.render_for(request.app[DATABASE], canned_id, request_id,
                                             agent=agent, eta=clean_eta(body.eta))
    return web.json_response(rendered)


def routes() -> list[web.RouteDef]:
    # Any segment is routed here, so that even a malformed id is answered after the session
    # check, in JSON (as dispatch.admin_api does).
    one = ADMIN_BASE + "/{canned_id:[^/]+}"
    return [
        web.get(ADMIN_BASE, admin_list),
        web.post(ADMIN_BASE, admin_add),
        web.put(one, admin_change),
        web.delete(one, admin_delete),
        web.get(BASE, dispatcher_list),
        web.post("/api/v1/requests/{request_id}/canned-replies/{canned_id:[^/]+}/render",
                 render),
    ]
