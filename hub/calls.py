"""Phone calls: each PBX event (a call rings, is answered, ends) as one idempotent step.

A call reaches the passenger's request through ingest like any other contact (channel
phone, idempotency key `provider:call_key`), so it threads into the passenger's open
request; then it gets a row of its own. An answer claims the request for the answering
agent; the hang-up of an answered call resolves it (and any other callback request of the
number); an inbound call nobody answered turns the request into a callback request that
sorts above ordinary ones, whatever cause the PBX gives. A call's state only moves forward
(ringing, answered, ended): a repeated or late event matches no row and changes nothing (an
answer after the hang-up is logged and ignored: the missed call's callback stands).

A call answered by someone the hub does not know as an agent (a PBX user without a
matching `phone_login`, `phone`, login or name) starts the request's service at the answer
without claiming it; its hang-up resolves the request with no agent, service start and end
taken from the call. No handling event is written: none was an agent's action.

While an announcement-only service notice covers the phone, `record` keeps nothing of an
inbound call it does not know yet: every phone adapter goes through this one door.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from hub import schema
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
from hub.errors import AnnouncementOnly, BadInput, RetryLater
from hub.ingest import Ingestor
from hub.model import (
    OPEN_STATUSES,
    Agent,
    Channel,
    HandlingAction,
    InboundContact,
    RequestStatus,
)
from hub.notices import Notice, NoticeBoard
from hub.outbox import OutboxRelay, OutboxRow, new_row, write_rows
from hub.read_models import call_json, summaries_by_id
from hub.settings import PhoneSettings

log = logging.getLogger(__name__)

k, r = schema.calls, schema.contact_requests
CALLBACK_PRIORITY = 100  # above every ordinary request (hub.lanes.DEFAULT_PRIORITY is 0)
ENDED_UNSEEN = "endedUnseen"  # the cause of a call that ended while the hub was not told
OPEN = [s.value for s in OPEN_STATUSES]


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
            raise RetryLater("the database is not available", retry_after_s=5) from exc

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
            raise RetryLater("the database is not available", retry_after_s=5) from exc
        return [CallEvent(provider=provider, call_key=row.call_key, kind=CallKind.HANGUP,
                          direction=CallDirection(row.direction), caller=row.caller,
                          called=row.called, at=before, cause=ENDED_UNSEEN,
                          missed=row.answered_at is None) for row in rows]

    async def find(self, provider: str, call_key: str) -> dict[str, Any] | None:
        """The stored call with this provider key, if any."""
        async with self._db.read() as conn:
            row = (await conn.execute(select(k).where(k.c.provider == provider,
                                                      k.c.call_key == call_key))).first()
        return dict(row._mapping) if row else None

    async def _open(self, event: CallEvent) -> tuple[dict[str, Any], bool]:
        """The call's first event: its contact on the passenger's request, then its row."""
        call_id = call_id_of(event.provider, event.call_key)
        passenger = event.passenger
        if passenger != ANONYMOUS and not passenger.startswith("+"):
            raise BadInput("the passenger's number is not a phone number",
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
        changes: list[OutboxRow] = []
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
                return dict(found._mapping), False
            await self._announce(conn, changes, "call.ringing", result.request_id, call_id,
                                 profile=True)
        self._relay.notify(changes)
        return row, True

    async def _answer(self, call: dict[str, Any], event: CallEvent) -> bool:
        changes: list[OutboxRow] = []
        async with self._db.write() as conn:
            agent = await self._agent_for(conn, event)
            moved = await conn.execute(
                update(k).where(k.c.id == call["id"], k.c.state == CallState.RINGING.value)
                .values(state=CallState.ANSWERED.value, answered_at=event.at,
                        agent_id=agent.id if agent else None, updated_at=utcnow()))
            if moved.rowcount != 1:
                state = (await conn.execute(
                    select(k.c.state).where(k.c.id == call["id"]))).scalar_one()
                if state == CallState.ENDED.value:
                    log.info("%s answer after the call %s ended: ignored", event.provider,
                             call["id"])
                return False
            handling = None
            if agent is not None:
                handling = await self._claim(conn, call["request_id"], agent, event.at)
            else:
                log.warning("%s call %s answered by nobody the hub knows as an agent (%s): "
                            "its request is resolved without an agent when it ends",
                            event.provider, call["id"],
                            ", ".join((*event.agent_names, *event.agent_numbers)) or "unnamed")
                await self._serve_unknown(conn, call["request_id"], event.at)
            await self._announce(conn, changes, "call.answered", call["request_id"],
                                 call["id"], profile=True, handling=handling)
        self._relay.notify(changes)
        return True

    async def _hang_up(self, call: dict[str, Any], event: CallEvent) -> bool:
        changes: list[OutboxRow] = []
        async with self._db.write() as conn:
            current = (await conn.execute(
                select(k.c.state, k.c.agent_id, k.c.started_at, k.c.answered_at)
                .where(k.c.id == call["id"]).with_for_update())).one()
            if current.state == CallState.ENDED.value:
                return False
            await conn.execute(
                update(k).where(k.c.id == call["id"], k.c.state == current.state)
                .values(state=CallState.ENDED.value, ended_at=event.at,
                        cause=(event.cause or "")[:32] or None, updated_at=utcnow()))
            request_id = call["request_id"]
            answered = current.answered_at is not None
            kind, handling = "call.ended", None
            agent = (await get_agent(conn, current.agent_id)
                     if answered and current.agent_id is not None else None)
            if agent is not None:  # agents are deactivated, never deleted
                contact_id = await _lock_passenger(conn, request_id)
                handling = await self._resolve(conn, request_id, agent, event.at,
                                               "call ended")
                await self._close_callbacks(conn, changes, contact_id, request_id, agent,
                                            event.at)
            elif answered:
                await self._resolve_unknown(conn, request_id, current.answered_at, event.at)
            elif event.direction is CallDirection.IN:  # nobody answered: a missed call
                kind = "request.callback"
                await self._mark_callback(conn, request_id, event, current.started_at)
            await self._announce(conn, changes, kind, request_id, call["id"],
                                 handling=handling)
        self._relay.notify(changes)
        return True

    async def _claim(self, conn: AsyncConnection, request_id: uuid.UUID, agent: Agent,
                     at: datetime) -> dict[str, Any] | None:
        """The answering agent takes the request, whoever held it: the PBX reports a fact."""
        done = await conn.execute(
            update(r).where(r.c.id == request_id, r.c.status.in_(OPEN))
            .values(status=RequestStatus.CLAIMED.value, assigned_agent_id=agent.id,
                    **_served(at), first_response_at=func.coalesce(r.c.first_response_at, at),
                    **_touched(agent)))
        if done.rowcount != 1:
            return None
        return await _handled(conn, request_id, agent, HandlingAction.CLAIM, at, "answered call")

    async def _resolve(self, conn: AsyncConnection, request_id: uuid.UUID, agent: Agent,
                       at: datetime, note: str, *,
                       anyone: bool = False) -> dict[str, Any] | None:
        holder = r.c.id.is_not(None) if anyone else (
            r.c.assigned_agent_id.is_(None) | (r.c.assigned_agent_id == agent.id))
        done = await conn.execute(
            update(r).where(r.c.id == request_id, r.c.status.in_(OPEN), holder)
            .values(status=RequestStatus.RESOLVED.value, assigned_agent_id=None, ended_at=at,
                    **_served(at), **_touched(agent)))
        if done.rowcount != 1:
            return None
        return await _handled(conn, request_id, agent, HandlingAction.RESOLVE, at, note)

    async def _serve_unknown(self, conn: AsyncConnection, request_id: uuid.UUID,
                             at: datetime) -> None:
        """Someone the hub does not know answered: service starts, nobody holds it."""
        await conn.execute(
            update(r).where(r.c.id == request_id, r.c.status.in_(OPEN))
            .values(**_served(at), first_response_at=func.coalesce(r.c.first_response_at, at),
                    updated_at=utcnow(), version=r.c.version + 1))

    async def _resolve_unknown(self, conn: AsyncConnection, request_id: uuid.UUID,
                               answered_at: datetime, at: datetime) -> None:
        """The call someone unknown answered is over: the passenger was served, so the
        request is resolved with no agent, unless a dispatcher has taken it meanwhile."""
        await conn.execute(
            update(r).where(r.c.id == request_id, r.c.status.in_(OPEN),
                            r.c.assigned_agent_id.is_(None))
            .values(status=RequestStatus.RESOLVED.value, ended_at=at, **_served(answered_at),
                    first_response_at=func.coalesce(r.c.first_response_at, answered_at),
                    updated_at=utcnow(), version=r.c.version + 1))

    async def _close_callbacks(self, conn: AsyncConnection, changes: list[OutboxRow],
                               contact_id: uuid.UUID, request_id: uuid.UUID, agent: Agent,
                               at: datetime) -> None:
        """The passenger was reached: their other open callback requests are done too."""
        others = (await conn.execute(
            select(r.c.id, r.c.details).where(r.c.contact_id == contact_id,
                                              r.c.status.in_(OPEN), r.c.id != request_id)
        )).all()
        for other_id, details in others:
            if (details or {}).get("callback") != "true":
                continue
            handling = await self._resolve(conn, other_id, agent, at, "called back",
                                           anyone=True)
            if handling is not None:
                await self._announce(conn, changes, "request.resolve", other_id, None,
                                     handling=handling)

    async def _mark_callback(self, conn: AsyncConnection, request_id: uuid.UUID,
                             event: CallEvent, started_at: datetime) -> None:
        """Nobody answered: the request waits for a callback. Misses within the repeat
        window fold into one callback (its count grows, its deadline stays); a miss after
        it starts the callback over."""
        found = (await conn.execute(
            select(r.c.status, r.c.priority, r.c.details).where(r.c.id == request_id)
            .with_for_update())).one()
        details = dict(found.details or {})
        at = event.at
        previous = _parse_time(details.get("last_missed_at"))
        window = timedelta(minutes=self._phone.repeat_window_minutes)
        if details.get("callback") == "true" and previous and at - previous <= window:
            details["missed_calls"] = str(int(details.get("missed_calls", "1")) + 1)
        else:
            details.update({
                "missed_calls": "1", "missed_at": at.isoformat(),
                "callback_due_at": (at + timedelta(minutes=self._phone.callback_due_minutes))
                .isoformat(),
            })
        details["last_missed_at"] = at.isoformat()
        details["missed_wait_s"] = str(max(0, round((at - started_at).total_seconds())))
        values: dict[str, Any] = {"details": details}
        if event.passenger != ANONYMOUS:
            details.update({"callback": "true", "callback_number": event.passenger})
            values["priority"] = max(found.priority, CALLBACK_PRIORITY)
        if found.status == RequestStatus.RESOLVED.value:  # closed while it rang
            values.update(status=RequestStatus.QUEUED.value, ended_at=None, queued_at=at)
        await conn.execute(update(r).where(r.c.id == request_id).values(
            **values, updated_at=utcnow(), version=r.c.version + 1))

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

    async def _announce(self, conn: AsyncConnection, changes: list[OutboxRow], kind: str,
                        request_id: uuid.UUID, call_id: uuid.UUID | None, *,
                        profile: bool = False,
                        handling: dict[str, Any] | None = None) -> None:
        summary = (await summaries_by_id(conn, [request_id]))[str(request_id)]
        event: dict[str, Any] = {"type": kind, "request": summary}
        if call_id is not None:
            agent = schema.agents
            row = (await conn.execute(
                select(k, agent.c.name.label("agent_name"))
                .outerjoin(agent, agent.c.id == k.c.agent_id).where(k.c.id == call_id)
            )).mappings().one()
            event["call"] = call_json(row)
        if profile:
            event["caller"] = await caller_profile(conn, request_id)
        if handling is not None:
            event["handling"] = handling
        row_out = new_row("events", event)
        await write_rows(conn, [row_out])
        changes.append(row_out)


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


def _served(at: datetime) -> dict[str, Any]:
    """Service starts at the first claim or answer (see dispatch.actions)."""
    return {"service_started_at": func.coalesce(r.c.service_started_at, at),
            "queued_at": func.coalesce(r.c.queued_at, at)}


def _touched(agent: Agent) -> dict[str, Any]:
    return {"last_agent_id": agent.id, "updated_at": utcnow(), "version": r.c.version + 1}


async def _handled(conn: AsyncConnection, request_id: uuid.UUID, agent: Agent,
                   action: HandlingAction, at: datetime, note: str) -> dict[str, Any]:
    await conn.execute(insert(schema.handling_events), {
        "id": uuid.uuid4(), "request_id": request_id, "agent_id": agent.id,
        "action": action.value, "target_agent_id": None, "note": note, "at": at,
    })
    return {"action": action.value, "agent": {"id": str(agent.id), "name": agent.name},
            "at": at.isoformat(), "note": note}


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None
