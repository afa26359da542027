"""Phone calls: each PBX event (a call rings, is answered, ends) as one idempotent step.

A call reaches the passenger's request through ingest like any other contact (channel
phone, idempotency key `provider:call_key`), so it threads into the passenger's open
request; then it gets a row of its own. What each event does to the request (an answer
claims it, the hang-up of an answered call resolves it, a missed inbound call makes it a
callback) is hub.handling_calls's: this module keeps the calls. A call's state only moves forward
(ringing, answered, ended): a repeated or late event matches no row and changes nothing (an
answer after the hang-up is logged and ignored: the missed call's callback stands).

A call answered by someone the hub does not know as an agent (a PBX user without a
matching `phone_login`, `phone`, login or name) counts as answered by nobody.

While an announcement-only service notice covers the phone, `record` keeps nothing of an
inbound call it does not know yet: every phone adapter goes through this one door.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from hub import handling_calls, schema
from hub.agents import get_agent
from hub.call_events import (
    ANONYMOUS,
    CallDirection,
    CallEvent,
    CallKind,
    CallState,
    call_id_of,
    number_forms,
)
from hub.caller_profile import caller_profile
from hub.clock import utcnow
from hub.database import Database
from hub.error_codes import ErrorCode
from hub.errors import AnnouncementOnly, BadInput, RetryLater
from hub.events import EventType
from hub.handling import announce
from hub.ingest import Ingestor
from hub.model import Agent, Channel, InboundContact, Notice
from hub.notices import NoticeBoard
from hub.outbox import OutboxRelay
from hub.read_models import call_json
from hub.settings import PhoneSettings

log = logging.getLogger(__name__)

k = schema.calls
ENDED_UNSEEN = "endedUnseen"  # the cause of a call that ended while the hub was not told


@dataclass(frozen=True, slots=True)
class StoredCall:
    """A call the hub has a row for: what its later events need to find it and its request."""

    id: uuid.UUID
    request_id: uuid.UUID


class CallStore:
    """The calls of every phone adapter, each event applied in its own transaction(s) and
    announced to the consoles (call.ringing, call.answered, call.ended, request.callback)."""

    def __init__(self, db: Database, ingestor: Ingestor, relay: OutboxRelay,
                 phone: PhoneSettings, notices: NoticeBoard | None = None) -> None:
        self._db = db
        self._ingestor = ingestor
        self._relay = relay
        self._phone = phone
        self._notices = notices
        self.silenced = 0

    def __repr__(self) -> str:
        return f"<CallStore silenced={self.silenced}>"

    async def record(self, event: CallEvent) -> bool:
        """Apply one event once it is committed; False when it changed nothing (a repeat,
        a step the call is already past, or a new call an announcement-only notice keeps
        out). RetryLater when the database is away."""
        try:
            call = await self.find(event.provider, event.call_key)
            opened = False
            if call is None:
                if await self._announcement_only(event) is not None:
                    self.silenced += 1
                    return False
                try:
                    call, opened = await self._open(event)
                except AnnouncementOnly:  # published between the check and ingest's door
                    self.silenced += 1
                    return False
            if event.kind is CallKind.ANSWER:
                return await self._answer(call, event) or opened
            if event.kind is CallKind.HANGUP:
                return await self._hang_up(call, event) or opened
            return opened
        except (SQLAlchemyError, OSError) as exc:
            log.error("%s call event not stored: %s", event.provider, type(exc).__name__)
            raise RetryLater(ErrorCode.DATABASE_UNAVAILABLE, retry_after_s=5) from exc

    async def silencing(self, event: CallEvent) -> Notice | None:
        """The announcement-only notice that keeps this call out of the hub: an inbound
        call not known before the notice (one already recorded goes on to its end)."""
        notice = await self._announcement_only(event)
        if notice is None or await self.find(event.provider, event.call_key) is not None:
            return None
        return notice

    async def _announcement_only(self, event: CallEvent) -> Notice | None:
        if event.direction is not CallDirection.IN or self._notices is None:
            return None
        notice = await self._notices.find(Channel.PHONE, None, utcnow())
        return notice if notice is not None and notice.announcement_only else None

    async def unfinished(self, provider: str, before: datetime) -> list[CallEvent]:
        """The provider's calls not ended and last changed before `before`, each as the
        hang-up that ends it unseen: for an adapter that asks its PBX, after an outage,
        which calls are still up."""
        try:
            async with self._db.read() as conn:
                rows = (await conn.execute(
                    select(k.c.call_key, k.c.direction, k.c.caller, k.c.called,
                           k.c.answered_at)
                    .where(k.c.provider == provider, k.c.state != CallState.ENDED.value,
                           k.c.updated_at < before))).all()
        except (SQLAlchemyError, OSError) as exc:
            raise RetryLater(ErrorCode.DATABASE_UNAVAILABLE, retry_after_s=5) from exc
        return [CallEvent(provider=provider, call_key=row.call_key, kind=CallKind.HANGUP,
                          direction=CallDirection(row.direction), caller=row.caller,
                          called=row.called, at=before, cause=ENDED_UNSEEN,
                          missed=row.answered_at is None) for row in rows]

    async def find(self, provider: str, call_key: str) -> StoredCall | None:
        """The stored call with this provider key, if any."""
        async with self._db.read() as conn:
            row = (await conn.execute(select(k).where(k.c.provider == provider,
                                                      k.c.call_key == call_key))).first()
        return StoredCall(row.id, row.request_id) if row else None

    async def _open(self, event: CallEvent) -> tuple[StoredCall, bool]:
        """The call's first event: its contact on the passenger's request, then its row."""
        call_id = call_id_of(event.provider, event.call_key)
        passenger = event.passenger
        if passenger != ANONYMOUS and not passenger.startswith("+"):
            raise BadInput(ErrorCode.CALL_NUMBER_INVALID,
                           {"from" if event.direction is CallDirection.IN else "to": "invalid"})
        outbound = event.direction is CallDirection.OUT
        result = await self._ingestor.submit(InboundContact(
            channel=Channel.PHONE, idempotency_key=f"{event.provider}:{event.call_key}",
            received_at=event.at, body="Outgoing call" if outbound else "Incoming call",
            phone=None if passenger == ANONYMOUS else passenger,
            details={"call_id": str(call_id), "call_direction": event.direction.value,
                     **({} if outbound else {"to": event.called[:64]})},
            thread_reference=event.request_reference,
            reference_verified=event.request_reference is not None,  # the hub's own call
        ))
        row = {
            "id": call_id, "provider": event.provider, "call_key": event.call_key,
            "direction": event.direction.value, "caller": event.caller[:64],
            "called": event.called[:64], "state": CallState.RINGING.value, "cause": None,
            "agent_id": None, "request_id": result.request_id,
            "message_id": result.message_id, "started_at": event.at, "answered_at": None,
            "ended_at": None, "updated_at": utcnow(),
        }
        async with self._db.write() as conn:
            try:
                async with conn.begin_nested():
                    await conn.execute(insert(k), row)
            except IntegrityError:  # the same call's other event got here first
                found = (await conn.execute(select(k).where(k.c.id == call_id))).first()
                if found is None:
                    raise
                return StoredCall(found.id, found.request_id), False
            _, ringing = await announce(
                conn, EventType.CALL_RINGING, result.request_id,
                extra=await self._about(conn, result.request_id, call_id, profile=True))
        self._relay.notify([ringing])
        return StoredCall(call_id, result.request_id), True

    async def _answer(self, call: StoredCall, event: CallEvent) -> bool:
        async with self._db.write() as conn:
            agent = await self._agent_for(conn, event)
            moved = await conn.execute(
                update(k).where(k.c.id == call.id, k.c.state == CallState.RINGING.value)
                .values(state=CallState.ANSWERED.value, answered_at=event.at,
                        agent_id=agent.id if agent else None, updated_at=utcnow()))
            if moved.rowcount != 1:
                state = (await conn.execute(
                    select(k.c.state).where(k.c.id == call.id))).scalar_one()
                if state == CallState.ENDED.value:
                    log.info("%s answer after the call %s ended: ignored", event.provider,
                             call.id)
                return False
            if agent is None:
                log.warning("%s call %s answered by nobody the hub knows as an agent (%s): "
                            "its request is resolved without an agent when it ends",
                            event.provider, call.id,
                            ", ".join((*event.agent_names, *event.agent_numbers)) or "unnamed")
            done = await handling_calls.call_answered(
                conn, call.request_id, agent, at=event.at,
                extra=await self._about(conn, call.request_id, call.id, profile=True))
        self._relay.notify(list(done.events))
        return True

    async def _hang_up(self, call: StoredCall, event: CallEvent) -> bool:
        async with self._db.write() as conn:
            current = (await conn.execute(
                select(k.c.state, k.c.agent_id, k.c.started_at, k.c.answered_at)
                .where(k.c.id == call.id).with_for_update())).one()
            if current.state == CallState.ENDED.value:
                return False
            await conn.execute(
                update(k).where(k.c.id == call.id, k.c.state == current.state)
                .values(state=CallState.ENDED.value, ended_at=event.at,
                        cause=(event.cause or "")[:32] or None, updated_at=utcnow()))
            request_id = call.request_id
            about = await self._about(conn, request_id, call.id)
            if current.answered_at is None and event.direction is CallDirection.IN:
                done = await handling_calls.call_missed(
                    conn, request_id, at=event.at, rang_from=current.started_at,
                    number=None if event.passenger == ANONYMOUS else event.passenger,
                    window=timedelta(minutes=self._phone.repeat_window_minutes),
                    due_in=timedelta(minutes=self._phone.callback_due_minutes), extra=about)
            else:
                agent = (await get_agent(conn, current.agent_id)  # deactivated, never deleted
                         if current.agent_id is not None else None)
                done = await handling_calls.call_ended(
                    conn, request_id, agent, answered_at=current.answered_at, at=event.at,
                    extra=about)
        self._relay.notify(list(done.events))
        return True

    async def _agent_for(self, conn: AsyncConnection, event: CallEvent) -> Agent | None:
        """The agent the PBX names. A number (answering number, extension) is matched to
        the agent's phone or phone login; a user (generic CTI `user`, a queue member's
        name) to the phone login (docs/generic-cti.md), then the name or login."""
        a = schema.agents
        rows = (await conn.execute(select(a.c.id, a.c.name, a.c.login, a.c.phone,
                                          a.c.phone_login).where(a.c.active))).all()
        region = self._phone.default_region
        found = next((row.id for number in event.agent_numbers for row in rows
                      if number_forms(number, region)
                      & (number_forms(row.phone or "", region)
                         | number_forms(row.phone_login or "", region))), None)
        names = [n.strip() for n in event.agent_names if n.strip()]
        found = found or next((row.id for name in names for row in rows
                               if number_forms(name, region)
                               & number_forms(row.phone_login or "", region)), None)
        found = found or next((row.id for name in names for row in rows
                               if name.casefold() in (row.name.casefold(), row.login)), None)
        return await get_agent(conn, found) if found else None

    async def _about(self, conn: AsyncConnection, request_id: uuid.UUID,
                     call_id: uuid.UUID, *, profile: bool = False) -> dict[str, Any]:
        """What a call event tells consoles beside the request: the call, and on ringing
        and answering who the caller is."""
        agent = schema.agents
        row = (await conn.execute(
            select(k, agent.c.name.label("agent_name"))
            .outerjoin(agent, agent.c.id == k.c.agent_id).where(k.c.id == call_id)
        )).mappings().one()
        about: dict[str, Any] = {"call": call_json(row)}
        if profile:
            about["caller"] = await caller_profile(conn, request_id)
        return about
