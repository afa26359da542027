"""Canned replies in the database: listed for dispatchers, managed by admins (each change in
the audit trail, without the text itself), and rendered for one request."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatch.canned import CannedFields, render
from hub import audit, schema
from hub.clock import utcnow
from hub.database import Database
from hub.error_codes import ErrorCode
from hub.errors import BadInput, NotFound
from hub.model import Agent

cr = schema.canned_replies
editor = schema.agents.alias("editor")


def _json(row: Any) -> dict[str, Any]:
    return {
        "id": str(row.id), "title": row.title, "language": row.language, "body": row.body,
        "lane": row.lane, "position": row.position,
        "updated_by": ({"id": str(row.updated_by), "name": row.editor_name}
                       if row.updated_by else None),
        "updated_at": row.updated_at.isoformat(),
    }


def _query() -> Any:
    return (select(cr, editor.c.name.label("editor_name"))
            .outerjoin(editor, editor.c.id == cr.c.updated_by)
            .order_by(cr.c.position, cr.c.title, cr.c.id))


async def list_replies(conn: AsyncConnection, *, lane: str | None = None,
                       language: str | None = None) -> list[dict[str, Any]]:
    """By position. With `lane`, that lane's replies and those for every lane."""
    query = _query()
    if lane is not None:
        query = query.where(or_(cr.c.lane.is_(None), cr.c.lane == lane))
    if language is not None:
        query = query.where(cr.c.language == language)
    return [_json(row) for row in await conn.execute(query)]


async def get_reply(conn: AsyncConnection, canned_id: uuid.UUID) -> dict[str, Any] | None:
    row = (await conn.execute(_query().where(cr.c.id == canned_id))).first()
    return _json(row) if row else None


async def _check_lane(conn: AsyncConnection, lane: str | None) -> None:
    if lane is None:
        return
    found = await conn.scalar(select(schema.lanes.c.key).where(schema.lanes.c.key == lane))
    if found is None:
        raise BadInput(ErrorCode.LANE_UNKNOWN_CHOOSE.of(lane=lane))


def _audit_detail(fields: CannedFields) -> dict[str, Any]:
    # The title says which reply it was; the text stays out of the audit trail.
    return {"title": fields.title, "language": fields.language, "lane": fields.lane}


async def add_reply(db: Database, fields: CannedFields, *,
                    by: Agent | None) -> dict[str, Any]:
    """`by` None: added by the hub itself (the demo data)."""
    canned_id = uuid.uuid4()
    by_id = by.id if by else None
    async with db.write() as conn:
        await _check_lane(conn, fields.lane)
        position = fields.position
        if position is None:
            position = (await conn.scalar(select(func.max(cr.c.position))) or 0) + 1
        await conn.execute(insert(cr), {
            "id": canned_id, "title": fields.title, "language": fields.language,
            "body": fields.body, "lane": fields.lane, "position": position,
            "updated_by": by_id, "updated_at": utcnow(),
        })
        await audit.record(conn, "canned.add", agent_id=by_id, subject=str(canned_id),
                           detail=_audit_detail(fields))
        found = await get_reply(conn, canned_id)
    assert found is not None
    return found


async def change_reply(db: Database, canned_id: uuid.UUID, fields: CannedFields, *,
                       by: Agent) -> dict[str, Any]:
    async with db.write() as conn:
        before = await get_reply(conn, canned_id)
        if before is None:
            raise NotFound(ErrorCode.CANNED_NOT_FOUND)
        await _check_lane(conn, fields.lane)
        values = {"title": fields.title, "language": fields.language, "body": fields.body,
                  "lane": fields.lane,
                  "position": before["position"] if fields.position is None
                  else fields.position}
        changed = sorted(k for k, v in values.items() if before[k] != v)
        await conn.execute(update(cr).where(cr.c.id == canned_id).values(
            **values, updated_by=by.id, updated_at=utcnow()))
        await audit.record(conn, "canned.change", agent_id=by.id, subject=str(canned_id),
                           detail={**_audit_detail(fields), "changed": changed})
        after = await get_reply(conn, canned_id)
    assert after is not None
    return after


async def delete_reply(db: Database, canned_id: uuid.UUID, *, by: Agent) -> None:
    async with db.write() as conn:
        before = await get_reply(conn, canned_id)
        if before is None:
            raise NotFound(ErrorCode.CANNED_NOT_FOUND)
        await conn.execute(delete(cr).where(cr.c.id == canned_id))
        await audit.record(conn, "canned.delete", agent_id=by.id, subject=str(canned_id),
                           detail={"title": before["title"], "language": before["language"],
                                   "lane": before["lane"]})


async def render_for(db: Database, canned_id: uuid.UUID, request_id: uuid.UUID, *,
                     agent: Agent, eta: str | None) -> dict[str, Any]:
    """The reply's text filled in for one request. NotFound for a request the agent may not
    see, as on every other request route."""
    r, c = schema.contact_requests, schema.contacts
    async with db.read() as conn:
        request = (await conn.execute(
            select(r.c.reference, r.c.assigned_agent_id, c.c.name)
            .join(c, c.c.id == r.c.contact_id).where(r.c.id == request_id))).first()
        canned = await get_reply(conn, canned_id)
    if request is None:
        raise NotFound(ErrorCode.REQUEST_NOT_FOUND)
    if canned is None:
        raise NotFound(ErrorCode.CANNED_NOT_FOUND)
    text = render(canned["body"], language=canned["language"], reference=request.reference,
                  name=request.name, eta=eta, agent=agent.name)
    return {"text": text, "canned_reply": canned["id"], "language": canned["language"]}
