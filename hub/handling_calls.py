"""What a phone call does to its request, as part of the one owner of request state
(hub.handling). hub.calls keeps the calls themselves and asks for these steps.

An answer by an agent claims the request for them, whoever held it: the PBX reports a fact.
The hang-up of their call resolves it, and any other open callback of the passenger (they
were reached). A call answered by someone the hub does not know starts the service without
claiming; its hang-up resolves the request with no agent, unless a dispatcher took it
meanwhile; neither is a handling event, none was an agent's action. An inbound call nobody
answered makes the request a callback (hub.handling_callback).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from hub import schema
from hub.callback_columns import is_callback
from hub.events import EventType
from hub.handling import (
    OPEN,
    Handled,
    Step,
    announce,
    change,
    changed,
    ended,
    first_response,
    service_starts,
    taken_by,
)
from hub.handling_callback import mark_callback
from hub.model import Agent, HandlingAction
from hub.outbox import OutboxRow

r = schema.contact_requests
ANSWERED_CALL = "answered call"  # the note of a claim by an answered call (dispatch.handback)
CALL_ENDED = "call ended"
CALLED_BACK = "called back"


async def call_answered(conn: AsyncConnection, request_id: uuid.UUID, agent: Agent | None, *,
                        at: datetime, extra: Mapping[str, Any]) -> Handled:
    """The call on the request was answered at `at` by `agent` (None: nobody the hub
    knows). A request resolved meanwhile stays so."""
    step = None
    if agent is not None:
        answered = Step(agent, HandlingAction.CLAIM, at, note=ANSWERED_CALL)
        if await change(conn, request_id, {**taken_by(agent.id, at), **first_response(at)},
                        where=r.c.status.in_(OPEN), step=answered):
            step = answered
    else:
        await change(conn, request_id, {**service_starts(at), **first_response(at)},
                     where=r.c.status.in_(OPEN))
    return await changed(conn, EventType.CALL_ANSWERED, request_id, step=step, extra=extra)


async def call_ended(conn: AsyncConnection, request_id: uuid.UUID, agent: Agent | None, *,
                     answered_at: datetime | None, at: datetime,
                     extra: Mapping[str, Any]) -> Handled:
    """The call ended at `at`. Answered (at `answered_at`, by `agent` or someone unknown):
    the request is resolved. Unanswered outbound: the request stays as it is."""
    step = None
    events: list[OutboxRow] = []
    if answered_at is not None and agent is not None:
        contact_id = await _lock_passenger(conn, request_id)
        resolved = Step(agent, HandlingAction.RESOLVE, at, note=CALL_ENDED)
        holder = r.c.assigned_agent_id.is_(None) | (r.c.assigned_agent_id == agent.id)
        if await change(conn, request_id, ended(at), where=r.c.status.in_(OPEN) & holder,
                        step=resolved):
            step = resolved
        events += await _close_callbacks(conn, contact_id, request_id, agent, at)
    elif answered_at is not None:
        await change(conn, request_id,
                     {**ended(at), **service_starts(answered_at), **first_response(answered_at)},
                     where=r.c.status.in_(OPEN) & r.c.assigned_agent_id.is_(None))
    summary, event = await announce(conn, EventType.CALL_ENDED, request_id, step=step,
                                    extra=extra)
    return Handled(request_id, summary, True, (*events, event))


async def call_missed(conn: AsyncConnection, request_id: uuid.UUID, *, at: datetime,
                      rang_from: datetime, number: str | None, window: timedelta,
                      due_in: timedelta, extra: Mapping[str, Any]) -> Handled:
    """An inbound call nobody answered: the request waits for a callback."""
    await mark_callback(conn, request_id, at=at, rang_from=rang_from, number=number,
                        window=window, due_in=due_in)
    return await changed(conn, EventType.REQUEST_CALLBACK, request_id, extra=extra)


async def _close_callbacks(conn: AsyncConnection, contact_id: uuid.UUID,
                           request_id: uuid.UUID, agent: Agent,
                           at: datetime) -> list[OutboxRow]:
    """The passenger was reached: their other open callback requests are done too."""
    others = (await conn.execute(
        select(r.c.id).where(r.c.contact_id == contact_id, r.c.status.in_(OPEN),
                             r.c.id != request_id, is_callback()))).scalars().all()
    events: list[OutboxRow] = []
    for other_id in others:
        step = Step(agent, HandlingAction.RESOLVE, at, note=CALLED_BACK)
        if await change(conn, other_id, ended(at), where=r.c.status.in_(OPEN), step=step):
            events += (await changed(conn, EventType.REQUEST_RESOLVE, other_id, step=step)).events
    return events


async def _lock_passenger(conn: AsyncConnection, request_id: uuid.UUID) -> uuid.UUID:
    """On PostgreSQL, hold the passenger and their open requests in ingest's order (see
    hub.ingest_store): changing several of their requests must not deadlock with a message
    threading in. Returns the passenger's contact id."""
    contact_id: uuid.UUID = (await conn.execute(
        select(r.c.contact_id).where(r.c.id == request_id))).scalar_one()
    c = schema.contacts
    await conn.execute(select(c.c.id).where(c.c.id == contact_id).with_for_update())
    await conn.execute(select(r.c.id).where(r.c.contact_id == contact_id, r.c.status.in_(OPEN))
                       .order_by(r.c.case_started_at).with_for_update())
    return contact_id
