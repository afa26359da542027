"""`POST /api/v1/requests/{request_id}/attachments`: a dispatcher who may reply on a request
uploads a file (multipart/form-data, one part named `file`) to attach to an email reply.

The file goes to the content-hash store (hub.attachment_store) and its record (name, type,
size) to a Redis key for this request that lives a day: a reply may list only hashes
uploaded for its own request, so a hash seen elsewhere attaches nothing. Redis rather than a
table: the record is short-lived working state that every hub process must see, and needs
no migration; once a reply lists a file, the message's details carry it for good (purge,
erasure, export, the console), and an upload never sent is only a file that the purge
removes when it is `attachments_days` old.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Sequence

from aiohttp import BodyPartReader, web
from redis.asyncio import Redis

from dispatch.attachments_api import safe_filename
from hub import handling_take
from hub.agent_auth import current_agent
from hub.appkeys import DATABASE, KEYS, REDIS, SETTINGS
from hub.attachment_store import (
    HEAD_BYTES,
    attachments_root,
    file_record,
    file_refs,
    looks_like,
    store_file,
)
from hub.clock import utcnow
from hub.error_codes import ErrorCode
from hub.errors import BadInput, NotFound, TooLarge
from hub.keys import Keys
from hub.model import FileRef

PATH = "/api/v1/requests/{request_id}/attachments"
LIMITS_PATH = "/api/v1/attachment-limits"
# How long an upload waits for the reply that sends it: a dispatcher's working day.
UPLOAD_TTL_S = 24 * 3600
CHUNK_BYTES = 64 * 1024
MAX_ATTACHMENTS = 10  # in one reply


async def upload_attachment(request: web.Request) -> web.Response:
    """Store one file for a reply on this request: 201 {name, type, size, sha256}."""
    agent = await current_agent(request)
    try:
        request_id = uuid.UUID(request.match_info["request_id"])
    except ValueError:
        raise NotFound(ErrorCode.REQUEST_NOT_FOUND) from None
    # The same refusal as a reply's (404 not theirs, 409 a colleague's or resolved), before
    # a byte of the file is read. The row lock ends with this short transaction.
    async with request.app[DATABASE].write() as conn:
        await handling_take.may_take(conn, request_id, agent, at=utcnow(), doing="attach a file")
    email = request.app[SETTINGS].email
    if request.content_type != "multipart/form-data":
        raise web.HTTPUnsupportedMediaType(
            text="send the file as multipart/form-data, in one part named file")
    part = await (await request.multipart()).next()
    if not isinstance(part, BodyPartReader) or part.name != "file" or not part.filename:
        raise BadInput(ErrorCode.UPLOAD_FILE_REQUIRED, {"file": "required"})
    content_type = (part.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if content_type not in email.attachment_types:
        raise web.HTTPUnsupportedMediaType(
            text=f"a file of type {content_type or 'unknown'} cannot be attached; "
                 f"allowed: {', '.join(email.attachment_types)}")
    data = bytearray()
    while chunk := await part.read_chunk(CHUNK_BYTES):
        data += chunk
        if len(data) > email.attachment_max_bytes:
            raise TooLarge(ErrorCode.UPLOAD_TOO_LARGE.of(max=email.attachment_max_bytes),
                           {"file": "too_large"})
    if not data:
        raise BadInput(ErrorCode.UPLOAD_EMPTY, {"file": "empty"})
    if not looks_like(content_type, bytes(data[:HEAD_BYTES])):
        raise BadInput(ErrorCode.UPLOAD_TYPE_MISMATCH.of(content_type=content_type),
                       {"file": "type_mismatch"})
    root = attachments_root(request.app[SETTINGS].data_dir)
    digest = await asyncio.to_thread(store_file, root, bytes(data))
    record = file_record(FileRef(name=safe_filename(part.filename), content_type=content_type,
                                 size=len(data), sha256=digest))
    await request.app[REDIS].client.set(
        request.app[KEYS].upload(request_id, digest), json.dumps(record), ex=UPLOAD_TTL_S)
    return web.json_response(record, status=201)


async def uploaded_files(redis: Redis, keys: Keys, request_id: uuid.UUID,
                         hashes: object) -> tuple[FileRef, ...]:
    """The uploads a reply lists, each uploaded for this request (422 for any other)."""
    if hashes is None:
        return ()
    if not isinstance(hashes, list) or not all(isinstance(h, str) for h in hashes):
        raise BadInput(ErrorCode.ATTACHMENTS_INVALID,
                       {"attachments": "invalid"})
    wanted: Sequence[str] = list(dict.fromkeys(h.lower() for h in hashes))
    if len(wanted) > MAX_ATTACHMENTS:
        raise BadInput(ErrorCode.ATTACHMENTS_TOO_MANY.of(max=MAX_ATTACHMENTS),
                       {"attachments": "too_many"})
    if not wanted:
        return ()
    found = await redis.mget([keys.upload(request_id, h) for h in wanted])
    records = [json.loads(raw) for raw in found if raw is not None]
    if len(records) < len(wanted):
        raise BadInput(ErrorCode.ATTACHMENT_NOT_UPLOADED, {"attachments": "not_uploaded"})
    return file_refs({"attachments": records})


async def upload_limits(request: web.Request) -> web.Response:
    """What the composer tells before a file is chosen: the size and the types allowed."""
    await current_agent(request)
    email = request.app[SETTINGS].email
    return web.json_response({"max_bytes": email.attachment_max_bytes,
                              "types": list(email.attachment_types),
                              "max_files": MAX_ATTACHMENTS})


def routes() -> list[web.RouteDef]:
    return [web.post(PATH, upload_attachment), web.get(LIMITS_PATH, upload_limits)]
