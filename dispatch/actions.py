"""Handling actions on a request: claim, release, transfer, note, resolve, reopen.

Each action is one write transaction: a conditional update (so that of two concurrent claims
exactly one matches a row, on one process or many), a handling event naming the agent, the
request's last handling agent, and an outbox row carrying the console event.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import ColumnElement, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub import schema
from hub.agents import get_agent
from hub.clock import utcnow
from hub.database import Database
from hub.errors import BadInput, Conflict, Forbidden, NotFound
from hub.lane_book import LaneBook
from hub.lanes import EMPTY_PLAN, LanePlan
from hub.model import Agent, HandlingAction, RequestStatus, Role
from hub.outbox import OutboxRelay, new_row, write_rows
from hub.read_models import summaries_by_id
from hub.text import is_storable

r = schema.contact_requests
MAX_NOTE_CHARS = 4000

WAITING = (RequestStatus.QUEUED.value,)
NO_OFFER = {"offered_agent_id": None, "offer_expires_at": None}


@dataclass(frozen=True, slots=True)
class Outcome:
    request: dict[str, Any]
    changed: bool  # False when the action was already in effect (a repeated claim)


class Actions:
    def __init__(self, db: Database, relay: OutboxRelay, lanes: LaneBook | None = None) -> None:
        self._db = db
        self._relay = relay
        self._lanes = lanes

    async def claim(self, request_id: uuid.UUID, agent: Agent) -> Outcome:
        """Take a waiting request. One offered to a colleague is theirs until the offer
        expires (an admin may still take it)."""
        _not_external(agent)
        now = utcnow()
        where = r.c.status.in_(WAITING)
        if agent.role is not Role.ADMIN:
            where = where & (r.c.offered_agent_id.is_(None) | (r.c.offered_agent_id == agent.id)
                             | (r.c.offer_expires_at <= now))
        # Read before the transaction: awaiting a reload inside it would hold the writer
        # while waiting for another connection.
        plan = await self._lanes.current() if self._lanes is not None else EMPTY_PLAN
        return await self._act(
            request_id, agent, HandlingAction.CLAIM, now=now, where=where,
            values={"status": RequestStatus.CLAIMED.value, "assigned_agent_id": agent.id,
                    **NO_OFFER, **_service_starts(now)},
            already=lambda row: row.status == RequestStatus.CLAIMED.value
            and row.assigned_agent_id == agent.id,
            check=partial(_within_capacity, plan),
        )


    async def release(self, request_id: uuid.UUID, agent: Agent) -> Outcome:
        return await self._act(
            request_id, agent, HandlingAction.RELEASE, now=utcnow(),
            where=(r.c.status == RequestStatus.CLAIMED.value) & self._holder_or_admin(agent),
            values={"status": RequestStatus.QUEUED.value, "assigned_agent_id": None},
        )

    async def transfer(self, request_id: uuid.UUID, agent: Agent,
                       target_id: uuid.UUID) -> Outcome:
        _not_external(agent)
        async with self._db.read() as conn:
            target = await get_agent(conn, target_id)
        if target is None or not target.active:
            raise BadInput("no such active agent to transfer to", {"agent_id": "unknown"})
        now = utcnow()
        return await self._act(
            request_id, agent, HandlingAction.TRANSFER, now=now, target=target_id,
            where=(r.c.status.in_(WAITING)
                   | ((r.c.status == RequestStatus.CLAIMED.value) & self._holder_or_admin(agent))),
            values={"status": RequestStatus.CLAIMED.value, "assigned_agent_id": target_id,
                    **NO_OFFER, **_service_starts(now)},
        )

    async def resolve(self, request_id: uuid.UUID, agent: Agent) -> Outcome:
        now = utcnow()
        return await self._act(
            request_id, agent, HandlingAction.RESOLVE, now=now,
            where=(r.c.status.in_(WAITING)
                   | ((r.c.status == RequestStatus.CLAIMED.value) & self._holder_or_admin(agent))),
            values={"status": RequestStatus.RESOLVED.value, "assigned_agent_id": None,
                    "ended_at": now, **NO_OFFER, **_service_starts(now)},
        )

    async def reopen(self, request_id: uuid.UUID, agent: Agent) -> Outcome:
        _not_external(agent)
        return await self._act(
            request_id, agent, HandlingAction.REOPEN, now=utcnow(),
            where=r.c.status == RequestStatus.RESOLVED.value,
            values={"status": RequestStatus.QUEUED.value, "ended_at": None},
        )

    async def note(self, request_id: uuid.UUID, agent: Agent, text: str) -> Outcome:
        text = text.strip()
        if not text:
            raise BadInput("the note is empty", {"text": "required"})
        if not is_storable(text):
            raise BadInput("the note contains characters that cannot be stored",
                           {"text": "invalid_characters"})
        if len(text) > MAX_NOTE_CHARS:
            raise BadInput(f"the note is over {MAX_NOTE_CHARS} characters", {"text": "too long"})
        return await self._act(request_id, agent, HandlingAction.NOTE, now=utcnow(),
                               note=text, where=r.c.id.is_not(None), values={})

    @staticmethod
    def _holder_or_admin(agent: Agent) -> ColumnElement[bool]:
        if agent.role is Role.ADMIN:
            return r.c.id.is_not(None)
        return r.c.assigned_agent_id == agent.id

    async def _act(self, request_id: uuid.UUID, agent: Agent, action: HandlingAction, *,
                   now: datetime, where: ColumnElement[bool], values: dict[str, Any],
                   already: Any = None, target: uuid.UUID | None = None,
                   note: str | None = None, check: Any = None) -> Outcome:
        async with self._db.write() as conn:
            if check is not None:
                await check(conn, request_id, agent)
            if agent.role is Role.EXTERNAL:
                where = where & (r.c.assigned_agent_id == agent.id)
            matched = await conn.execute(
                update(r).where(r.c.id == request_id, where)
                .values(**values, last_agent_id=agent.id, updated_at=now,
                        version=r.c.version + 1)
            )
            if matched.rowcount != 1:
                current = await self._explain_miss(conn, request_id, agent, action)
                if already is not None and already(current):
                    summary = (await summaries_by_id(conn, [request_id]))[str(request_id)]
                    return Outcome(summary, changed=False)
                raise _conflict(action, current, await summaries_by_id(conn, [request_id]))
            await conn.execute(insert(schema.handling_events), {
                "id": uuid.uuid4(), "request_id": request_id, "agent_id": agent.id,
                "action": action.value, "target_agent_id": target, "note": note, "at": now,
            })
            summary = (await summaries_by_id(conn, [request_id]))[str(request_id)]
            event = new_row("events", {
                "type": f"request.{action.value}",
                "request": summary,
                "handling": {"action": action.value, "agent": {"id": str(agent.id),
                             "name": agent.name}, "at": now.isoformat(), "note": note},
            })
            await write_rows(conn, [event])
        self._relay.notify([event])
        return Outcome(summary, changed=True)

    @staticmethod
    async def _explain_miss(conn: AsyncConnection, request_id: uuid.UUID, agent: Agent,
                            action: HandlingAction) -> Any:
        current = (await conn.execute(
            select(r.c.status, r.c.assigned_agent_id, r.c.offered_agent_id)
            .where(r.c.id == request_id)
        )).first()
        if current is None:
            raise NotFound("no such request")
        if agent.role is Role.EXTERNAL and current.assigned_agent_id != agent.id:
            raise NotFound("no such request")
        return current


def _service_starts(now: datetime) -> dict[str, Any]:
    """Service starts at the first claim or answer. A request taken before the router placed
    it was never waiting in the queue: its queue time is that same moment."""
    return {"service_started_at": func.coalesce(r.c.service_started_at, now),
            "queued_at": func.coalesce(r.c.queued_at, now)}


def _not_external(agent: Agent) -> None:
    if agent.role is Role.EXTERNAL:
        raise Forbidden("external users act only on requests assigned to them")


def _conflict(action: HandlingAction, current: Any,
              summary: dict[str, dict[str, Any]]) -> Conflict:
    request = next(iter(summary.values()))
    holder = request["assigned_agent"]
    if current.status == RequestStatus.RESOLVED.value:
        reason = "the request is resolved"
    elif current.status == RequestStatus.CLAIMED.value:
        reason = f"the request is held by {holder['name'] if holder else 'another agent'}"
    elif request["offer"] is not None:
        reason = (f"the request is offered to {request['offer']['agent']['name']} until "
                  f"{request['offer']['expires_at']}")
    else:
        reason = f"cannot {action.value} a request that is {current.status}"
    return Conflict(reason, {"status": current.status, "held_by": holder, "request": request})


async def _within_capacity(plan: LanePlan, conn: AsyncConnection, request_id: uuid.UUID,
                           agent: Agent) -> None:
    lane = (await conn.execute(select(r.c.lane).where(r.c.id == request_id))).scalar()
    capacity = plan.lane(lane).capacity if lane is not None else 0
    if capacity <= 0:
        return
    holding = (await conn.execute(select(func.count()).where(
        r.c.assigned_agent_id == agent.id, r.c.status == RequestStatus.CLAIMED.value,
        r.c.id != request_id))).scalar_one()
    if holding >= capacity:
        raise Conflict(f"you already hold {holding} requests; this lane allows "
                       f"{capacity} at a time", {"capacity": capacity, "holding": holding})
