"""Automatic answer templates over HTTP, for admins: list, add, replace and delete the texts of
`hub.answer_templates` (every change in the audit trail, by kind, lane and language, never the
text). One template per kind, lane and language: a second is refused with 409 naming the one
there is. Team and external users get 403; every write comes from the hub's own origin
(`hub.agent_auth.current_agent`).
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from aiohttp import web
from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub import audit, schema
from hub.agent_auth import require_admin
from hub.answer_templates import (
    DEFAULTS,
    FILLED,
    KINDS,
    LANGUAGES,
    PLACEHOLDERS,
    TemplateFields,
    clean_fields,
)
from hub.appkeys import ANSWERS, DATABASE
from hub.clock import utcnow
from hub.error_codes import ErrorCode
from hub.errors import BadInput, Conflict, NotFound
from hub.request_body import read_json_object

log = logging.getLogger(__name__)

BASE = "/api/v1/admin/answer-templates"
# Taken for the duplicate check on PostgreSQL: the table has no unique key (a NULL lane would
# slip past one anyway). SQLite's BEGIN IMMEDIATE serialises writers already.
WRITE_LOCK_ID = 0x7A71C1

at = schema.answer_templates
editor = schema.agents.alias("editor")


def _template_id(request: web.Request) -> uuid.UUID:
    try:
        return uuid.UUID(request.match_info["template_id"])
    except ValueError as exc:
        raise NotFound(ErrorCode.TEMPLATE_NOT_FOUND) from exc


def _json(row: Any) -> dict[str, Any]:
    return {
        "id": str(row.id), "kind": row.kind, "lane": row.lane, "language": row.language,
        "body": row.body,
        "updated_by": ({"id": str(row.updated_by), "name": row.editor_name}
                       if row.updated_by else None),
        "updated_at": row.updated_at.isoformat(),
    }


def _query() -> Any:
    return (select(at, editor.c.name.label("editor_name"))
            .outerjoin(editor, editor.c.id == at.c.updated_by)
            .order_by(at.c.kind, at.c.lane.is_not(None), at.c.lane, at.c.language, at.c.id))


async def _get(conn: AsyncConnection, template_id: uuid.UUID) -> dict[str, Any] | None:
    row = (await conn.execute(_query().where(at.c.id == template_id))).first()
    return _json(row) if row else None


async def _check(conn: AsyncConnection, fields: TemplateFields,
                 template_id: uuid.UUID | None) -> None:
    """The lane exists, and no other template has this kind, lane and language."""
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": WRITE_LOCK_ID})
    if fields.lane is not None and await conn.scalar(
            select(schema.lanes.c.key).where(schema.lanes.c.key == fields.lane)) is None:
        raise BadInput(ErrorCode.LANE_UNKNOWN_CHOOSE.of(lane=fields.lane), {"lane": "unknown"})
    same = select(at.c.id).where(
        at.c.kind == fields.kind, at.c.language == fields.language,
        at.c.lane == fields.lane if fields.lane is not None else at.c.lane.is_(None))
    if template_id is not None:
        same = same.where(at.c.id != template_id)
    existing = await conn.scalar(same.limit(1))
    if existing is not None:
        why = (ErrorCode.TEMPLATE_EXISTS.of(lane=fields.lane, kind=fields.kind,
                                            language=fields.language) if fields.lane
               else ErrorCode.TEMPLATE_EXISTS_EVERY_LANE.of(kind=fields.kind,
                                                            language=fields.language))
        raise Conflict(why, {"existing": str(existing)})


def _detail(fields: TemplateFields) -> dict[str, Any]:
    # Which template it was; the text stays out of the audit trail.
    return {"kind": fields.kind, "lane": fields.lane, "language": fields.language}


async def list_templates(request: web.Request) -> web.Response:
    """The templates, with what an admin needs to write one: the placeholders each kind
    fills and the built-in texts used where there is none."""
    await require_admin(request)
    async with request.app[DATABASE].read() as conn:
        rows = (await conn.execute(_query())).all()
    return web.json_response({
        "answer_templates": [_json(row) for row in rows],
        "kinds": list(KINDS), "languages": list(LANGUAGES),
        "placeholders": list(PLACEHOLDERS),
        "filled": {kind: list(names) for kind, names in FILLED.items()},
        "defaults": {kind: {lang: DEFAULTS[(kind, lang)] for lang in LANGUAGES}
                     for kind in KINDS},
    })


async def add_template(request: web.Request) -> web.Response:
    admin = await require_admin(request)
    fields = clean_fields(await read_json_object(request))
    template_id = uuid.uuid4()
    async with request.app[DATABASE].write() as conn:
        await _check(conn, fields, None)
        await conn.execute(insert(at), {
            "id": template_id, "kind": fields.kind, "lane": fields.lane,
            "language": fields.language, "body": fields.body, "updated_by": admin.id,
            "updated_at": utcnow()})
        await audit.record(conn, "answer_template.add", agent_id=admin.id,
                           subject=str(template_id), detail=_detail(fields))
        added = await _get(conn, template_id)
    log.info("answer template %s added by %s", template_id, admin.id)
    request.app[ANSWERS].invalidate()
    return web.json_response({"answer_template": added}, status=201)


async def change_template(request: web.Request) -> web.Response:
    """Replace a template's kind, lane, language and text."""
    admin = await require_admin(request)
    template_id = _template_id(request)
    fields = clean_fields(await read_json_object(request))
    async with request.app[DATABASE].write() as conn:
        before = await _get(conn, template_id)
        if before is None:
            raise NotFound(ErrorCode.TEMPLATE_NOT_FOUND)
        await _check(conn, fields, template_id)
        values = {"kind": fields.kind, "lane": fields.lane, "language": fields.language,
                  "body": fields.body}
        changed = sorted(name for name, value in values.items() if before[name] != value)
        await conn.execute(update(at).where(at.c.id == template_id).values(
            **values, updated_by=admin.id, updated_at=utcnow()))
        await audit.record(conn, "answer_template.change", agent_id=admin.id,
                           subject=str(template_id),
                           detail={**_detail(fields), "changed": changed})
        after = await _get(conn, template_id)
    request.app[ANSWERS].invalidate()
    return web.json_response({"answer_template": after})


async def delete_template(request: web.Request) -> web.Response:
    admin = await require_admin(request)
    template_id = _template_id(request)
    async with request.app[DATABASE].write() as conn:
        before = await _get(conn, template_id)
        if before is None:
            raise NotFound(ErrorCode.TEMPLATE_NOT_FOUND)
        await conn.execute(delete(at).where(at.c.id == template_id))
        await audit.record(conn, "answer_template.delete", agent_id=admin.id,
                           subject=str(template_id),
                           detail={name: before[name] for name in ("kind", "lane", "language")})
    log.info("answer template %s deleted by %s", template_id, admin.id)
    request.app[ANSWERS].invalidate()
    return web.json_response({"deleted": str(template_id)})


def routes() -> list[web.RouteDef]:
    # Any segment is routed here, so that a malformed id is answered after the session check,
    # in JSON (as dispatch.canned_api does).
    one = BASE + "/{template_id:[^/]+}"
    return [
        web.get(BASE, list_templates),
        web.post(BASE, add_template),
        web.put(one, change_template),
        web.delete(one, delete_template),
    ]
