"""a version on each request, grown by every change, so consoles keep the newest state

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("contact_requests") as batch_op:
        batch_op.add_column(
            sa.Column("version", sa.BigInteger(), nullable=False, server_default="1")
        )


def downgrade() -> None:
    with op.batch_alter_table("contact_requests") as batch_op:
        batch_op.drop_column("version")
