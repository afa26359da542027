"""A chat visitor's conversation as stored: the lines they wrote and the replies addressed to
them, read from the database (the one durable history; the live fan-out only wakes sockets).

A line belongs to a visitor by its own key, never by the passenger record alone: an inbound
message by its idempotency key `chat:<visitor>:<client id>`, a reply by its recipient. A
passenger known under several browsers (or a phone number typed into two of them) therefore
never sees another browser's conversation.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from hub import schema
from hub.database import Database
from hub.json_types import JsonObject
from hub.model import OPEN_STATUSES, Channel

m = schema.messages
r = schema.contact_requests
i = schema.contact_identities
d = schema.deliveries
author = schema.agents.alias("author")

HISTORY_MAX = 200  # lines a reconnecting widget gets at most
SCAN_MAX = 1000  # rows read to find them, other browsers' lines of the same passenger included

Position = tuple[datetime, uuid.UUID]


def message_key(visitor: str, client_id: str) -> str:
    return f"chat:{visitor}:{client_id}"


@dataclass(frozen=True, slots=True)
class Line:
    """One message of the conversation, as the widget shows it."""

    id: uuid.UUID
    request_id: uuid.UUID
    at: datetime
    author: str  # "passenger" or "dispatcher"
    text: str
    agent: str | None = None
    client_id: str | None = None

    @property
    def position(self) -> Position:
        return (self.at, self.id)

    def json(self) -> JsonObject:
        return {"id": str(self.id), "at": self.at.isoformat(), "from": self.author,
                "text": self.text, "agent": self.agent, "client_id": self.client_id}


class Conversations:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def lines(self, visitor: str, *, since: datetime | None = None,
                    limit: int = HISTORY_MAX) -> list[Line]:
        """The visitor's newest `limit` lines at or after `since`, oldest first."""
        async with self._db.read() as conn:
            contact = await _contact(conn, visitor)
            if contact is None:
                return []
            query = (
                select(m.c.id, m.c.request_id, m.c.created_at, m.c.direction, m.c.body,
                       m.c.idempotency_key, m.c.details, author.c.name)
                .join(r, r.c.id == m.c.request_id)
                .outerjoin(author, author.c.id == m.c.agent_id)
                .where(r.c.contact_id == contact, m.c.channel == Channel.CHAT.value)
                .order_by(m.c.created_at.desc(), m.c.id.desc()).limit(SCAN_MAX)
            )
            if since is not None:
                query = query.where(m.c.created_at >= since)
            rows = (await conn.execute(query)).all()
        found = [line for row in rows if (line := _line(row, visitor)) is not None]
        return list(reversed(found[:limit]))

    async def position(self, visitor: str, message_id: uuid.UUID) -> Position | None:
        """Where a line of this visitor stands; None for anyone else's message."""
        async with self._db.read() as conn:
            row = (await conn.execute(
                select(m.c.id, m.c.request_id, m.c.created_at, m.c.direction, m.c.body,
                       m.c.idempotency_key, m.c.details, m.c.agent_id)
                .where(m.c.id == message_id, m.c.channel == Channel.CHAT.value)
            )).first()
        line = _line(row, visitor) if row is not None else None
        return line.position if line is not None else None

    async def stored(self, visitor: str, client_id: str) -> Position | None:
        """Where the message stored under this client id stands, if it is stored."""
        async with self._db.read() as conn:
            row = (await conn.execute(select(m.c.created_at, m.c.id).where(
                m.c.channel == Channel.CHAT.value,
                m.c.idempotency_key == message_key(visitor, client_id)))).first()
        return (row[0], row[1]) if row is not None else None

    async def contact(self, visitor: str) -> uuid.UUID | None:
        async with self._db.read() as conn:
            return await _contact(conn, visitor)

    async def owner(self, kind: str, value: str) -> uuid.UUID | None:
        """The passenger an identity (phone, email) belongs to."""
        async with self._db.read() as conn:
            found: uuid.UUID | None = await conn.scalar(
                select(i.c.contact_id).where(i.c.kind == kind, i.c.value == value))
        return found

    async def open_request(self, visitor: str) -> uuid.UUID | None:
        """The open request the visitor last wrote in."""
        async with self._db.read() as conn:
            contact = await _contact(conn, visitor)
            if contact is None:
                return None
            rows = await conn.execute(
                select(m.c.request_id, m.c.idempotency_key, r.c.status)
                .join(r, r.c.id == m.c.request_id)
                .where(r.c.contact_id == contact, m.c.channel == Channel.CHAT.value,
                       m.c.direction == "inbound")
                .order_by(m.c.created_at.desc()).limit(50))
            for request_id, key, status in rows:
                if str(key).startswith(message_key(visitor, "")):
                    return request_id if status in {s.value for s in OPEN_STATUSES} else None
        return None

    async def visitors_of(self, request_id: uuid.UUID) -> list[str]:
        """Chat visitors who wrote in a request (the ones a dispatcher's typing reaches)."""
        async with self._db.read() as conn:
            keys = (await conn.execute(
                select(m.c.idempotency_key).where(
                    m.c.request_id == request_id, m.c.channel == Channel.CHAT.value,
                    m.c.direction == "inbound"))).scalars()
            return sorted({key.split(":")[1] for key in keys if key and key.count(":") >= 2})

    async def assignment(self, request_id: uuid.UUID) -> tuple[bool, uuid.UUID | None]:
        """(whether the request exists, the agent it is assigned to)."""
        async with self._db.read() as conn:
            row = (await conn.execute(select(r.c.assigned_agent_id)
                                      .where(r.c.id == request_id))).first()
        return (row is not None, row[0] if row is not None else None)

    async def delivery(self, visitor: str, message_id: uuid.UUID,
                       adapter: str) -> tuple[uuid.UUID, str] | None:
        """The delivery of a reply to this visitor: (its id, its state)."""
        async with self._db.read() as conn:
            row = (await conn.execute(
                select(d.c.id, d.c.state).where(d.c.message_id == message_id,
                                                d.c.recipient == visitor,
                                                d.c.adapter == adapter))).first()
        return (row[0], row[1]) if row is not None else None

    async def delivery_state(self, delivery_id: uuid.UUID) -> str | None:
        async with self._db.read() as conn:
            state: str | None = await conn.scalar(select(d.c.state)
                                                  .where(d.c.id == delivery_id))
        return state


async def _contact(conn: AsyncConnection, visitor: str) -> uuid.UUID | None:
    found: uuid.UUID | None = await conn.scalar(
        select(i.c.contact_id).where(i.c.kind == "chat", i.c.value == visitor))
    return found


def _line(row: Any, visitor: str) -> Line | None:
    message_id, request_id, at, direction, body, key, details, agent = row
    if direction == "inbound":
        prefix = message_key(visitor, "")
        if not (key or "").startswith(prefix):
            return None
        return Line(message_id, request_id, at, "passenger", body, client_id=key[len(prefix):])
    if (details or {}).get("to") != visitor:
        return None
    return Line(message_id, request_id, at, "dispatcher", body,
                agent=agent if isinstance(agent, str) else None)
