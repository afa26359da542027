"""0017: requests written before it get their timings' integer copies (hub.schema's `*_us`),
exact to the microsecond, null where the timing is, in batches that cover every request.
Runs on SQLite, and on PostgreSQL with TEST_DATABASE_URL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from hub import schema
from hub.database import Database
from hub.epoch import TIMINGS, epoch_us
from tests.hub.test_migrations import _upgrade

pytestmark = pytest.mark.empty_database  # the migrations run on it from nothing

BEFORE = "0016"


def _old_requests() -> sa.TableClause:
    """contact_requests as 0016 has it: the columns this test writes."""
    return sa.table("contact_requests", *(sa.column(c.name, c.type) for c in
                                          schema.contact_requests.c
                                          if not c.name.endswith("_us")))


async def test_requests_written_before_get_their_timings_in_microseconds(
    database_url: str
) -> None:
    db = Database(database_url)
    r = schema.contact_requests
    contact_id = uuid.uuid4()
    started = datetime(2026, 3, 29, 0, 59, 59, 999_999, tzinfo=UTC)  # a fraction to the last digit
    rows = []
    for n in range(5):
        at = started + timedelta(days=n, microseconds=n)
        timings = [at, at + timedelta(seconds=1), at + timedelta(seconds=n, microseconds=1),
                   None if n % 2 else at + timedelta(minutes=1), None if n == 4 else
                   at.replace(microsecond=0) + timedelta(hours=1)]
        rows.append({
            "id": uuid.uuid4(), "number": 30_000 * n + 1, "reference": f"M{n}",
            "contact_id": contact_id, "channel": "sms", "status": "resolved",
            "lane": "default", "priority": 0, "details": {}, "last_message_at": at,
            "preview": "", "updated_at": at, "version": 1, "missed_calls": 0,
            "callback_attempts": 0,
            **{f"{timing}_at": value for timing, value in zip(TIMINGS, timings, strict=True)}})
    try:
        async with db.write() as conn:
            await conn.run_sync(_upgrade, BEFORE)
            await conn.execute(sa.insert(schema.contacts), {
                "id": contact_id, "name": None, "created_at": started, "updated_at": started})
            await conn.execute(sa.insert(_old_requests()), rows)
        await db.migrate()
        async with db.read() as conn:
            found = {row.id: row for row in await conn.execute(sa.select(r))}
    finally:
        await db.close()
    assert len(found) == len(rows)  # numbers 30,000 apart: each in a batch of its own
    for row in rows:
        for timing in TIMINGS:
            at = row[f"{timing}_at"]
            assert getattr(found[row["id"]], f"{timing}_us") == (
                epoch_us(at) if at is not None else None), (row["number"], timing)
