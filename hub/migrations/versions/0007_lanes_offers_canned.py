"""lanes with their routing rules, offers on requests, canned replies, merged passengers

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lanes",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("name_fi", sa.String(100), nullable=False),
        sa.Column("name_en", sa.String(100), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("strategy", sa.String(16), nullable=False),
        sa.Column("offer_timeout_s", sa.Integer(), nullable=False),
        sa.Column("last_agent_window_s", sa.Integer(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("target_wait_s", sa.Integer(), nullable=False),
        sa.Column("opening_hours", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "routing_rules",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("lane", sa.String(64), sa.ForeignKey("lanes.key", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("channel", sa.String(16)),
        sa.Column("contacted", sa.String(320)),
        sa.Column("keywords", sa.JSON(), nullable=False),
        sa.Column("form", sa.String(64)),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "canned_replies",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("title", sa.String(100), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("lane", sa.String(64), sa.ForeignKey("lanes.key", ondelete="SET NULL")),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("updated_by", sa.Uuid(), sa.ForeignKey("agents.id")),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    with op.batch_alter_table("contact_requests") as batch:
        batch.add_column(sa.Column("offered_agent_id", sa.Uuid(),
                                   sa.ForeignKey("agents.id",
                                                 name="fk_contact_requests_offered_agent_id_agents")))
        batch.add_column(sa.Column("offer_expires_at", sa.DateTime(timezone=True)))
    op.create_index("ix_contact_requests_offer", "contact_requests", ["offer_expires_at"])
    with op.batch_alter_table("contacts") as batch:
        batch.add_column(sa.Column("merged_into_id", sa.Uuid(),
                                   sa.ForeignKey("contacts.id",
                                                 name="fk_contacts_merged_into_id_contacts")))


def downgrade() -> None:
    with op.batch_alter_table("contacts") as batch:
        batch.drop_column("merged_into_id")
    op.drop_index("ix_contact_requests_offer", "contact_requests")
    with op.batch_alter_table("contact_requests") as batch:
        batch.drop_column("offer_expires_at")
        batch.drop_column("offered_agent_id")
    op.drop_table("canned_replies")
    op.drop_table("routing_rules")
    op.drop_table("lanes")
