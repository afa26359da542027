"""Who holds a request, apart from the console's own actions (hub.handling): a reply or a
call back takes it, a hand-back returns it to the queue, an offer puts it to one dispatcher.
Part of the one owner of request state, on the same rules."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from hub import schema
from hub.error_codes import ErrorCode
from hub.errors import Conflict, NotFound
from hub.events import EventType
from hub.handling import (
    NO_OFFER,
    Handled,
    Step,
    change,
    changed,
    first_response,
    held_reason,
    taken_by,
)
from hub.json_types import JsonDocument
from hub.model import Agent, HandlingAction, RequestStatus, Role
from hub.read_models import summaries_by_id

r = schema.contact_requests


@dataclass(frozen=True, slots=True)
class Holding:
    """A request as one who is about to take it finds it (locked until the commit)."""

    id: uuid.UUID
    reference: str
    status: RequestStatus
    channel: str
    contact_id: uuid.UUID
    assigned_agent_id: uuid.UUID | None
    last_agent_id: uuid.UUID | None


async def holding(conn: AsyncConnection, request_id: uuid.UUID, agent: Agent) -> Holding:
    """The request, locked until commit; 404 for one the agent may not see."""
    row = (await conn.execute(
        select(r.c.id, r.c.reference, r.c.status, r.c.channel, r.c.contact_id,
               r.c.assigned_agent_id, r.c.last_agent_id)
        .where(r.c.id == request_id).with_for_update())).first()
    if row is None or (agent.role is Role.EXTERNAL and row.assigned_agent_id != agent.id):
        raise NotFound(ErrorCode.REQUEST_NOT_FOUND)
    return Holding(row.id, row.reference, RequestStatus(row.status), row.channel,
                   row.contact_id, row.assigned_agent_id, row.last_agent_id)


async def may_take(conn: AsyncConnection, request_id: uuid.UUID, agent: Agent, *,
                   at: datetime, doing: str) -> Holding:
    """The request `agent` is about to take by `doing` something (reply, call back), or 409:
    it is resolved, a colleague holds it, or it is offered to a colleague (an admin may take
    it over in both cases)."""
    found = await holding(conn, request_id, agent)
    if found.status is RequestStatus.RESOLVED:
        raise Conflict(ErrorCode.REQUEST_RESOLVED_REOPEN.of(action=doing),
                       {"status": found.status.value})
    if agent.role is Role.ADMIN:
        return found
    if found.status is RequestStatus.CLAIMED and found.assigned_agent_id != agent.id:
        summary = (await summaries_by_id(conn, [request_id]))[str(request_id)]
        holder = summary["assigned_agent"]
        raise Conflict(held_reason(holder),
                       {"status": found.status.value, "held_by": holder, "request": summary})
    offer = (await conn.execute(select(r.c.offered_agent_id, r.c.offer_expires_at)
                                .where(r.c.id == request_id))).one()
    if offer.offered_agent_id not in (None, agent.id) and offer.offer_expires_at > at:
        raise Conflict(ErrorCode.REQUEST_OFFERED_TO_COLLEAGUE,
                       {"status": found.status.value})
    return found


async def reply_sent(conn: AsyncConnection, request_id: uuid.UUID, agent: Agent, *,
                     at: datetime, kind: EventType = EventType.REQUEST_REPLY,
                     extra: JsonDocument | None = None) -> Handled:
    """The agent answered the passenger (a reply, a group message on its thread): the
    request is theirs, and answered. The caller checked `may_take` (or opened the thread)."""
    step = Step(agent, HandlingAction.REPLY, at)
    await change(conn, request_id, {**taken_by(agent.id, at), **first_response(at)},
                 step=step)
    return await changed(conn, kind, request_id, step=step, extra=extra)


async def hand_back(conn: AsyncConnection, request_id: uuid.UUID, version: int, agent: Agent,
                    note: str, *, at: datetime) -> Handled | None:
    """Return a request the agent holds to the queue, unless it changed since `version`
    was read (answered, released or handed back meanwhile): then None."""
    step = Step(agent, HandlingAction.RELEASE, at, note=note)
    if not await change(conn, request_id,
                        {"status": RequestStatus.QUEUED.value, "assigned_agent_id": None},
                        where=(r.c.version == version)
                        & (r.c.status == RequestStatus.CLAIMED.value)
                        & (r.c.assigned_agent_id == agent.id), step=step):
        return None
    return await changed(conn, EventType.REQUEST_RELEASE, request_id, step=step)


async def offer(conn: AsyncConnection, request_id: uuid.UUID, agent: Agent,
                expires_at: datetime, *, at: datetime) -> Handled | None:
    """Put a waiting request to one dispatcher until `expires_at`; None when it is no longer
    waiting or already offered. An offer is not the dispatcher's action: they do not become
    its last agent."""
    step = Step(agent, HandlingAction.OFFER, at)
    if not await change(conn, request_id,
                        {"offered_agent_id": agent.id, "offer_expires_at": expires_at},
                        where=(r.c.status == RequestStatus.QUEUED.value)
                        & r.c.offered_agent_id.is_(None), step=step, last_agent=False):
        return None
    return await changed(conn, EventType.REQUEST_OFFER, request_id, step=step)


OFFER_ENDINGS = {HandlingAction.OFFER_TIMEOUT: EventType.REQUEST_OFFER_TIMEOUT,
                 HandlingAction.DECLINE: EventType.REQUEST_DECLINE}


async def withdraw_offer(conn: AsyncConnection, request_id: uuid.UUID, agent: Agent,
                         action: HandlingAction, *, at: datetime) -> Handled | None:
    """End the agent's open offer (OFFER_TIMEOUT or DECLINE); None when they had none."""
    event = OFFER_ENDINGS[action]
    step = Step(agent, action, at)
    if not await change(conn, request_id, NO_OFFER, where=r.c.offered_agent_id == agent.id,
                        step=step, last_agent=False):
        return None
    return await changed(conn, event, request_id, step=step)
