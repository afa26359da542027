"""indexes for the request list by keyset, a passenger's history and the timeline's calls

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_contact_requests_queue", "contact_requests",
                    ["status", sa.text("priority DESC"), "case_started_at", "id"])
    op.create_index("ix_contact_requests_contact_started", "contact_requests",
                    ["contact_id", "case_started_at"])
    op.create_index("ix_calls_message", "calls", ["message_id"])


def downgrade() -> None:
    op.drop_index("ix_calls_message", table_name="calls")
    op.drop_index("ix_contact_requests_contact_started", table_name="contact_requests")
    op.drop_index("ix_contact_requests_queue", table_name="contact_requests")
