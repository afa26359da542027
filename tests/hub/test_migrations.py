"""The migrations build exactly the tables hub/schema.py describes (on the test database:
SQLite by default, PostgreSQL in CI's second run)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import Connection, insert, select

from hub import schema
from hub.database import MIGRATIONS, Database
from hub.schema import metadata

pytestmark = pytest.mark.empty_database  # the migrations run on it from nothing


def _differences(conn: Connection) -> list[Any]:
    context = MigrationContext.configure(conn, opts={"compare_type": False})
    return [diff for diff in compare_metadata(context, metadata)
            if not (isinstance(diff, tuple) and diff[0] == "remove_table"
                    and diff[1].name == "alembic_version")]


async def test_migrations_match_the_schema(database_url: str) -> None:
    db = Database(database_url)
    try:
        await db.migrate()
        async with db.read() as conn:
            differences = await conn.run_sync(_differences)
    finally:
        await db.close()
    assert differences == []


def _upgrade(conn: Connection, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = conn
    command.upgrade(config, revision)


async def test_callback_details_move_into_their_columns(database_url: str) -> None:
    """0010: a callback kept as strings in the details JSON arrives in typed columns, and
    leaves the JSON; other details stay."""
    db = Database(database_url)
    r = schema.contact_requests
    contact_id, missed_id, closed_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    started = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    try:
        async with db.write() as conn:
            await conn.run_sync(_upgrade, "0009")
            await conn.execute(insert(schema.contacts), {
                "id": contact_id, "name": None, "created_at": started, "updated_at": started})
            common = {"contact_id": contact_id, "channel": "phone", "status": "queued",
                      "lane": "default", "priority": 100, "case_started_at": started,
                      "last_message_at": started, "preview": "", "updated_at": started}
            await conn.execute(insert(r), [
                {**common, "id": missed_id, "number": 1, "reference": "R1", "details": {
                    "to": "+358912345678", "callback": "true", "callback_number": "+358401",
                    "missed_calls": "2", "missed_at": "2026-12-01T08:01:00+00:00",
                    "last_missed_at": "2026-12-01T08:03:00+00:00", "missed_wait_s": "12",
                    "callback_due_at": "2026-12-01T08:16:00+00:00",
                    "callback_attempts": "1", "callback_outcome": "busy"}},
                {**common, "id": closed_id, "number": 2, "reference": "R2", "details": {
                    "out_of_hours": "true", "callback": "done",
                    "callback_due_at": "2026-12-01T09:00:00+02:00"}},
            ])
        await db.migrate()
        async with db.read() as conn:
            rows = {row.id: row for row in await conn.execute(select(r))}
    finally:
        await db.close()
    missed, closed = rows[missed_id], rows[closed_id]
    assert missed.details == {"to": "+358912345678"}
    assert (missed.callback, missed.callback_number, missed.missed_calls, missed.missed_wait_s,
            missed.callback_attempts, missed.callback_outcome) \
        == ("requested", "+358401", 2, 12, 1, "busy")
    assert missed.callback_requested_at == started + timedelta(minutes=1)
    assert missed.last_missed_at == started + timedelta(minutes=3)
    assert missed.callback_due_at == started + timedelta(minutes=16)
    assert closed.details == {"out_of_hours": "true"}
    assert (closed.callback, closed.missed_calls, closed.callback_attempts) == ("done", 0, 0)
    assert closed.callback_due_at == datetime(2026, 12, 1, 7, 0, tzinfo=UTC)
    assert closed.callback_requested_at == started
