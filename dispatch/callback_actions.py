"""Calling a passenger back: "call now" and the outcome the dispatcher records.

Each is one write transaction, as in dispatch.actions: the request is read and locked, the
dispatcher's right to act checked, the request taken (calling back or recording an outcome
on a request nobody holds takes it, as a reply does; one a colleague holds, or one offered to
a colleague, answers 409 naming them), a handling event names the dispatcher, the
callback's facts go into the request's details (strings, as hub.calls keeps them), and an
outbox row carries the console event (request.callback_call, request.callback_outcome).

Details kept: `callback_called_at` (the last "call now"), `callback_attempts` (recorded
outcomes that did not reach the passenger), `callback_outcome` and `callback_outcome_at`
(the last one), and once the passenger is reached `callback` "done" and `callback_done_at`:
the request leaves the callbacks list and stays with the dispatcher to resolve.

A call the PBX placed resolves its request when the answered call ends (hub.calls). The
dispatcher who called (the request's last agent) may still record how it went: "reached"
leaves it resolved; any other outcome takes it back, held by them and still a callback.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatch.actions import MAX_NOTE_CHARS
from hub import schema
from hub.clock import utcnow
from hub.database import Database
from hub.errors import BadInput, Conflict, NotFound
from hub.model import Agent, HandlingAction, RequestStatus, Role
from hub.outbox import OutboxRelay, OutboxRow, new_row, write_rows
from hub.read_models import summaries_by_id
from hub.text import is_storable

r = schema.contact_requests
E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")


class CallbackOutcome(StrEnum):
    REACHED = "reached"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    WRONG_NUMBER = "wrong_number"
    LEFT_MESSAGE = "left_message"


OUTCOME_ACTIONS: Mapping[CallbackOutcome, HandlingAction] = {
    CallbackOutcome.REACHED: HandlingAction.CALLBACK_REACHED,
    CallbackOutcome.NO_ANSWER: HandlingAction.CALLBACK_NO_ANSWER,
    CallbackOutcome.BUSY: HandlingAction.CALLBACK_BUSY,
    CallbackOutcome.WRONG_NUMBER: HandlingAction.CALLBACK_WRONG_NUMBER,
    CallbackOutcome.LEFT_MESSAGE: HandlingAction.CALLBACK_LEFT_MESSAGE,
}


@dataclass(frozen=True, slots=True)
class CallTarget:
    """Whom "call now" calls: the request (as consoles see it after the call was recorded),
    its reference, and the passenger's number in E.164."""

    request: dict[str, Any]
    reference: str
    number: str


class Callbacks:
    def __init__(self, db: Database, relay: OutboxRelay) -> None:
        self._db = db
        self._relay = relay

    async def call(self, request_id: uuid.UUID, agent: Agent) -> CallTarget:
        """Record that `agent` calls the passenger back now; the number to call."""
        now = utcnow()
        async with self._db.write() as conn:
            row = await _locked(conn, request_id, agent)
            if row.status == RequestStatus.RESOLVED.value:
                raise Conflict("the request is resolved: reopen it to call back",
                               {"status": row.status})
            await _may_take(conn, row, agent, now)
            number = await _number(conn, row)
            details = {**(row.details or {}), "callback_called_at": now.isoformat()}
            await conn.execute(update(r).where(r.c.id == request_id).values(
                **_taken(agent, now), details=details,
                first_response_at=func.coalesce(r.c.first_response_at, now)))
            summary, event = await _announce(conn, "request.callback_call", request_id, agent,
                                             HandlingAction.CALLBACK_CALL, now, None, {})
        self._relay.notify([event])
        return CallTarget(summary, row.reference, number)

    async def record_outcome(self, request_id: uuid.UUID, agent: Agent,
                             outcome: CallbackOutcome, note: str | None) -> dict[str, Any]:
        """Record how calling back went; the request as consoles now see it."""
        note = _checked_note(note)
        now = utcnow()
        async with self._db.write() as conn:
            row = await _locked(conn, request_id, agent)
            values: dict[str, Any]
            if row.status != RequestStatus.RESOLVED.value:
                await _may_take(conn, row, agent, now)
                values = _taken(agent, now)
            elif row.last_agent_id != agent.id:
                raise Conflict("the request is resolved", {"status": row.status})
            elif outcome is CallbackOutcome.REACHED:
                values = {"last_agent_id": agent.id, "updated_at": now,
                          "version": r.c.version + 1}
            else:  # the PBX's call ended it, but the passenger was not reached after all
                values = {**_taken(agent, now), "ended_at": None}
            values["details"] = _after(dict(row.details or {}), outcome, now)
            await conn.execute(update(r).where(r.c.id == request_id).values(**values))
            summary, event = await _announce(conn, "request.callback_outcome", request_id,
                                             agent, OUTCOME_ACTIONS[outcome], now, note,
                                             {"outcome": outcome.value})
        self._relay.notify([event])
        return summary


async def _announce(conn: AsyncConnection, kind: str, request_id: uuid.UUID, agent: Agent,
                    action: HandlingAction, now: datetime, note: str | None,
                    extra: dict[str, Any]) -> tuple[dict[str, Any], OutboxRow]:
    """The handling event and the console event, in the caller's transaction."""
    await conn.execute(insert(schema.handling_events), {
        "id": uuid.uuid4(), "request_id": request_id, "agent_id": agent.id,
        "action": action.value, "target_agent_id": None, "note": note, "at": now,
    })
    summary = (await summaries_by_id(conn, [request_id]))[str(request_id)]
    event = new_row("events", {
        "type": kind, "request": summary, **extra,
        "handling": {"action": action.value, "at": now.isoformat(), "note": note,
                     "agent": {"id": str(agent.id), "name": agent.name}},
    })
    await write_rows(conn, [event])
    return summary, event


async def _locked(conn: AsyncConnection, request_id: uuid.UUID, agent: Agent) -> Any:
    """The request, locked until commit; 404 for one the agent may not see."""
    row = (await conn.execute(
        select(r.c.id, r.c.reference, r.c.status, r.c.contact_id, r.c.details,
               r.c.assigned_agent_id, r.c.last_agent_id, r.c.offered_agent_id,
               r.c.offer_expires_at)
        .where(r.c.id == request_id).with_for_update())).first()
    if row is None or (agent.role is Role.EXTERNAL and row.assigned_agent_id != agent.id):
        raise NotFound("no such request")
    return row


async def _may_take(conn: AsyncConnection, row: Any, agent: Agent, now: datetime) -> None:
    """409 when a colleague holds the request, or has it offered to them."""
    if row.status == RequestStatus.CLAIMED.value and row.assigned_agent_id != agent.id:
        summary = (await summaries_by_id(conn, [row.id]))[str(row.id)]
        holder = summary["assigned_agent"]
        raise Conflict(f"the request is held by {holder['name'] if holder else 'another'}",
                       {"status": row.status, "held_by": holder, "request": summary})
    offered_to_other = (row.offered_agent_id not in (None, agent.id)
                        and row.offer_expires_at is not None and row.offer_expires_at > now)
    if offered_to_other and agent.role is not Role.ADMIN:
        raise Conflict("the request is offered to a colleague; wait for the offer to end",
                       {"status": row.status})


def _taken(agent: Agent, now: datetime) -> dict[str, Any]:
    """The request held by `agent`; service starts now if it had not (dispatch.actions)."""
    return {"status": RequestStatus.CLAIMED.value, "assigned_agent_id": agent.id,
            "offered_agent_id": None, "offer_expires_at": None, "last_agent_id": agent.id,
            "updated_at": now, "version": r.c.version + 1,
            "service_started_at": func.coalesce(r.c.service_started_at, now),
            "queued_at": func.coalesce(r.c.queued_at, now)}


async def _number(conn: AsyncConnection, row: Any) -> str:
    """The number the callback asks for, else the passenger's newest phone number."""
    wanted = (row.details or {}).get("callback_number", "")
    if isinstance(wanted, str) and E164.match(wanted):
        return wanted
    i = schema.contact_identities
    found = await conn.scalar(
        select(i.c.value).where(i.c.contact_id == row.contact_id, i.c.kind == "phone")
        .order_by(i.c.created_at.desc()).limit(1))
    if not isinstance(found, str) or not E164.match(found):
        raise BadInput("the passenger has no phone number to call", {"number": "none"})
    return found


def _after(details: dict[str, Any], outcome: CallbackOutcome, now: datetime) -> dict[str, Any]:
    at = now.isoformat()
    details.update(callback_outcome=outcome.value, callback_outcome_at=at)
    if outcome is CallbackOutcome.REACHED:
        if details.get("callback") == "true":
            details["callback"] = "done"
        details["callback_done_at"] = at
    else:
        attempts = str(details.get("callback_attempts", "0"))
        details["callback_attempts"] = str((int(attempts) if attempts.isdigit() else 0) + 1)
    return details


def _checked_note(note: str | None) -> str | None:
    if note is None or not note.strip():
        return None
    note = note.strip()
    if not is_storable(note):
        raise BadInput("the note contains characters that cannot be stored",
                       {"note": "invalid_characters"})
    if len(note) > MAX_NOTE_CHARS:
        raise BadInput(f"the note is over {MAX_NOTE_CHARS} characters", {"note": "too long"})
    return note
