"""Does a report over a long period answer in seconds? Fills an empty database with a year of
requests (default 100,000; the issue's scale is 1,000,000) and times the report's whole read
and count (dispatch.report_facts pages + dispatch.report_figures) by day and by agent, beside
a baseline: the same period counted by the database alone (`SELECT count(*)` on the index).

    .venv/bin/python bench/reports.py                          # 100,000 requests, SQLite
    .venv/bin/python bench/reports.py --count 10000            # a smoke
    .venv/bin/python bench/reports.py --database-url postgresql+asyncpg://.../empty_db

The rows go straight in through hub.schema (one passenger, resolved requests with every
timing, a tenth of them phone requests with a missed call and a callback), spread evenly
over 2026; nothing else is written.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select

from dispatch.report_facts import request_pages
from dispatch.report_figures import add_facts, new_report
from dispatch.report_period import Dimension, Period
from hub import schema
from hub.database import Database

CHUNK = 10_000  # rows per insert
YEAR_S = 365 * 86_400
START = datetime(2026, 1, 1, tzinfo=UTC)
ZONE = ZoneInfo("Europe/Helsinki")


def _row(i: int, count: int, contact_id: uuid.UUID, agents: list[uuid.UUID]) -> dict[str, Any]:
    at = START + timedelta(seconds=i * YEAR_S / count)
    wait = random.uniform(1, 300)
    missed = i % 10 == 0
    return {
        "id": uuid.uuid4(), "number": i + 1, "reference": str(i + 1), "contact_id": contact_id,
        "channel": "phone" if missed else random.choice(("sms", "webform", "email", "chat")),
        "status": "resolved", "lane": random.choice(("default", "orders", "lost")),
        "priority": 0, "details": {}, "case_started_at": at, "queued_at": at,
        "service_started_at": at + timedelta(seconds=wait),
        "first_response_at": at + timedelta(seconds=wait + 20),
        "ended_at": at + timedelta(seconds=wait + random.uniform(30, 900)),
        "last_message_at": at, "preview": "", "updated_at": at,
        "last_agent_id": random.choice(agents), "missed_calls": 1 if missed else 0,
        "callback_attempts": 0, "callback": "done" if missed else None,
        "callback_requested_at": at if missed else None,
        "callback_due_at": at + timedelta(minutes=15) if missed else None,
        "callback_done_at": at + timedelta(seconds=wait) if missed else None,
    }


async def _fill(db: Database, count: int) -> None:
    contact_id = uuid.uuid4()
    agents = [uuid.uuid4() for _ in range(20)]
    async with db.write() as conn:
        await conn.execute(insert(schema.contacts), {
            "id": contact_id, "name": None, "created_at": START, "updated_at": START})
        await conn.execute(insert(schema.agents), [{
            "id": agent_id, "login": f"bench{n}", "name": f"Bench {n}", "role": "team",
            "password_hash": "-", "active": True, "created_at": START, "updated_at": START}
            for n, agent_id in enumerate(agents)])
    for first in range(0, count, CHUNK):
        async with db.write() as conn:
            rows = [_row(i, count, contact_id, agents)
                    for i in range(first, min(count, first + CHUNK))]
            await conn.execute(insert(schema.contact_requests), rows)


async def _report(db: Database, by: Dimension, period: Period) -> tuple[int, float]:
    began = time.perf_counter()
    report, now, seen = new_report(by, period), datetime.now(UTC), 0
    async for page in request_pages(db, period.start, period.end):
        add_facts(report, page, {}, 60, now)
        seen += len(page)
    report.rows()
    report.total().figures()
    return seen, time.perf_counter() - began


async def _baseline(db: Database, period: Period) -> tuple[int, float]:
    r = schema.contact_requests
    began = time.perf_counter()
    async with db.read() as conn:
        counted = (await conn.execute(select(func.count()).where(
            r.c.case_started_at >= period.start, r.c.case_started_at < period.end))).scalar_one()
    return int(counted), time.perf_counter() - began


async def run(count: int, url: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        db = Database(url or f"sqlite+aiosqlite:///{folder}/reports.db")
        try:
            await db.migrate()
            began = time.perf_counter()
            await _fill(db, count)
            print(f"filled {count:,} requests in {time.perf_counter() - began:.1f} s")
            period = Period(date(2026, 1, 1), date(2027, 1, 1), ZONE)
            counted, seconds = await _baseline(db, period)
            print(f"baseline  count(*) {counted:>9,} rows {seconds:7.2f} s")
            for by in (Dimension.DAY, Dimension.AGENT):
                seen, seconds = await _report(db, by, period)
                print(f"report by {by.value:<6}   {seen:>9,} rows {seconds:7.2f} s")
        finally:
            await db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100_000, help="requests over the year")
    parser.add_argument("--database-url", default="", help="an empty database (default: a "
                        "new SQLite file)")
    args = parser.parse_args()
    asyncio.run(run(args.count, args.database_url))


if __name__ == "__main__":
    main()
