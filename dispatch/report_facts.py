"""The facts a report is made of: one narrow row per request started in a period, read
page by page in case-start order (each page its own short read, nothing held between).

The range and the order, (`case_started_at`, `number`), are served by
`ix_contact_requests_started` (migration 0014), so each page starts where the last ended
instead of sorting the rest; whether a call of the request was ever answered, by
`ix_calls_request`.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Select, String, case, exists, false, select, tuple_, type_coerce

from hub import schema
from hub.database import Database

PAGE = 5000  # rows a read holds: small enough to keep a read short, large enough to be few

r = schema.contact_requests
last = schema.agents.alias("last")
calls = schema.calls


@dataclass(frozen=True, slots=True)
class RequestFacts:
    """What the reports read of one request: no passenger's personal data."""

    number: int  # the request's own sequence number: the order among equal start times
    reference: str
    channel: str
    lane: str
    status: str
    case_started_at: datetime
    queued_at: datetime | None
    service_started_at: datetime | None
    first_response_at: datetime | None
    ended_at: datetime | None
    last_agent_id: str | None  # the agent's id as text
    last_agent_name: str | None
    missed_calls: int
    call_answered: bool  # a call of the request (in or out) was answered
    callback_due_at: datetime | None
    callback_called_at: datetime | None
    callback_done_at: datetime | None


def _query(start: datetime, end: datetime, after: tuple[datetime, int] | None,
           limit: int) -> Select[Any]:
    # Asked only of a request with a missed call: no other needs it.
    answered = case((r.c.missed_calls > 0, exists().where(
        calls.c.request_id == r.c.id, calls.c.answered_at.is_not(None))), else_=false())
    if after is None:
        where = [r.c.case_started_at >= start, r.c.case_started_at < end]
    else:
        # The plain lower bound is what the index seeks to; the row value then skips the
        # few rows of that same instant already read.
        at, number = after
        where = [r.c.case_started_at >= at, r.c.case_started_at < end,
                 tuple_(r.c.case_started_at, r.c.number) > tuple_(at, number)]
    return (
        select(r.c.number, r.c.reference, r.c.channel, r.c.lane, r.c.status, r.c.case_started_at,
               r.c.queued_at, r.c.service_started_at, r.c.first_response_at, r.c.ended_at,
               type_coerce(r.c.last_agent_id, String), last.c.name, r.c.missed_calls,
               answered.label("answered"),
               r.c.callback_due_at, r.c.callback_called_at, r.c.callback_done_at)
        .outerjoin(last, last.c.id == r.c.last_agent_id)
        .where(*where)
        .order_by(r.c.case_started_at, r.c.number)
        .limit(limit)
    )


@cache
def _agent_key(raw: object) -> str:
    return str(uuid.UUID(str(raw)))


def agent_key(raw: object) -> str | None:
    """An agent id read without the column's type (SQLite's hex, asyncpg's UUID) as the
    API writes it: a few agents make every row's, so each is converted once."""
    return None if raw is None else _agent_key(raw)


async def request_pages(database: Database, start: datetime, end: datetime,
                        page: int = PAGE) -> AsyncIterator[list[RequestFacts]]:
    """Pages of the requests whose case started in [start, end), oldest first."""
    after: tuple[datetime, int] | None = None
    while True:
        async with database.read() as conn:
            rows = (await conn.execute(_query(start, end, after, page))).all()
        found = [RequestFacts(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7],
                              row[8], row[9], agent_key(row[10]), row[11], int(row[12] or 0),
                              bool(row[13]), row[14], row[15], row[16]) for row in rows]
        if found:
            yield found
        if len(found) < page:
            return
        after = (found[-1].case_started_at, found[-1].number)


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
