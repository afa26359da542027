"""The admin API of a data subject's rights (issue 14: 2): export and erasure of the
passenger behind one phone number or email address. Admins only; both audited by
`hub.subject_rights`. Body: {"phone": ...} or {"email": ...}; 422 for neither or both, 404
for a number or address no passenger has."""

from __future__ import annotations

import logging

from aiohttp import web

from channels.registry import provider_audio
from hub import subject_rights
from hub.agent_auth import require_admin
from hub.appkeys import DATABASE, HTTP_CLIENT, KEYS, REDIS, SETTINGS
from hub.request_body import read_json_object
from hub.subject import Identifier, identifier_from

log = logging.getLogger(__name__)

BASE = "/api/v1/admin/subject"


async def _identifier(request: web.Request) -> Identifier:
    body = await read_json_object(request)
    return identifier_from(body, request.app[SETTINGS].phone.default_region)


async def export(request: web.Request) -> web.Response:
    """The ZIP archive (export.json and files/, a provider's audio fetched) as a download."""
    admin = await require_admin(request)
    identifier = await _identifier(request)
    app = request.app
    archive = await subject_rights.export(
        app[DATABASE], app[SETTINGS].data_dir, identifier,
        provider_audio(app[HTTP_CLIENT], app[SETTINGS]), actor=admin.id, via="api")
    log.info("subject export of %s by %s: %d bytes", identifier.masked, admin.id,
             len(archive.data))
    return web.Response(body=archive.data, content_type="application/zip", headers={
        "Content-Disposition": f'attachment; filename="{archive.name}"',
        "Cache-Control": "no-store"})


async def erase(request: web.Request) -> web.Response:
    """Erase the passenger; answers what was removed, in counts."""
    admin = await require_admin(request)
    identifier = await _identifier(request)
    app = request.app
    erased = await subject_rights.erase(app[DATABASE], app[REDIS].client, app[KEYS],
                                        app[SETTINGS].data_dir, identifier, actor=admin.id,
                                        via="api")
    log.info("subject erasure of %s by %s: %s", identifier.masked, admin.id, erased.counts())
    return web.json_response({"erased": erased.counts()})


def routes() -> list[web.RouteDef]:
    return [web.post(BASE + "/export", export), web.post(BASE + "/erase", erase)]
