"""index on the webhook delivery log by request, for the console's "was the order sent"

The console asks, for the request on screen, how its order.ready deliveries went; without
the index that read scans the whole log.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_webhook_deliveries_request", "webhook_deliveries",
                    ["request_id", "event_type", "id"])


def downgrade() -> None:
    op.drop_index("ix_webhook_deliveries_request", table_name="webhook_deliveries")
