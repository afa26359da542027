"""the webhook delivery log: when a failing event is tried next, and an index by request

The admins' log shows when a failing delivery is tried again; the console asks, for the
request on screen, how its order.ready deliveries went (without the index that read scans
the whole log).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("webhook_deliveries",
                  sa.Column("next_attempt_at", sa.DateTime(timezone=True)))
    op.create_index("ix_webhook_deliveries_request", "webhook_deliveries",
                    ["request_id", "event_type", "id"])


def downgrade() -> None:
    op.drop_index("ix_webhook_deliveries_request", table_name="webhook_deliveries")
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.drop_column("next_attempt_at")
