"""a service notice's optional Swedish text

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: the notices already published have none, and Swedish-speaking passengers
    # get the Finnish text until one is written.
    with op.batch_alter_table("notices") as batch:
        batch.add_column(sa.Column("text_sv", sa.Text()))


def downgrade() -> None:
    with op.batch_alter_table("notices") as batch:
        batch.drop_column("text_sv")
