"""the audit trail as a hash chain, with each entry's client address

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07

Every entry gains `address` (moved out of the details' `remote`, where logins kept it),
`prev_hash` and `hash` (hub.audit_chain). Entries written before this migration are chained
here, in id order from GENESIS, so `taxiconnect audit verify` passes on an upgraded database
and any later change to them shows. The sealing below is a frozen copy of hub.audit_chain's
at version 1: a migration must keep producing what it produced the day it was written.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

from hub.schema import UtcDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

GENESIS = "0" * 64
BATCH = 500


def upgrade() -> None:
    with op.batch_alter_table("audit_log") as table:
        table.add_column(sa.Column("address", sa.String(64)))
        table.add_column(sa.Column("prev_hash", sa.String(64)))
        table.add_column(sa.Column("hash", sa.String(64)))
    _chain_existing()
    with op.batch_alter_table("audit_log") as table:
        table.alter_column("prev_hash", existing_type=sa.String(64), nullable=False)
        table.alter_column("hash", existing_type=sa.String(64), nullable=False)
        table.create_index("ix_audit_log_agent_id", ["agent_id", "id"])
        table.create_index("ix_audit_log_subject", ["subject", "id"])


def downgrade() -> None:
    with op.batch_alter_table("audit_log") as table:
        table.drop_index("ix_audit_log_subject")
        table.drop_index("ix_audit_log_agent_id")
        table.drop_column("hash")
        table.drop_column("prev_hash")
        table.drop_column("address")


def _seal(row: Any, detail: dict[str, Any], address: str | None, prev_hash: str) -> str:
    at: datetime = row.at
    canonical = json.dumps(
        [1, row.id, at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
         str(row.agent_id) if row.agent_id else None, row.action, row.subject, address,
         detail, prev_hash],
        sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _chain_existing() -> None:
    log = sa.table("audit_log", sa.column("id", sa.BigInteger()), sa.column("at", UtcDateTime()),
                   sa.column("agent_id", sa.Uuid()), sa.column("action", sa.String()),
                   sa.column("subject", sa.String()), sa.column("detail", sa.JSON()),
                   sa.column("address", sa.String()), sa.column("prev_hash", sa.String()),
                   sa.column("hash", sa.String()))
    conn = op.get_bind()
    statement = sa.update(log).where(log.c.id == sa.bindparam("b_id")).values(
        detail=sa.bindparam("b_detail"), address=sa.bindparam("b_address"),
        prev_hash=sa.bindparam("b_prev"), hash=sa.bindparam("b_hash"))
    prev_hash, after = GENESIS, -1
    while True:
        rows = conn.execute(sa.select(log.c.id, log.c.at, log.c.agent_id, log.c.action,
                                      log.c.subject, log.c.detail)
                            .where(log.c.id > after).order_by(log.c.id).limit(BATCH)).all()
        if not rows:
            return
        changes = []
        for row in rows:
            detail = dict(row.detail or {})
            remote = detail.pop("remote", None)
            address = str(remote)[:64] if remote else None
            entry_hash = _seal(row, detail, address, prev_hash)
            changes.append({"b_id": row.id, "b_detail": detail, "b_address": address,
                            "b_prev": prev_hash, "b_hash": entry_hash})
            prev_hash = entry_hash
        conn.execute(statement, changes)
        after = rows[-1].id
