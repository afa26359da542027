"""The audit trail: who did what to personal data and accounts, kept in the database."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import insert
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
