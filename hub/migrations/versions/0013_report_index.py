"""index on the case start alone, for the reports' period

The reports read every request started in a period, whatever its status; the existing
(status, case_started_at) index serves one status at a time only.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_contact_requests_started", "contact_requests",
                    ["case_started_at", "number"])


def downgrade() -> None:
    op.drop_index("ix_contact_requests_started", table_name="contact_requests")
