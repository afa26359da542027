"""Reading the audit trail: filters, newest first, a page at a time by id (keyset)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TypedDict

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncConnection

from hub import schema
from hub.json_types import JsonObject

log, agents = schema.audit_log, schema.agents


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Which entries: `since` inclusive, `until` exclusive, one actor, an action prefix
    (`agent.`, `read.`), one subject (an id, as the entries name it)."""

    since: datetime | None = None
    until: datetime | None = None
    agent_id: uuid.UUID | None = None
    action_prefix: str | None = None
    subject: str | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        found: list[ColumnElement[bool]] = []
        if self.since is not None:
            found.append(log.c.at >= self.since)
        if self.until is not None:
            found.append(log.c.at < self.until)
        if self.agent_id is not None:
            found.append(log.c.agent_id == self.agent_id)
        if self.action_prefix:
            found.append(log.c.action.startswith(self.action_prefix, autoescape=True))
        if self.subject:
            found.append(log.c.subject == self.subject)
        return found

    def as_json(self) -> dict[str, str | None]:
        """The filters as given, for a cursor's scope and the audit of reading the audit."""
        return {"from": self.since.isoformat() if self.since else None,
                "to": self.until.isoformat() if self.until else None,
                "agent": str(self.agent_id) if self.agent_id else None,
                "action": self.action_prefix or None, "subject": self.subject or None}

    def scope(self) -> str:
        return json.dumps(self.as_json(), sort_keys=True)


class AuditEntryJson(TypedDict):
    """An entry of the audit trail as the admin pages and the CSV export see it."""

    id: int
    at: str
    agent_id: str | None
    agent_login: str | None
    agent_name: str | None
    action: str
    subject: str | None
    address: str | None
    detail: JsonObject | None


async def page(conn: AsyncConnection, chosen: AuditFilter, *, before_id: int | None,
               limit: int) -> list[AuditEntryJson]:
    """Up to `limit` entries older than `before_id` (all when None), newest first,
    JSON-ready, with the actor's login and name."""
    query = (select(log.c.id, log.c.at, log.c.agent_id, log.c.action, log.c.subject,
                    log.c.address, log.c.detail, agents.c.login, agents.c.name)
             .select_from(log.outerjoin(agents, agents.c.id == log.c.agent_id))
             .where(*chosen.conditions()).order_by(log.c.id.desc()).limit(limit))
    if before_id is not None:
        query = query.where(log.c.id < before_id)
    rows = await conn.execute(query)
    return [{"id": row.id, "at": row.at.isoformat(),
             "agent_id": str(row.agent_id) if row.agent_id else None,
             "agent_login": row.login, "agent_name": row.name, "action": row.action,
             "subject": row.subject, "address": row.address, "detail": row.detail}
            for row in rows]
