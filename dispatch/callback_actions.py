"""Calling a passenger back: "call now" and the outcome the dispatcher records.

Each is one write transaction in which hub.handling_callback changes the request (taking it
as a reply does; one a colleague holds, or one offered to a colleague, answers 409 naming
them), writes the handling event and the console event (request.callback_call,
request.callback_outcome); this module checks the note, finds the number to call and tells
the relay.

A call the PBX placed resolves its request when the answered call ends (hub.handling_calls).
The dispatcher who called (the request's last agent) may still record how it went:
"reached" leaves it resolved; any other outcome takes it back, held by them and still a
callback.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatch.actions import MAX_NOTE_CHARS
from hub import handling_callback, schema
from hub.clock import utcnow
from hub.database import Database
from hub.error_codes import ErrorCode
from hub.errors import BadInput
from hub.handling_callback import OUTCOME_ACTIONS
from hub.model import Agent, CallbackOutcome
from hub.outbox import OutboxRelay
from hub.read_json import RequestSummaryJson
from hub.text import is_storable

__all__ = ["OUTCOME_ACTIONS", "CallTarget", "CallbackOutcome", "Callbacks"]

r = schema.contact_requests
E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")


@dataclass(frozen=True, slots=True)
class CallTarget:
    """Whom "call now" calls: the request (as consoles see it after the call was recorded),
    its reference, and the passenger's number in E.164."""

    request: RequestSummaryJson
    reference: str
    number: str


class Callbacks:
    def __init__(self, db: Database, relay: OutboxRelay) -> None:
        self._db = db
        self._relay = relay

    async def call(self, request_id: uuid.UUID, agent: Agent) -> CallTarget:
        """Record that `agent` calls the passenger back now; the number to call."""
        async with self._db.write() as conn:
            done = await handling_callback.callback_call(conn, request_id, agent, at=utcnow())
            number = await _number(conn, request_id)
        self._relay.notify(list(done.events))
        return CallTarget(done.request, done.request["reference"], number)

    async def record_outcome(self, request_id: uuid.UUID, agent: Agent,
                             outcome: CallbackOutcome, note: str | None) -> RequestSummaryJson:
        """Record how calling back went; the request as consoles now see it."""
        note = _checked_note(note)
        async with self._db.write() as conn:
            done = await handling_callback.callback_outcome(conn, request_id, agent, outcome,
                                                            note, at=utcnow())
        self._relay.notify(list(done.events))
        return done.request


async def _number(conn: AsyncConnection, request_id: uuid.UUID) -> str:
    """The number the callback asks for, else the passenger's newest phone number."""
    row = (await conn.execute(select(r.c.contact_id, r.c.callback_number)
                              .where(r.c.id == request_id))).one()
    if row.callback_number and E164.match(row.callback_number):
        return str(row.callback_number)
    i = schema.contact_identities
    found = await conn.scalar(
        select(i.c.value).where(i.c.contact_id == row.contact_id, i.c.kind == "phone")
        .order_by(i.c.created_at.desc()).limit(1))
    if not isinstance(found, str) or not E164.match(found):
        raise BadInput(ErrorCode.CALLBACK_NO_NUMBER, {"number": "none"})
    return found


def _checked_note(note: str | None) -> str | None:
    if note is None or not note.strip():
        return None
    note = note.strip()
    if not is_storable(note):
        raise BadInput(ErrorCode.NOTE_UNSTORABLE,
                       {"note": "invalid_characters"})
    if len(note) > MAX_NOTE_CHARS:
        raise BadInput(ErrorCode.NOTE_TOO_LONG.of(max=MAX_NOTE_CHARS), {"note": "too_long"})
    return note
