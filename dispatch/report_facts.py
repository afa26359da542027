"""The facts a report is made of: one narrow row per request started in a period, read
page by page in case-start order (each page its own short read, nothing held between).

The range and the order, (`case_started_at`, `id`), are served by `ix_contact_requests_started`
(migration 0014), so each page starts where the last ended instead of sorting the rest;
whether a call of the request was ever answered by `ix_calls_request`.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, case, exists, false, select, tuple_

from hub import schema
from hub.database import Database

PAGE = 5000  # rows a read holds: small enough to keep a read short, large enough to be few

r = schema.contact_requests
last = schema.agents.alias("last")
calls = schema.calls


@dataclass(frozen=True, slots=True)
class RequestFacts:
    """What the reports read of one request: no passenger's personal data."""

    id: uuid.UUID
    reference: str
    channel: str
    lane: str
    status: str
    case_started_at: datetime
    queued_at: datetime | None
    service_started_at: datetime | None
    first_response_at: datetime | None
    ended_at: datetime | None
    last_agent_id: uuid.UUID | None
    last_agent_name: str | None
    missed_calls: int
    call_answered: bool  # a call of the request (in or out) was answered
    callback_due_at: datetime | None
    callback_called_at: datetime | None
    callback_done_at: datetime | None


def _query(start: datetime, end: datetime, after: tuple[datetime, uuid.UUID] | None,
           limit: int) -> Select[Any]:
    # Asked only of a request with a missed call: no other needs it.
    answered = case((r.c.missed_calls > 0, exists().where(
        calls.c.request_id == r.c.id, calls.c.answered_at.is_not(None))), else_=false())
    where = [r.c.case_started_at >= start, r.c.case_started_at < end]
    if after is not None:
        at, request_id = after
        where.append(tuple_(r.c.case_started_at, r.c.id) > tuple_(at, request_id))
    return (
        select(r.c.id, r.c.reference, r.c.channel, r.c.lane, r.c.status, r.c.case_started_at,
               r.c.queued_at, r.c.service_started_at, r.c.first_response_at, r.c.ended_at,
               r.c.last_agent_id, last.c.name, r.c.missed_calls, answered.label("answered"),
               r.c.callback_due_at, r.c.callback_called_at, r.c.callback_done_at)
        .outerjoin(last, last.c.id == r.c.last_agent_id)
        .where(*where)
        .order_by(r.c.case_started_at, r.c.id)
        .limit(limit)
    )


async def request_pages(database: Database, start: datetime, end: datetime,
                        page: int = PAGE) -> AsyncIterator[list[RequestFacts]]:
    """Pages of the requests whose case started in [start, end), oldest first."""
    after: tuple[datetime, uuid.UUID] | None = None
    while True:
        async with database.read() as conn:
            rows = (await conn.execute(_query(start, end, after, page))).all()
        found = [RequestFacts(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7],
                              row[8], row[9], row[10], row[11], int(row[12] or 0),
                              bool(row[13]), row[14], row[15], row[16]) for row in rows]
        if found:
            yield found
        if len(found) < page:
            return
        after = (found[-1].case_started_at, found[-1].id)


@dataclass(frozen=True, slots=True)
class LaneFacts:
    target_wait_s: int  # the lane's service-level threshold
    name_fi: str
    name_en: str


async def lane_facts(database: Database) -> dict[str, LaneFacts]:
    """The configured lanes by key."""
    lanes = schema.lanes
    async with database.read() as conn:
        rows = await conn.execute(
            select(lanes.c.key, lanes.c.target_wait_s, lanes.c.name_fi, lanes.c.name_en))
        return {key: LaneFacts(int(target), fi, en) for key, target, fi, en in rows}
