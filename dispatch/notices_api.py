"""Service notices over HTTP: dispatchers and admins publish and end them; consoles list the
active ones (their banner) and the history, and hear `notice.published` / `notice.ended`."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web
from sqlalchemy import insert, select, update

from hub import audit, schema
from hub.agent_auth import require_centre
from hub.appkeys import DATABASE, NOTICES, RELAY
from hub.clock import utcnow
from hub.error_codes import ErrorCode
from hub.errors import BadInput, Conflict, NotFound
from hub.events import EventType
from hub.model import Channel
from hub.notices import notice_of, unfinished
from hub.outbox import new_row, write_rows
from hub.request_body import read_body
from hub.request_models import NOTICE_TEXT_CHARS, NoticeInput
from hub.text import is_storable

n = schema.notices
MAX_TEXT_CHARS = NOTICE_TEXT_CHARS
HISTORY_LIMIT = 50
MAX_DURATION = timedelta(days=31)


async def list_notices(request: web.Request) -> web.Response:
    await require_centre(request, ErrorCode.NOTICES_CENTRE_ONLY)
    now = utcnow()
    async with request.app[DATABASE].read() as conn:
        coming = await unfinished(conn, now)
        history = (await conn.execute(
            select(n).order_by(n.c.created_at.desc()).limit(HISTORY_LIMIT))).mappings().all()
    return web.json_response({
        "active": [x.to_json() for x in coming if x.active(now)],
        "scheduled": [x.to_json() for x in coming if not x.active(now)],
        "history": [notice_of(row).to_json() for row in history],
    })


async def publish(request: web.Request) -> web.Response:
    agent = await require_centre(request, ErrorCode.NOTICES_CENTRE_ONLY)
    values = await _values(await read_body(request, NoticeInput), request)
    now = utcnow()
    values.update(id=uuid.uuid4(), created_by=agent.id, created_at=now, ended_at=None,
                  ended_by=None)
    async with request.app[DATABASE].write() as conn:
        await conn.execute(insert(n), values)
        notice = notice_of(values).to_json()
        await audit.record(conn, "notice.publish", agent_id=agent.id, subject=notice["id"],
                           detail={"channels": notice["channels"], "lanes": notice["lanes"]})
        rows = [new_row("events", {"type": EventType.NOTICE_PUBLISHED, "notice": notice,
                                   "by": {"id": str(agent.id), "name": agent.name}})]
        await write_rows(conn, rows)
    request.app[RELAY].notify(rows)
    request.app[NOTICES].invalidate()
    return web.json_response({"notice": notice}, status=201)


async def end(request: web.Request) -> web.Response:
    agent = await require_centre(request, ErrorCode.NOTICES_CENTRE_ONLY)
    try:
        notice_id = uuid.UUID(request.match_info["notice_id"])
    except ValueError as exc:
        raise NotFound(ErrorCode.NOTICE_NOT_FOUND) from exc
    now = utcnow()
    async with request.app[DATABASE].write() as conn:
        done = await conn.execute(update(n).where(n.c.id == notice_id, n.c.ended_at.is_(None))
                                  .values(ended_at=now, ended_by=agent.id))
        row = (await conn.execute(select(n).where(n.c.id == notice_id))).mappings().first()
        if row is None:
            raise NotFound(ErrorCode.NOTICE_NOT_FOUND)
        if done.rowcount != 1:
            raise Conflict(ErrorCode.NOTICE_ENDED)
        notice = notice_of(row).to_json()
        await audit.record(conn, "notice.end", agent_id=agent.id, subject=str(notice_id))
        rows = [new_row("events", {"type": EventType.NOTICE_ENDED, "notice": notice,
                                   "by": {"id": str(agent.id), "name": agent.name}})]
        await write_rows(conn, rows)
    request.app[RELAY].notify(rows)
    request.app[NOTICES].invalidate()
    return web.json_response({"notice": notice})


async def _values(body: NoticeInput, request: web.Request) -> dict[str, Any]:
    texts = {lang: _text(text, f"text_{lang}")
             for lang, text in (("fi", body.text_fi), ("en", body.text_en))}
    # Optional: without it, Swedish-speaking passengers are given the Finnish text.
    text_sv = _text(body.text_sv, "text_sv") if body.text_sv and body.text_sv.strip() else None
    channels = {c.value for c in body.channels}
    lanes = set(body.lanes or ())
    if lanes:
        async with request.app[DATABASE].read() as conn:
            found = set((await conn.execute(select(schema.lanes.c.key).where(
                schema.lanes.c.key.in_(lanes)))).scalars())
        if missing := sorted(lanes - found):
            raise BadInput(ErrorCode.LANES_UNKNOWN.of(lanes=", ".join(missing)),
                           {"lanes": "unknown"})
    if body.announcement_only and Channel.PHONE.value not in channels:
        raise BadInput(ErrorCode.ANNOUNCEMENT_ONLY_NEEDS_PHONE,
                       {"announcement_only": "needs_phone"})
    now = utcnow()
    valid_from = _time(body.valid_from, "valid_from") or now
    valid_until = _time(body.valid_until, "valid_until")
    if valid_until is not None and valid_until <= valid_from:
        raise BadInput(ErrorCode.NOTICE_ENDS_BEFORE_START, {"valid_until": "invalid"})
    if (valid_until or valid_from + MAX_DURATION) - valid_from > MAX_DURATION:
        raise BadInput(ErrorCode.NOTICE_TOO_LONG,
                       {"valid_until": "too_long"})
    return {"text_fi": texts["fi"], "text_en": texts["en"], "text_sv": text_sv,
            "channels": sorted(channels), "lanes": sorted(lanes),
            "announcement_only": body.announcement_only,
            "valid_from": valid_from, "valid_until": valid_until}


def _text(value: str, name: str) -> str:
    value = value.strip()
    if not value:
        raise BadInput(ErrorCode.NOTICE_TEXT_REQUIRED.of(field=name),
                       {name: "required"})
    if len(value) > MAX_TEXT_CHARS or not is_storable(value):
        raise BadInput(ErrorCode.NOTICE_TEXT_INVALID.of(field=name, max=MAX_TEXT_CHARS),
                       {name: "invalid"})
    return value


def _time(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise BadInput(ErrorCode.TIME_INVALID.of(field=name),
                       {name: "invalid"}) from exc
    if parsed.tzinfo is None:
        raise BadInput(ErrorCode.TIME_NEEDS_OFFSET.of(field=name),
                       {name: "invalid"})
    return parsed


def routes() -> list[web.RouteDef]:
    return [
        web.get("/api/v1/notices", list_notices),
        web.post("/api/v1/notices", publish),
        web.post("/api/v1/notices/{notice_id}/end", end),
    ]
