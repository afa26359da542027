"""Handling actions on a request: claim, release, transfer, note, resolve, reopen.

Each action is one write transaction in which hub.handling makes the change (a conditional
update, so that of two concurrent claims exactly one matches a row, on one process or many,
the handling event, the last agent, the console event); this module checks what only the
console asks (the input, the lane's capacity, the transfer's target) and tells the relay.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from hub import handling, schema
from hub.agents import get_agent
from hub.clock import utcnow
from hub.database import Database
from hub.error_codes import ErrorCode
from hub.errors import BadInput, Conflict, Forbidden
from hub.lane_book import LaneBook
from hub.lanes import EMPTY_PLAN, LanePlan
from hub.model import Agent, RequestStatus, Role
from hub.outbox import OutboxRelay
from hub.read_json import RequestSummaryJson
from hub.text import is_storable

r = schema.contact_requests
MAX_NOTE_CHARS = 4000


@dataclass(frozen=True, slots=True)
class Outcome:
    request: RequestSummaryJson
    changed: bool  # False when the action was already in effect (a repeated claim)


class Actions:
    def __init__(self, db: Database, relay: OutboxRelay, lanes: LaneBook | None = None) -> None:
        self._db = db
        self._relay = relay
        self._lanes = lanes

    async def claim(self, request_id: uuid.UUID, agent: Agent) -> Outcome:
        """Take a waiting request (hub.handling.claim), within the lane's capacity."""
        _not_external(agent)
        # Read before the transaction: awaiting a reload inside it would hold the writer
        # while waiting for another connection.
        plan = await self._lanes.current() if self._lanes is not None else EMPTY_PLAN
        async with self._db.write() as conn:
            await _within_capacity(plan, conn, request_id, agent)
            done = await handling.claim(conn, request_id, agent, at=utcnow())
        return self._done(done)

    async def release(self, request_id: uuid.UUID, agent: Agent) -> Outcome:
        async with self._db.write() as conn:
            done = await handling.release(conn, request_id, agent, at=utcnow())
        return self._done(done)

    async def transfer(self, request_id: uuid.UUID, agent: Agent,
                       target_id: uuid.UUID) -> Outcome:
        _not_external(agent)
        async with self._db.read() as conn:
            target = await get_agent(conn, target_id)
        if target is None or not target.active:
            raise BadInput(ErrorCode.TRANSFER_TARGET_UNKNOWN, {"agent_id": "unknown"})
        async with self._db.write() as conn:
            done = await handling.transfer(conn, request_id, agent, target_id, at=utcnow())
        return self._done(done)

    async def resolve(self, request_id: uuid.UUID, agent: Agent) -> Outcome:
        async with self._db.write() as conn:
            done = await handling.resolve(conn, request_id, agent, at=utcnow())
        return self._done(done)

    async def reopen(self, request_id: uuid.UUID, agent: Agent) -> Outcome:
        _not_external(agent)
        async with self._db.write() as conn:
            done = await handling.reopen(conn, request_id, agent, at=utcnow())
        return self._done(done)

    async def note(self, request_id: uuid.UUID, agent: Agent, text: str) -> Outcome:
        text = text.strip()
        if not text:
            raise BadInput(ErrorCode.NOTE_EMPTY, {"text": "required"})
        if not is_storable(text):
            raise BadInput(ErrorCode.NOTE_UNSTORABLE,
                           {"text": "invalid_characters"})
        if len(text) > MAX_NOTE_CHARS:
            raise BadInput(ErrorCode.NOTE_TOO_LONG.of(max=MAX_NOTE_CHARS), {"text": "too_long"})
        async with self._db.write() as conn:
            done = await handling.note(conn, request_id, agent, text, at=utcnow())
        return self._done(done)

    def _done(self, done: handling.Handled) -> Outcome:
        """After the commit: the consoles are told."""
        self._relay.notify(list(done.events))
        return Outcome(done.request, changed=done.changed)


def _not_external(agent: Agent) -> None:
    if agent.role is Role.EXTERNAL:
        raise Forbidden(ErrorCode.EXTERNAL_ONLY_ASSIGNED)


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
        raise Conflict(ErrorCode.LANE_CAPACITY_REACHED.of(holding=holding, capacity=capacity),
                       {"capacity": capacity, "holding": holding})
