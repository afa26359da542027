"""a request's callback in columns of its own, out of the details JSON

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02

Callback state used to be strings in `contact_requests.details` ("callback": "true" or
"done", "missed_calls": "2", timestamps as ISO text). Each becomes a typed column; existing
rows' values move over and leave the JSON, so there is one source of truth.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

from hub.schema import UtcDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

TIMES = {  # details key -> column
    "missed_at": "callback_requested_at", "callback_due_at": "callback_due_at",
    "last_missed_at": "last_missed_at", "callback_called_at": "callback_called_at",
    "callback_outcome_at": "callback_outcome_at", "callback_done_at": "callback_done_at",
}
COUNTS = {"missed_calls": "missed_calls", "missed_wait_s": "missed_wait_s",
          "callback_attempts": "callback_attempts"}
TEXTS = {"callback_number": ("callback_number", 32), "callback_outcome": ("callback_outcome", 16)}
STATES = {"true": "requested", "done": "done"}
MOVED = {"callback", *TIMES, *COUNTS, *TEXTS}
BATCH = 500


def upgrade() -> None:
    with op.batch_alter_table("contact_requests") as table:
        table.add_column(sa.Column("callback", sa.String(16)))
        table.add_column(sa.Column("callback_requested_at", sa.DateTime(timezone=True)))
        table.add_column(sa.Column("callback_due_at", sa.DateTime(timezone=True)))
        table.add_column(sa.Column("callback_number", sa.String(32)))
        table.add_column(sa.Column("missed_calls", sa.Integer(), nullable=False,
                                   server_default="0"))
        table.add_column(sa.Column("last_missed_at", sa.DateTime(timezone=True)))
        table.add_column(sa.Column("missed_wait_s", sa.Integer()))
        table.add_column(sa.Column("callback_called_at", sa.DateTime(timezone=True)))
        table.add_column(sa.Column("callback_attempts", sa.Integer(), nullable=False,
                                   server_default="0"))
        table.add_column(sa.Column("callback_outcome", sa.String(16)))
        table.add_column(sa.Column("callback_outcome_at", sa.DateTime(timezone=True)))
        table.add_column(sa.Column("callback_done_at", sa.DateTime(timezone=True)))
    _move_details()


def _move_details() -> None:
    requests = sa.table(
        "contact_requests", sa.column("id", sa.Uuid()), sa.column("details", sa.JSON()),
        sa.column("case_started_at", UtcDateTime()),
        sa.column("callback", sa.String()),
        *(sa.column(name, UtcDateTime()) for name in TIMES.values()),
        *(sa.column(name, sa.Integer()) for name in COUNTS.values()),
        *(sa.column(name, sa.String()) for name, _ in TEXTS.values()))
    conn = op.get_bind()
    # Only rows whose JSON mentions a callback or a miss: a text match works on both
    # backends and skips the bulk of an old database.
    text = sa.cast(requests.c.details, sa.Text)
    rows = conn.execute(sa.select(requests.c.id, requests.c.details,
                                  requests.c.case_started_at).where(
        text.like('%"callback%') | text.like('%"missed_%') | text.like('%"last_missed%')
    )).all()
    changes = [_columns(details or {}, started) | {"b_id": row_id}
               for row_id, details, started in rows]
    changes = [change for change in changes if len(change) > 1]
    statement = sa.update(requests).where(requests.c.id == sa.bindparam("b_id"))
    for start in range(0, len(changes), BATCH):
        batch = changes[start:start + BATCH]
        for keys in {tuple(sorted(change)) for change in batch}:
            same = [c for c in batch if tuple(sorted(c)) == keys]
            conn.execute(statement.values({k: sa.bindparam(k) for k in keys if k != "b_id"}),
                         same)


def _columns(details: Mapping[str, Any], started: datetime) -> dict[str, Any]:
    if not any(key in details for key in MOVED):
        return {}
    found: dict[str, Any] = {"details": {k: v for k, v in details.items() if k not in MOVED}}
    state = STATES.get(str(details.get("callback", "")))
    if state is not None:
        found["callback"] = state
    for key, column in TIMES.items():
        found[column] = _time(details.get(key))
    if state is not None and found["callback_requested_at"] is None:
        found["callback_requested_at"] = started  # out of hours: asked as the case began
    for key, column in COUNTS.items():
        value = str(details.get(key, ""))
        found[column] = int(value) if value.isdigit() else (
            None if column == "missed_wait_s" else 0)
    for key, (column, size) in TEXTS.items():
        value = details.get(key)
        found[column] = str(value)[:size] if value else None
    return found


def _time(value: Any) -> datetime | None:
    try:
        at = datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None
    if at is None:
        return None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def downgrade() -> None:
    with op.batch_alter_table("contact_requests") as table:
        for name in ("callback_done_at", "callback_outcome_at", "callback_outcome",
                     "callback_attempts", "callback_called_at", "missed_wait_s",
                     "last_missed_at", "missed_calls", "callback_number", "callback_due_at",
                     "callback_requested_at", "callback"):
            table.drop_column(name)
