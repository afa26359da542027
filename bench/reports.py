"""Does a report over a long period answer in seconds? Fills an empty database with a year of
requests (default 100,000; the issue's scale is 1,000,000) and times the report the API
gives, counted by the database (dispatch.report_counts), by day and by agent, beside two
baselines: the same period counted by the database alone (`SELECT count(*)` on the index),
and the Python count over every request's row (dispatch.report_facts pages +
dispatch.report_figures), whose figures the database's must equal (checked; --no-python
skips it).

    .venv/bin/python bench/reports.py                          # 100,000 requests, SQLite
    .venv/bin/python bench/reports.py --count 10000            # a smoke
    .venv/bin/python bench/reports.py --database-url postgresql+asyncpg://.../empty_db

The rows go straight in through hub.schema (one passenger, resolved requests with every
timing and its integer copy, hub.epoch.timing_copies, a tenth of them phone requests with
a missed call and a callback), spread evenly over 2026; nothing else is written.
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

from dispatch.report_counts import counted_report
from dispatch.report_facts import request_pages
from dispatch.report_figures import Report, add_facts, new_report
from dispatch.report_period import Dimension, Period
from hub import schema
from hub.database import Database
from hub.epoch import timing_copies

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
            rows = [row | timing_copies(row) for row in (
                _row(i, count, contact_id, agents)
                for i in range(first, min(count, first + CHUNK)))]
            await conn.execute(insert(schema.contact_requests), rows)


def _took(began: float, cpu: float) -> str:
    """Wall time, and this process's CPU (SQLite's threads included): on a shared machine
    the CPU is the steadier of the two."""
    return (f"{time.perf_counter() - began:6.2f} s "
            f"(cpu {time.process_time() - cpu:6.2f} s)")


THRESHOLDS = {"default": 120, "orders": 60}  # "lost" has none: the 60 s default


def _figures(report: Report) -> object:
    return (report.rows(), report.total().figures(), report.first_response_by_channel())


async def _python(db: Database, by: Dimension, period: Period,
                  now: datetime) -> tuple[Report, str]:
    began, cpu = time.perf_counter(), time.process_time()
    report = new_report(by, period)
    async for page in request_pages(db, period.start, period.end):
        add_facts(report, page, THRESHOLDS, 60, now)
    _figures(report)
    return report, _took(began, cpu)


async def _counted(db: Database, by: Dimension, period: Period,
                   now: datetime) -> tuple[Report, str]:
    began, cpu = time.perf_counter(), time.process_time()
    report = await counted_report(db, by, period, THRESHOLDS, 60, now)
    _figures(report)
    return report, _took(began, cpu)


async def _baseline(db: Database, period: Period) -> tuple[int, float]:
    r = schema.contact_requests
    began = time.perf_counter()
    async with db.read() as conn:
        counted = (await conn.execute(select(func.count()).where(
            r.c.case_started_at >= period.start, r.c.case_started_at < period.end))).scalar_one()
    return int(counted), time.perf_counter() - began


async def run(count: int, url: str, python: bool) -> None:
    with tempfile.TemporaryDirectory() as folder:
        db = Database(url or f"sqlite+aiosqlite:///{folder}/reports.db")
        try:
            await db.migrate()
            began = time.perf_counter()
            await _fill(db, count)
            print(f"filled {count:,} requests in {time.perf_counter() - began:.1f} s")
            period = Period(date(2026, 1, 1), date(2027, 1, 1), ZONE)
            rows, seconds = await _baseline(db, period)
            print(f"baseline  count(*) {rows:>9,} rows {seconds:7.2f} s")
            now = datetime.now(UTC)
            for by in (Dimension.DAY, Dimension.AGENT):
                counted, took = await _counted(db, by, period, now)
                contacts = counted.total().contacts
                print(f"report by {by.value:<6} counted by the database {contacts:>9,} "
                      f"requests {took}")
                if python:
                    reference, took = await _python(db, by, period, now)
                    same = "same figures" if _figures(reference) == _figures(counted) else \
                        "FIGURES DIFFER"
                    print(f"report by {by.value:<6} counted in Python       "
                          f"{reference.total().contacts:>9,} requests {took}  {same}")
        finally:
            await db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100_000, help="requests over the year")
    parser.add_argument("--database-url", default="", help="an empty database (default: a "
                        "new SQLite file)")
    parser.add_argument("--no-python", action="store_true",
                        help="skip the Python count (the old path) and its check")
    args = parser.parse_args()
    asyncio.run(run(args.count, args.database_url, not args.no_python))


if __name__ == "__main__":
    main()
