"""One timeline across every request and channel of a passenger, newest first, by cursor.

A page is five statements whatever its size: the newest messages, calls and handling events
before the cursor (each at most one more than the page), then the deliveries of those
messages and the recordings of those calls. The three kinds are merged by (time, id), a
total order every backend sorts alike (a uuid compares by its bytes on PostgreSQL, by its
hex on SQLite, by its integer in Python), so a page boundary never skips or repeats an item.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncConnection

from hub import schema
from hub.model import Direction, HandlingAction
from hub.read_json import RecordingJson
from hub.read_models import call_json, deliveries_of, recording_json

r = schema.contact_requests
m = schema.messages
k = schema.calls
h = schema.handling_events
author = schema.agents.alias("timeline_author")
target = schema.agents.alias("timeline_target")

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# A call row has its own request_id: the request's other columns are named apart.
REQUEST_NAMED = (r.c.reference, r.c.channel.label("request_channel"),
                 r.c.status.label("request_status"))
REQUEST_COLUMNS = (r.c.id.label("request_id"), *REQUEST_NAMED)


@dataclass(frozen=True, slots=True, order=True)
class Cursor:
    """A place in the timeline: items strictly older than (at, id) come next."""

    at: datetime
    id: uuid.UUID

    def encode(self) -> str:
        micros = (self.at - EPOCH) // timedelta(microseconds=1)
        return f"{micros}.{self.id.hex}"

    @classmethod
    def parse(cls, text: str) -> Cursor:
        """A cursor from a previous page, or an ISO 8601 time (everything before it).
        ValueError when it is neither."""
        micros, dot, hex_id = text.partition(".")
        if dot and micros.isdigit() and len(hex_id) == 32:
            return cls(EPOCH + timedelta(microseconds=int(micros)), uuid.UUID(hex=hex_id))
        at = datetime.fromisoformat(text)
        if at.tzinfo is None:
            raise ValueError("a time needs its offset")
        return cls(at.astimezone(UTC), uuid.UUID(int=0))


@dataclass(frozen=True, slots=True)
class Page:
    items: list[dict[str, Any]]
    next_before: str | None  # the cursor of the next (older) page; None at the beginning


async def timeline(conn: AsyncConnection, contact_id: uuid.UUID, *,
                   before: Cursor | None = None, limit: int = DEFAULT_LIMIT) -> Page:
    """Messages (with their deliveries), calls (with their recordings) and handling events
    (notes and the rest, but a reply is its message) of all the passenger's requests."""
    fetch = limit + 1
    items = [
        *await _messages(conn, contact_id, before, fetch),
        *await _calls(conn, contact_id, before, fetch),
        *await _events(conn, contact_id, before, fetch),
    ]
    items.sort(key=lambda item: item[0], reverse=True)
    page = items[:limit]
    more = len(items) > limit
    return Page([item for _, item in page],
                page[-1][0].encode() if more and page else None)


def _before(at: Any, id_: Any, cursor: Cursor | None) -> ColumnElement[bool]:
    if cursor is None:
        return true()
    return or_(at < cursor.at, and_(at == cursor.at, id_ < cursor.id))


def _request(row: Any) -> dict[str, Any]:
    return {"id": str(row.request_id), "reference": row.reference,
            "channel": row.request_channel, "status": row.request_status}


def _agent(agent_id: uuid.UUID | None, name: str | None) -> dict[str, str] | None:
    return {"id": str(agent_id), "name": name or ""} if agent_id is not None else None


def _item(kind: str, row: Any, at: datetime, channel: str,
          body: dict[str, Any]) -> tuple[Cursor, dict[str, Any]]:
    return Cursor(at, row.id), {"kind": kind, "id": str(row.id), "at": at.isoformat(),
                                "channel": channel, "request": _request(row), kind: body}


async def _messages(conn: AsyncConnection, contact_id: uuid.UUID, before: Cursor | None,
                    fetch: int) -> list[tuple[Cursor, dict[str, Any]]]:
    # A call's own contact message ("Incoming call") is the call, shown as such.
    is_call = exists().where(k.c.message_id == m.c.id)
    rows = (await conn.execute(
        select(m.c.id, m.c.channel, m.c.direction, m.c.subject, m.c.body, m.c.details,
               m.c.created_at, m.c.agent_id, author.c.name.label("agent_name"),
               *REQUEST_COLUMNS)
        .join(r, r.c.id == m.c.request_id)
        .outerjoin(author, author.c.id == m.c.agent_id)
        .where(r.c.contact_id == contact_id, ~is_call,
               _before(m.c.created_at, m.c.id, before))
        .order_by(m.c.created_at.desc(), m.c.id.desc()).limit(fetch)
    )).all()
    deliveries = await deliveries_of(
        conn, [row.id for row in rows if row.direction == Direction.OUTBOUND.value])
    return [_item("message", row, row.created_at, row.channel, {
        "direction": row.direction, "subject": row.subject, "body": row.body,
        "details": row.details, "agent": _agent(row.agent_id, row.agent_name),
        "deliveries": deliveries.get(str(row.id), []),
    }) for row in rows]


async def _calls(conn: AsyncConnection, contact_id: uuid.UUID, before: Cursor | None,
                 fetch: int) -> list[tuple[Cursor, dict[str, Any]]]:
    rows = (await conn.execute(
        select(k, author.c.name.label("agent_name"), *REQUEST_NAMED)
        .join(r, r.c.id == k.c.request_id)
        .outerjoin(author, author.c.id == k.c.agent_id)
        .where(r.c.contact_id == contact_id, _before(k.c.started_at, k.c.id, before))
        .order_by(k.c.started_at.desc(), k.c.id.desc()).limit(fetch)
    )).mappings().all()
    recordings = await _recordings(conn, [row["id"] for row in rows])
    found = []
    for row in rows:
        call = {**call_json(row), "recordings": recordings.get(str(row["id"]), [])}
        found.append((Cursor(row["started_at"], row["id"]), {
            "kind": "call", "id": call["id"], "at": call["started_at"], "channel": "phone",
            "request": {"id": str(row["request_id"]), "reference": row["reference"],
                        "channel": row["request_channel"], "status": row["request_status"]},
            "call": call}))
    return found


async def _recordings(conn: AsyncConnection,
                      call_ids: Sequence[uuid.UUID]) -> dict[str, list[RecordingJson]]:
    if not call_ids:
        return {}
    rec, listens = schema.recordings, schema.recording_listens
    count = (select(func.count()).where(listens.c.recording_id == rec.c.id)
             .scalar_subquery().label("listens"))
    rows = (await conn.execute(
        select(rec, count).where(rec.c.call_id.in_(list(call_ids)))
        .order_by(rec.c.created_at, rec.c.id)
    )).mappings().all()
    found: dict[str, list[RecordingJson]] = {}
    for row in rows:
        found.setdefault(str(row["call_id"]), []).append(recording_json(row))
    return found


async def _events(conn: AsyncConnection, contact_id: uuid.UUID, before: Cursor | None,
                  fetch: int) -> list[tuple[Cursor, dict[str, Any]]]:
    rows = (await conn.execute(
        select(h.c.id, h.c.action, h.c.at, h.c.note, h.c.agent_id,
               author.c.name.label("agent_name"), h.c.target_agent_id,
               target.c.name.label("target_name"), *REQUEST_COLUMNS)
        .join(r, r.c.id == h.c.request_id)
        .join(author, author.c.id == h.c.agent_id)
        .outerjoin(target, target.c.id == h.c.target_agent_id)
        .where(r.c.contact_id == contact_id, h.c.action != HandlingAction.REPLY.value,
               _before(h.c.at, h.c.id, before))
        .order_by(h.c.at.desc(), h.c.id.desc()).limit(fetch)
    )).all()
    return [_item("event", row, row.at, row.request_channel, {
        "action": row.action, "note": row.note,
        "agent": _agent(row.agent_id, row.agent_name),
        "target_agent": _agent(row.target_agent_id, row.target_name),
    }) for row in rows]
