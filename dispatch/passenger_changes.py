"""Changes to a passenger: the name a dispatcher gives, and merging two passengers into one.

Each change is one write transaction: the rows, an audit entry (ids and counts, never a
name or a number) and one console event per open request of the passenger, carrying the
request's new summary, so every console shows the passenger as they now are.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub import audit, schema
from hub.clock import utcnow
from hub.database import Database
from hub.error_codes import ErrorCode
from hub.errors import BadInput, Conflict, NotFound
from hub.events import EventType
from hub.model import OPEN_STATUSES, Agent
from hub.outbox import OutboxRelay, OutboxRow, new_row, write_rows
from hub.read_models import summaries, summary_query
from hub.text import is_storable

c = schema.contacts
i = schema.contact_identities
r = schema.contact_requests
OPEN = [s.value for s in OPEN_STATUSES]
MAX_NAME_CHARS = 200  # schema.contacts.name
# Open requests announced per change; a passenger with more is a data problem, and consoles
# reload their queue on a resync anyway.
MAX_ANNOUNCED = 500


@dataclass(frozen=True, slots=True)
class Merged:
    survivor: uuid.UUID
    identities: int  # identities moved to the survivor
    requests: int  # requests moved to the survivor
    announced: list[str]  # ids of the survivor's open requests the consoles were told of


def clean_name(value: object) -> str | None:
    """A name as stored: trimmed, None for none. BadInput says why it cannot be one."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadInput(ErrorCode.NAME_NOT_TEXT, {"name": "not_text"})
    name = " ".join(value.split())
    if len(name) > MAX_NAME_CHARS:
        raise BadInput(ErrorCode.NAME_TOO_LONG.of(max=MAX_NAME_CHARS), {"name": "too_long"})
    if not is_storable(name):
        raise BadInput(ErrorCode.NAME_UNSTORABLE,
                       {"name": "invalid_characters"})
    return name or None


class PassengerChanges:
    def __init__(self, db: Database, relay: OutboxRelay) -> None:
        self._db = db
        self._relay = relay

    async def rename(self, contact_id: uuid.UUID, name: str | None, agent: Agent) -> None:
        now = utcnow()
        async with self._db.write() as conn:
            current = await _lock(conn, [contact_id])
            if contact_id not in current:
                raise NotFound(ErrorCode.PASSENGER_NOT_FOUND)
            _not_merged(contact_id, current[contact_id], "rename")
            await conn.execute(update(c).where(c.c.id == contact_id)
                               .values(name=name, updated_at=now))
            events, _ = await _announce(conn, contact_id, now, {
                "type": EventType.REQUEST_PASSENGER_RENAMED,
                "passenger": {"id": str(contact_id), "by": _by(agent)}})
            # Last: the audit chain's lock is held from here to the commit.
            await audit.record(conn, "contact.rename", agent_id=agent.id,
                               subject=str(contact_id), detail={"named": name is not None})
        self._relay.notify(events)

    async def merge(self, source_id: uuid.UUID, into_id: uuid.UUID, agent: Agent) -> Merged:
        """Move everything of `source_id` (identities, requests) to `into_id`, which
        survives; `source_id` keeps its row, pointing at the survivor."""
        if source_id == into_id:
            raise BadInput(ErrorCode.MERGE_INTO_SELF, {"into": "same"})
        now = utcnow()
        async with self._db.write() as conn:
            current = await _lock(conn, [source_id, into_id])
            if source_id not in current:
                raise NotFound(ErrorCode.PASSENGER_NOT_FOUND)
            if into_id not in current:
                raise BadInput(ErrorCode.MERGE_TARGET_NOT_FOUND, {"into": "unknown"})
            _not_merged(source_id, current[source_id], "merge")
            _not_merged(into_id, current[into_id], "merge into")
            moved_identities = (await conn.execute(
                update(i).where(i.c.contact_id == source_id).values(contact_id=into_id)
            )).rowcount
            # The survivor's own open requests first, then the moved ones: each grows its
            # version once, so every console takes the summaries that follow.
            await conn.execute(update(r).where(r.c.contact_id == into_id, r.c.status.in_(OPEN))
                               .values(version=r.c.version + 1, updated_at=now))
            moved_requests = (await conn.execute(
                update(r).where(r.c.contact_id == source_id)
                .values(contact_id=into_id, version=r.c.version + 1, updated_at=now)
            )).rowcount
            source_name, into_name = current[source_id][1], current[into_id][1]
            await conn.execute(update(c).where(c.c.id == into_id).values(
                name=into_name or source_name, updated_at=now))
            await conn.execute(update(c).where(c.c.id == source_id).values(
                merged_into_id=into_id, updated_at=now))
            events, announced = await _announce(conn, into_id, None, {
                "type": EventType.REQUEST_PASSENGER_MERGED,
                "passenger": {"id": str(into_id), "merged": str(source_id), "by": _by(agent)}})
            await audit.record(conn, "contact.merge", agent_id=agent.id,
                               subject=str(source_id), detail={
                                   "into": str(into_id), "identities": moved_identities,
                                   "requests": moved_requests})
        self._relay.notify(events)
        return Merged(into_id, moved_identities, moved_requests, announced)


async def _lock(conn: AsyncConnection,
                ids: list[uuid.UUID]) -> dict[uuid.UUID, tuple[uuid.UUID | None, str | None]]:
    """The passengers' merged_into_id and name. On PostgreSQL their rows are held until the
    commit, in id order like ingest (hub.ingest_store) and calls take them, so a message
    threading in waits for the merge and then finds the survivor."""
    query = select(c.c.id, c.c.merged_into_id, c.c.name).where(c.c.id.in_(ids))
    if conn.dialect.name == "postgresql":
        query = query.order_by(c.c.id).with_for_update()
    rows = await conn.execute(query)
    return {row.id: (row.merged_into_id, row.name) for row in rows}


def _not_merged(contact_id: uuid.UUID, current: tuple[uuid.UUID | None, str | None],
                doing: str) -> None:
    merged_into = current[0]
    if merged_into is not None:
        raise Conflict(ErrorCode.PASSENGER_MERGED.of(action=doing),
                       {"id": str(contact_id), "merged_into": str(merged_into)})


def _by(agent: Agent) -> dict[str, str]:
    return {"id": str(agent.id), "name": agent.name}


async def _announce(conn: AsyncConnection, contact_id: uuid.UUID, bump_at: datetime | None,
                    event: dict[str, Any]) -> tuple[list[OutboxRow], list[str]]:
    """One event per open request of the passenger with its new summary; `bump_at` grows
    the requests' versions first (a merge has done so already)."""
    if bump_at is not None:
        await conn.execute(update(r).where(r.c.contact_id == contact_id, r.c.status.in_(OPEN))
                           .values(version=r.c.version + 1, updated_at=bump_at))
    found = await summaries(conn, summary_query().where(
        r.c.contact_id == contact_id, r.c.status.in_(OPEN))
        .order_by(r.c.case_started_at).limit(MAX_ANNOUNCED))
    rows = [new_row("events", {**event, "request": summary}) for summary in found]
    await write_rows(conn, rows)
    return rows, [summary["id"] for summary in found]


