"""The one owner of a request's state.

A request's status, assignment, offer, handling events, last agent, timings and version
change here (and in hub/handling_calls.py and hub/handling_callback.py, its phone and
callback halves) and nowhere else. Each change is a typed operation that runs inside the
caller's transaction (it takes the `AsyncConnection`, never opens one, never awaits Redis or
HTTP) and writes the matching console event to the outbox there; the caller hands
`Handled.events` to the relay once it has committed.

Rules every operation keeps, whoever calls it:
- service starts at the first claim, transfer, reply, answered call or call back; a request
  taken before the router placed it has that moment as its queued time too (`service_starts`);
- the first response is the first reply, answered call or call back;
- taking a request or ending it ends any open offer on it;
- an agent's action is a handling event and makes them the request's last agent; what the
  PBX reports of someone the hub does not know is neither;
- every change grows the version, so consoles keep the newest state whatever the order;
- a timing is written with its integer copy (hub.schema's `*_us`, which the reports
  count): `change` adds the copy of any timing set to an instant or null (`with_copies`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Update, bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import BindParameter

from hub import schema
from hub.clock import utcnow
from hub.epoch import TIMINGS, epoch_us
from hub.error_codes import ErrorCode, Reason
from hub.errors import Conflict, NotFound
from hub.events import EventType, handling_event
from hub.model import OPEN_STATUSES, Agent, HandlingAction, RequestStatus, Role
from hub.outbox import OutboxRow, new_row, write_rows
from hub.read_json import RequestSummaryJson
from hub.read_models import summaries_by_id

r, he = schema.contact_requests, schema.handling_events
OPEN = [s.value for s in OPEN_STATUSES]
NO_OFFER: Mapping[str, Any] = {"offered_agent_id": None, "offer_expires_at": None}


@dataclass(frozen=True, slots=True)
class Handled:
    """What one operation did: the request as consoles now see it, whether anything
    changed (False: already in effect), and the outbox rows to notify after the commit."""

    request_id: uuid.UUID
    request: RequestSummaryJson
    changed: bool
    events: tuple[OutboxRow, ...] = ()


@dataclass(frozen=True, slots=True)
class Step:
    """One handling event: who did what, when; `target` for a transfer."""

    agent: Agent
    action: HandlingAction
    at: datetime
    note: str | None = None
    target: uuid.UUID | None = None


def _first(timing: str, at: datetime) -> dict[str, Any]:
    """`timing` set to `at` unless already set, and its copy in microseconds
    (hub.schema's `*_us`) with it: the copy is null exactly when the timing is."""
    return {f"{timing}_at": func.coalesce(r.c[f"{timing}_at"], at),
            f"{timing}_us": func.coalesce(r.c[f"{timing}_us"], epoch_us(at))}


def service_starts(at: datetime) -> dict[str, Any]:
    """Service starts at the first claim or answer. A request taken before the router placed
    it was never waiting in the queue: its queue time is that same moment."""
    return {**_first("service_started", at), **_first("queued", at)}


def taken_by(agent_id: uuid.UUID, at: datetime) -> dict[str, Any]:
    """The request held by the agent from `at`, any offer over."""
    return {"status": RequestStatus.CLAIMED.value, "assigned_agent_id": agent_id, **NO_OFFER,
            **service_starts(at)}


def first_response(at: datetime) -> dict[str, Any]:
    return _first("first_response", at)


def with_copies(values: Mapping[str, Any]) -> dict[str, Any]:
    """`values` and the integer copy (hub.schema's `*_us`) of each timing they set to an
    instant or to null, so that no caller can set one without the other; a timing set by
    SQL (`_first`) brings its own copy."""
    found = dict(values)
    for timing in TIMINGS:
        if f"{timing}_at" not in values or f"{timing}_us" in values:
            continue
        at = values[f"{timing}_at"]
        if at is not None and not isinstance(at, datetime):
            raise TypeError(f"{timing}_at set by SQL without its {timing}_us")
        found[f"{timing}_us"] = epoch_us(at) if at is not None else None
    return found


async def change(conn: AsyncConnection, request_id: uuid.UUID, values: Mapping[str, Any], *,
                 where: ColumnElement[bool] | None = None, step: Step | None = None,
                 last_agent: bool = True) -> bool:
    """The one UPDATE of a request's state: `values`, the version grown, and with a `step`
    the handling event and (unless `last_agent` is False: an offer is not the agent's own
    action) its agent as the request's last. False when `where` matched nothing."""
    last = {"last_agent_id": step.agent.id} if step is not None and last_agent else {}
    statement = update(r).where(r.c.id == request_id)
    if where is not None:
        statement = statement.where(where)
    done = await conn.execute(statement.values(**with_copies(values), **last,
                                               updated_at=utcnow(), version=r.c.version + 1))
    if done.rowcount != 1:
        return False
    if step is not None:
        await conn.execute(insert(he), {
            "id": uuid.uuid4(), "request_id": request_id, "agent_id": step.agent.id,
            "action": step.action.value, "target_agent_id": step.target, "note": step.note,
            "at": step.at,
        })
    return True


async def announce(conn: AsyncConnection, kind: EventType, request_id: uuid.UUID, *,
                   step: Step | None = None,
                   extra: Mapping[str, Any] | None = None) -> tuple[RequestSummaryJson, OutboxRow]:
    """The console event for the request as it now is, written to the outbox."""
    summary = (await summaries_by_id(conn, [request_id]))[str(request_id)]
    event: dict[str, Any] = {"type": kind.value, "request": summary, **(extra or {})}
    if step is not None:
        event["handling"] = handling_json(step)
    row = new_row("events", event)
    await write_rows(conn, [row])
    return summary, row


def handling_json(step: Step) -> dict[str, Any]:
    return {"action": step.action.value,
            "agent": {"id": str(step.agent.id), "name": step.agent.name},
            "at": step.at.isoformat(), "note": step.note}


async def changed(conn: AsyncConnection, kind: EventType, request_id: uuid.UUID, *,
                  step: Step | None = None,
                  extra: Mapping[str, Any] | None = None) -> Handled:
    summary, event = await announce(conn, kind, request_id, step=step, extra=extra)
    return Handled(request_id, summary, True, (event,))


# ---- console actions -------------------------------------------------------------------------

async def claim(conn: AsyncConnection, request_id: uuid.UUID, agent: Agent, *,
                at: datetime) -> Handled:
    """Take a waiting request. One offered to a colleague is theirs until the offer expires
    (an admin may still take it). Claiming one already held by the agent changes nothing."""
    where = r.c.status == RequestStatus.QUEUED.value
    if agent.role is not Role.ADMIN:
        where = where & (r.c.offered_agent_id.is_(None) | (r.c.offered_agent_id == agent.id)
                         | (r.c.offer_expires_at <= at))
    return await _guarded(conn, request_id, Step(agent, HandlingAction.CLAIM, at), where,
                          taken_by(agent.id, at),
                          already=lambda row: row.status == RequestStatus.CLAIMED.value
                          and row.assigned_agent_id == agent.id)


async def release(conn: AsyncConnection, request_id: uuid.UUID, agent: Agent, *,
                  at: datetime) -> Handled:
    return await _guarded(
        conn, request_id, Step(agent, HandlingAction.RELEASE, at),
        (r.c.status == RequestStatus.CLAIMED.value) & _holder_or_admin(agent),
        {"status": RequestStatus.QUEUED.value, "assigned_agent_id": None})


async def transfer(conn: AsyncConnection, request_id: uuid.UUID, agent: Agent,
                   target_id: uuid.UUID, *, at: datetime) -> Handled:
    """Give the request to a colleague (the caller checked they are an active agent)."""
    return await _guarded(conn, request_id,
                          Step(agent, HandlingAction.TRANSFER, at, target=target_id),
                          _open_to(agent), taken_by(target_id, at))


async def resolve(conn: AsyncConnection, request_id: uuid.UUID, agent: Agent, *,
                  at: datetime) -> Handled:
    return await _guarded(conn, request_id, Step(agent, HandlingAction.RESOLVE, at),
                          _open_to(agent), ended(at))


async def reopen(conn: AsyncConnection, request_id: uuid.UUID, agent: Agent, *,
                 at: datetime) -> Handled:
    return await _guarded(conn, request_id, Step(agent, HandlingAction.REOPEN, at),
                          r.c.status == RequestStatus.RESOLVED.value, back_in_queue(at))


async def note(conn: AsyncConnection, request_id: uuid.UUID, agent: Agent, text: str, *,
               at: datetime) -> Handled:
    """A note (checked by the caller) in the request's history, whatever its state."""
    return await _guarded(conn, request_id, Step(agent, HandlingAction.NOTE, at, note=text),
                          r.c.id.is_not(None), {})


async def order(conn: AsyncConnection, request_id: uuid.UUID, agent: Agent, *,
                at: datetime) -> Handled:
    """The order sent to the company's dispatch system, whatever the request's state: its
    console event gives the webhook `order.ready`, under the version this grows."""
    return await _guarded(conn, request_id, Step(agent, HandlingAction.ORDER, at),
                          r.c.id.is_not(None), {})


def ended(at: datetime) -> dict[str, Any]:
    """Resolved at `at`: nobody holds it, no offer stands, service (if never started) too."""
    return {"status": RequestStatus.RESOLVED.value, "assigned_agent_id": None, "ended_at": at,
            **NO_OFFER, **service_starts(at)}


def back_in_queue(at: datetime) -> dict[str, Any]:
    """A resolved request waits again. Its timings are the case's: the queued time stays
    the first one (set now only if it never had one), like the service start."""
    return {"status": RequestStatus.QUEUED.value, "assigned_agent_id": None, "ended_at": None,
            **_first("queued", at)}


def reopened_by_message() -> Update:
    """The passenger wrote again on a resolved request (ingest, run for a batch with
    `b_id`, `at` and `at_us` (`reopened_row`) bound): it waits again, as `reopen` leaves
    it, with no handling event."""
    at: BindParameter[datetime] = bindparam("at")
    at_us: BindParameter[int] = bindparam("at_us")
    return (update(r).where(r.c.id == bindparam("b_id"),
                            r.c.status == RequestStatus.RESOLVED.value)
            .values(status=RequestStatus.QUEUED.value, assigned_agent_id=None,
                    queued_at=func.coalesce(r.c.queued_at, at),
                    queued_us=func.coalesce(r.c.queued_us, at_us),
                    **with_copies({"ended_at": None})))


def reopened_row(request_id: uuid.UUID, at: datetime) -> dict[str, Any]:
    """The parameters of `reopened_by_message` for one request."""
    return {"b_id": request_id, "at": at, "at_us": epoch_us(at)}


async def _guarded(conn: AsyncConnection, request_id: uuid.UUID, step: Step,
                   where: ColumnElement[bool], values: Mapping[str, Any], *,
                   already: Callable[[Any], bool] | None = None) -> Handled:
    """A console action: a conditional update (of two concurrent claims exactly one
    matches, on one process or many), or the reason it may not happen."""
    agent = step.agent
    if agent.role is Role.EXTERNAL:
        where = where & (r.c.assigned_agent_id == agent.id)
    if await change(conn, request_id, values, where=where, step=step):
        return await changed(conn, handling_event(step.action), request_id,
                             step=step)
    current = (await conn.execute(
        select(r.c.status, r.c.assigned_agent_id).where(r.c.id == request_id))).first()
    if current is None or (agent.role is Role.EXTERNAL
                           and current.assigned_agent_id != agent.id):
        raise NotFound(ErrorCode.REQUEST_NOT_FOUND)
    summary = (await summaries_by_id(conn, [request_id]))[str(request_id)]
    if already is not None and already(current):
        return Handled(request_id, summary, False)
    raise _conflict(step.action, current.status, summary)


def _open_to(agent: Agent) -> ColumnElement[bool]:
    """Waiting, or held by the agent (an admin: by anyone)."""
    return (r.c.status == RequestStatus.QUEUED.value) | (
        (r.c.status == RequestStatus.CLAIMED.value) & _holder_or_admin(agent))


def _holder_or_admin(agent: Agent) -> ColumnElement[bool]:
    if agent.role is Role.ADMIN:
        return r.c.id.is_not(None)
    return r.c.assigned_agent_id == agent.id


def held_reason(holder: Mapping[str, Any] | None) -> Reason:
    """Why a request a colleague holds cannot be taken: who holds it, when it says."""
    if holder is None:
        return ErrorCode.REQUEST_HELD.of()
    return ErrorCode.REQUEST_HELD_BY.of(name=holder["name"])


def _conflict(action: HandlingAction, status: str, request: RequestSummaryJson) -> Conflict:
    holder = request["assigned_agent"]
    why: Reason
    if status == RequestStatus.RESOLVED.value:
        why = ErrorCode.REQUEST_RESOLVED.of()
    elif status == RequestStatus.CLAIMED.value:
        why = held_reason(holder)
    elif request["offer"] is not None:
        why = ErrorCode.REQUEST_OFFERED_TO.of(name=request["offer"]["agent"]["name"],
                                              until=request["offer"]["expires_at"] or "")
    else:
        why = ErrorCode.REQUEST_NOT_ACTIONABLE.of(action=action.value, status=status)
    return Conflict(why, {"status": status, "held_by": holder, "request": request})
