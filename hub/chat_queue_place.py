"""Where a chat passenger's request is in its lane's queue, and the estimated wait: told to
the widget while the request waits, updated as the queue moves."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import and_, func, or_, select

from hub import schema
from hub.clock import utcnow
from hub.database import Database
from hub.model import RequestStatus
from hub.wait_estimate import estimated_wait

r = schema.contact_requests


@dataclass(frozen=True, slots=True)
class QueuePlace:
    """`position` (1: next) while the request waits unclaimed, with the estimated wait in
    seconds when there is one; `position` None once a dispatcher has it or it is closed."""

    position: int | None
    wait_s: int | None = None


async def queue_place(db: Database, request_id: uuid.UUID) -> QueuePlace:
    async with db.read() as conn:
        found = (await conn.execute(
            select(r.c.status, r.c.lane, r.c.priority, r.c.queued_at)
            .where(r.c.id == request_id))).first()
        if found is None or found.status != RequestStatus.QUEUED.value \
                or found.queued_at is None:
            return QueuePlace(None)
        ahead = await conn.scalar(select(func.count()).where(
            r.c.lane == found.lane, r.c.status == RequestStatus.QUEUED.value, r.c.id != request_id,
            or_(r.c.priority > found.priority,
                and_(r.c.priority == found.priority, r.c.queued_at < found.queued_at))))
        wait = await estimated_wait(conn, found.lane, utcnow())
    return QueuePlace(int(ahead or 0) + 1,
                      round(wait.total_seconds()) if wait is not None else None)
