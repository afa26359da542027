"""The audit trail: who did what to personal data and accounts, kept in the database."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from hub import schema
from hub.clock import utcnow


async def record(conn: AsyncConnection, action: str, *, agent_id: uuid.UUID | None,
                 subject: str | None = None, detail: Mapping[str, Any] | None = None) -> None:
    """Append one entry inside the caller's transaction. Never put message bodies in `detail`."""
    await conn.execute(insert(schema.audit_log), {
        "at": utcnow(), "agent_id": agent_id, "action": action, "subject": subject,
        "detail": dict(detail or {}),
    })


async def recent(conn: AsyncConnection, limit: int, *,
                 action_prefix: str | None = None) -> list[dict[str, Any]]:
    """The newest entries first, JSON-ready; `action_prefix` narrows them (`agent.`)."""
    log = schema.audit_log
    query = select(log).order_by(log.c.id.desc()).limit(limit)
    if action_prefix:
        query = query.where(log.c.action.startswith(action_prefix, autoescape=True))
    rows = await conn.execute(query)
    return [{"id": row.id, "at": row.at.isoformat(),
             "agent_id": str(row.agent_id) if row.agent_id else None, "action": row.action,
             "subject": row.subject, "detail": row.detail} for row in rows]
