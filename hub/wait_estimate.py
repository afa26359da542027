"""The estimated wait a passenger is told: how long the lane's recent requests waited in the
queue before a dispatcher took them (claim or first answer), as a median, over the requests
taken in the last `WINDOW`. The ones still waiting count with the time they have waited so
far, so that a queue nobody is taking does not promise a short wait."""

from __future__ import annotations

import statistics
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from hub import catalogue, schema
from hub.model import RequestStatus

WINDOW = timedelta(hours=2)
SAMPLE = 50  # the newest this many taken requests, and the longest this many waiting

r = schema.contact_requests


async def estimated_wait(conn: AsyncConnection, lane: str, now: datetime) -> timedelta | None:
    """None when the lane has no recent history to go by."""
    taken = (await conn.execute(
        select(r.c.queued_at, r.c.service_started_at)
        .where(r.c.lane == lane, r.c.service_started_at >= now - WINDOW,
               r.c.queued_at.is_not(None))
        .order_by(r.c.service_started_at.desc()).limit(SAMPLE)
    )).all()
    waiting = (await conn.execute(  # the longest waiting say the most
        select(r.c.queued_at).where(r.c.lane == lane,
                                    r.c.status == RequestStatus.QUEUED.value,
                                    r.c.queued_at.is_not(None),
                                    r.c.queued_at >= now - WINDOW)
        .order_by(r.c.queued_at).limit(SAMPLE)
    )).scalars().all()
    samples = [max(0.0, (row.service_started_at - row.queued_at).total_seconds())
               for row in taken]
    samples += [max(0.0, (now - queued).total_seconds()) for queued in waiting]
    if not taken:
        return None
    return timedelta(seconds=statistics.median(samples))


def format_wait(wait: timedelta | None, language: str) -> str | None:
    """"noin 5 min" / "cirka 5 min" / "about 5 min"; rounded up to whole minutes, hours past
    90 min. None when there is no estimate: the answer leaves its sentence out
    (render_template)."""
    if wait is None:
        return None
    language = catalogue.supported(language)
    minutes = -(-int(wait.total_seconds()) // 60)
    if minutes <= 1:
        return catalogue.text(language, "answer.wait_under_minute")
    if minutes <= 90:
        return catalogue.text(language, "answer.wait_minutes", n=minutes)
    return catalogue.text(language, "answer.wait_hours", n=round(minutes / 60))
