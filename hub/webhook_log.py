"""The outbound webhooks' delivery log: one row per event and endpoint, with its attempts,
the receiver's last status and why the last attempt failed. Never a body or a URL.

Each call is one short transaction of its own: the deliverer never holds a connection while
it waits for a receiver or for Redis.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import msgspec
from sqlalchemy import Select, select, update
from sqlalchemy.dialects import postgresql, sqlite

from hub import schema
from hub.database import Database

w = schema.webhook_deliveries
r = schema.contact_requests


class WebhookState(StrEnum):
    PENDING = "pending"  # taken, not yet answered with a 2xx
    DELIVERED = "delivered"
    FAILED = "failed"  # refused, or out of attempts: not sent again


@dataclass(frozen=True, slots=True)
class Progress:
    state: WebhookState
    attempts: int


@dataclass(frozen=True, slots=True)
class Attempt:
    """What one attempt came to: the receiver's status if it answered, else why not."""

    at: datetime
    status: int | None
    error: str | None
    state: WebhookState
    next_at: datetime | None = None  # when the next attempt is due, if there is one


class DeliveryRow(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One event's delivery to one endpoint, as the admins' log shows it."""

    seq: int  # orders the log; `before=` continues after it
    endpoint: str
    event_id: str
    event_type: str
    request_id: str
    reference: str | None  # the request's, as dispatchers know it (null once it is purged)
    state: WebhookState
    attempts: int
    last_status: int | None  # the receiver's last HTTP status, if it answered
    last_error: str | None  # why the last attempt failed: "timeout", "http 503", …
    created_at: datetime
    last_attempt_at: datetime | None
    finished_at: datetime | None  # delivered or given up
    next_attempt_at: datetime | None  # while failing: when it is tried again


class DeliveryPage(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    deliveries: list[DeliveryRow]
    next_before: int | None  # null on the last page


class WebhookLog:
    def __init__(self, db: Database) -> None:
        self._db = db

    def __repr__(self) -> str:
        return f"<WebhookLog {self._db!r}>"

    async def start(self, endpoint: str, event_id: str, event_type: str, request_id: str,
                    at: datetime) -> Progress:
        """The event's row for `endpoint`, written on first sight; its state tells a retry
        (or a process taking over) whether it is still to be sent and how often it was."""
        async with self._db.write() as conn:
            dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
            await conn.execute(
                dialect.insert(w).values(
                    endpoint=endpoint, event_id=event_id, event_type=event_type,
                    request_id=uuid.UUID(request_id), state=WebhookState.PENDING.value,
                    attempts=0, created_at=at)
                .on_conflict_do_nothing(index_elements=["endpoint", "event_id"]))
            row = (await conn.execute(
                select(w.c.state, w.c.attempts)
                .where(w.c.endpoint == endpoint, w.c.event_id == event_id))).one()
        return Progress(WebhookState(row.state), row.attempts)

    async def record(self, endpoint: str, event_id: str, attempt: Attempt) -> None:
        finished = attempt.at if attempt.state is not WebhookState.PENDING else None
        async with self._db.write() as conn:
            await conn.execute(
                update(w).where(w.c.endpoint == endpoint, w.c.event_id == event_id)
                .values(attempts=w.c.attempts + 1, last_status=attempt.status,
                        last_error=attempt.error, last_attempt_at=attempt.at,
                        state=attempt.state.value, finished_at=finished,
                        next_attempt_at=attempt.next_at))

    async def page(self, *, limit: int, before: int | None = None,
                   endpoint: str | None = None, state: WebhookState | None = None,
                   event_type: str | None = None) -> DeliveryPage:
        """Newest first; `before` (a row's `seq`) continues after a page's last row."""
        query = _with_reference().order_by(w.c.id.desc()).limit(limit)
        if before is not None:
            query = query.where(w.c.id < before)
        if endpoint is not None:
            query = query.where(w.c.endpoint == endpoint)
        if state is not None:
            query = query.where(w.c.state == state.value)
        if event_type is not None:
            query = query.where(w.c.event_type == event_type)
        async with self._db.read() as conn:
            rows = [_row(row) for row in (await conn.execute(query)).mappings()]
        return DeliveryPage(deliveries=rows,
                            next_before=rows[-1].seq if len(rows) == limit else None)

    async def of_request(self, request_id: str, event_type: str, *,
                         limit: int = 20) -> list[DeliveryRow]:
        """One request's deliveries of one event type, newest first (a console shows
        whether its order reached the dispatch system)."""
        query = (_with_reference()
                 .where(w.c.request_id == uuid.UUID(request_id), w.c.event_type == event_type)
                 .order_by(w.c.id.desc()).limit(limit))
        async with self._db.read() as conn:
            return [_row(row) for row in (await conn.execute(query)).mappings()]


def _with_reference() -> Select[Any]:
    return select(w, r.c.reference).select_from(
        w.outerjoin(r, r.c.id == w.c.request_id))


def _row(row: Any) -> DeliveryRow:
    return DeliveryRow(
        seq=row["id"], endpoint=row["endpoint"], event_id=row["event_id"],
        event_type=row["event_type"], request_id=str(row["request_id"]),
        reference=row["reference"],
        state=WebhookState(row["state"]), attempts=row["attempts"],
        last_status=row["last_status"], last_error=row["last_error"],
        created_at=row["created_at"], last_attempt_at=row["last_attempt_at"],
        finished_at=row["finished_at"], next_attempt_at=row["next_attempt_at"])
