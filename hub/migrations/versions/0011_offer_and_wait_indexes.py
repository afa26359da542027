"""indexes for the open offers and the lane's recent service starts (the wait estimate)

Both were read by scanning every request ever stored: the offer round several times a second,
the wait estimate with every answer that names one.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

OFFERED = sa.text("offered_agent_id IS NOT NULL")


def upgrade() -> None:
    op.create_index("ix_contact_requests_offered", "contact_requests", ["offered_agent_id"],
                    sqlite_where=OFFERED, postgresql_where=OFFERED)
    op.create_index("ix_contact_requests_lane_service", "contact_requests",
                    ["lane", "service_started_at"])


def downgrade() -> None:
    op.drop_index("ix_contact_requests_lane_service", table_name="contact_requests")
    op.drop_index("ix_contact_requests_offered", table_name="contact_requests")
