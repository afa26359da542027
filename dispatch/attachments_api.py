"""`GET /api/v1/requests/{request_id}/messages/{message_id}/attachments/{sha256}`: a console
shows a file a passenger mailed in (channels.email.attachments keeps it by content hash).

Only a hash the message's details list is served, so a hash seen elsewhere opens nothing.
The file comes from a stranger: a safe image type whose bytes are that image is answered
as itself, for a thumbnail; anything else is a download (`application/octet-stream`,
`Content-Disposition: attachment`), never rendered by the hub's origin. Every answer says
`nosniff` and carries a sandboxing CSP, so even a file opened by hand runs nothing.
"""

from __future__ import annotations

import asyncio
import re
import unicodedata
import uuid
from pathlib import Path
from urllib.parse import quote

from aiohttp import web
from sqlalchemy import select

from hub import schema
from hub.agent_auth import current_agent
from hub.appkeys import DATABASE, SETTINGS
from hub.attachment_store import HEAD_BYTES, file_refs, looks_like, stored_path
from hub.audit_web import record_access
from hub.error_codes import ErrorCode
from hub.errors import NotFound
from hub.model import Role

PATH = "/api/v1/requests/{request_id}/messages/{message_id}/attachments/{sha256}"
CHUNK_BYTES = 64 * 1024
# Image types a browser shows in an <img> and never runs, with the bytes each starts with:
# a file declared as one whose bytes are something else is only downloaded.
INLINE_IMAGES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
DOWNLOAD_TYPE = "application/octet-stream"
SAFETY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    # The file changes never (its name is its hash), but each read must reach the hub to be
    # audited and refused after the request is no longer the reader's: revalidate each time.
    "Cache-Control": "private, no-cache",
    "Cross-Origin-Resource-Policy": "same-origin",
}
_UNSAFE_NAME = re.compile(r'[\x00-\x1f\x7f"\\/:*?<>|;]+')
MAX_NAME_CHARS = 150


def safe_filename(name: str) -> str:
    """The name as a browser may save it: no path, no control or reserved characters, not
    empty, not hidden, not endless."""
    name = unicodedata.normalize("NFC", name).rsplit("/", 1)[-1].rsplit("\\", 1)[-1]
    name = _UNSAFE_NAME.sub("_", name).strip(" .")
    return name[:MAX_NAME_CHARS] or "attachment"


def content_disposition(kind: str, name: str) -> str:
    """RFC 6266 with an RFC 5987 UTF-8 name, and a plain ASCII one for old clients."""
    safe = safe_filename(name)
    ascii_name = safe.encode("ascii", "replace").decode("ascii").replace("?", "_")
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(safe, safe='')}"


def _is_image(path: Path, content_type: str) -> bool:
    """Whether the file is an image a browser may show, and its first bytes say so."""
    if content_type not in INLINE_IMAGES:
        return False
    with path.open("rb") as f:
        return looks_like(content_type, f.read(HEAD_BYTES))


def _uuid(request: web.Request, name: str, missing: ErrorCode) -> uuid.UUID:
    try:
        return uuid.UUID(request.match_info[name])
    except ValueError:
        raise NotFound(missing) from None


async def serve_attachment(request: web.Request) -> web.StreamResponse:
    """One attachment of one message, to an agent who may read the request (an external
    user: only one assigned to them); the read is audited."""
    agent = await current_agent(request)
    request_id = _uuid(request, "request_id", ErrorCode.REQUEST_NOT_FOUND)
    message_id = _uuid(request, "message_id", ErrorCode.ATTACHMENT_NOT_FOUND)
    digest = request.match_info["sha256"].lower()
    m, r = schema.messages, schema.contact_requests
    async with request.app[DATABASE].read() as conn:
        row = (await conn.execute(
            select(m.c.details, r.c.assigned_agent_id).join(r, r.c.id == m.c.request_id)
            .where(m.c.id == message_id, m.c.request_id == request_id))).first()
    if row is None or (agent.role is Role.EXTERNAL and row.assigned_agent_id != agent.id):
        raise NotFound(ErrorCode.REQUEST_NOT_FOUND)
    found = next((a for a in file_refs(row.details) if a.sha256 == digest), None)
    if found is None:
        raise NotFound(ErrorCode.ATTACHMENT_NOT_FOUND)
    path = stored_path(request.app[SETTINGS].data_dir, digest)
    try:
        image = await asyncio.to_thread(_is_image, path, found.content_type)
    except FileNotFoundError:
        raise NotFound(ErrorCode.ATTACHMENT_GONE) from None
    await record_access(request, "read.attachment", agent_id=agent.id,
                        subject=str(request_id),
                        detail={"message_id": str(message_id), "sha256": digest,
                                "type": found.content_type})
    headers = {**SAFETY_HEADERS,
               "Content-Type": found.content_type if image else DOWNLOAD_TYPE,
               "Content-Disposition": content_disposition(
                   "inline" if image else "attachment", found.name)}
    return web.FileResponse(path, chunk_size=CHUNK_BYTES, headers=headers)


def routes() -> list[web.RouteDef]:
    return [web.get(PATH, serve_attachment)]
