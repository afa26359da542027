"""a request's timings again as whole microseconds since the epoch, for the reports

A report over a year read and parsed every request's timestamps in SQL (SQLite has no time
type: julianday() on text) three times over: 12-23 s for 1,000,000 requests. The integer
copies (hub.schema's `*_us`, written with their timings by hub.handling) make every
duration a subtraction and every local day an integer division. Existing rows are filled
in batches of request numbers; the copies are UTC, so nothing here depends on the
deployment's timezone.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

TIMINGS = ("case_started", "queued", "service_started", "first_response", "ended")
BATCH = 20_000  # requests per UPDATE: short statements, a bounded undo log


def upgrade() -> None:
    with op.batch_alter_table("contact_requests") as table:
        for timing in TIMINGS:
            table.add_column(sa.Column(f"{timing}_us", sa.BigInteger()))
    _fill()


def _micros(column: str, dialect: str) -> str:
    """SQL for `column`'s instant in whole microseconds since the epoch, exactly."""
    if dialect == "sqlite":
        # Stored as "YYYY-MM-DD HH:MM:SS.ffffff" UTC: whole seconds from strftime('%s'),
        # the microseconds from the fraction's digits (none: '' casts to 0).
        return (f"CAST(strftime('%s', substr({column}, 1, 19)) AS INTEGER) * 1000000 "
                f"+ CAST(substr({column}, 21) AS INTEGER)")
    return f"CAST(round(extract(epoch FROM {column}) * 1000000) AS BIGINT)"


def _fill() -> None:
    conn = op.get_bind()
    dialect = conn.dialect.name
    found = conn.execute(sa.text(
        "SELECT min(number), max(number) FROM contact_requests")).one()
    if found[0] is None:
        return
    sets = ", ".join(f"{timing}_us = {_micros(f'{timing}_at', dialect)}" for timing in TIMINGS)
    statement = sa.text(f"UPDATE contact_requests SET {sets} "
                        "WHERE number >= :low AND number < :high")
    for low in range(int(found[0]), int(found[1]) + 1, BATCH):
        conn.execute(statement, {"low": low, "high": low + BATCH})


def downgrade() -> None:
    with op.batch_alter_table("contact_requests") as table:
        for timing in reversed(TIMINGS):
            table.drop_column(f"{timing}_us")
