"""The migrations build exactly the tables hub/schema.py describes (on the test database:
SQLite by default, PostgreSQL in CI's second run)."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection

from hub.database import Database
from hub.schema import metadata


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
