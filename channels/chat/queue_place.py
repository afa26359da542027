"""Where a chat passenger's request is in its lane's queue, and the estimated wait: told to
the widget while the request waits, updated as the queue moves."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import and_, func, or_, select

from hub import schema
from hub.clock import utcnow
from hub.database import Database
from hub.model import RequestStatus
from hub.wait_estimate import estimated_wait

r = schema.contact_requests


async def queue_place(db: Database, request_id: uuid.UUID) -> dict[str, Any]:
    """`{"position": n, "wait_s": s | None}` while the request waits unclaimed, else
    `{"position": None}` (a dispatcher has it, or it is closed)."""
    async with db.read() as conn:
        found = (await conn.execute(
            select(r.c.status, r.c.lane, r.c.priority, r.c.queued_at)
            .where(r.c.id == request_id))).first()
        if found is None or found.status != RequestStatus.QUEUED.value \
                or found.queued_at is None:
            return {"position": None}
        ahead = await conn.scalar(select(func.count()).where(
            r.c.lane == found.lane, r.c.status == RequestStatus.QUEUED.value, r.c.id != request_id,
            or_(r.c.priority > found.priority,
                and_(r.c.priority == found.priority, r.c.queued_at < found.queued_at))))
        wait = await estimated_wait(conn, found.lane, utcnow())
    return {"position": int(ahead or 0) + 1,
            "wait_s": round(wait.total_seconds()) if wait is not None else None}
