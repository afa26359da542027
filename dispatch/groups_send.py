"""A message to a staff group: one transaction writes its thread, the message (one per chosen
channel), a delivery per recipient and the outbox rows; the outbound worker sends them,
retrying what the gateway fails (dispatch.outbound), and consoles see each state change.

The thread is a contact request of its own: its contact is the group (by the group's name,
no identities, so no passenger's message lands there by accident), its channel the first one
chosen. It is **claimed by the sender**: it is theirs under "mine", and members' answers
(hub.group_threads) reach them live without waiting in the shared queue. Once they resolve
it, an answer reopens it into the queue, where any dispatcher sees it. The same key sends
once, as replies do.

Members who opted out of SMS get no SMS: their delivery is recorded as failed with the reason,
so the sender sees who was not told. A number or address two members share gets one copy.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatch.replies import MAX_REPLY_CHARS, adapter_of_gateway
from hub import audit, handling_take, schema
from hub.clock import utcnow
from hub.database import Database
from hub.epoch import timing_copies
from hub.error_codes import ErrorCode
from hub.errors import BadInput, NotFound, OperatorMustAct
from hub.events import EventType
from hub.ingest_store import REQUEST_COUNTER, preview_of
from hub.lanes import DEFAULT_LANE, DEFAULT_PRIORITY
from hub.model import Agent, Channel, DeliveryState, RequestStatus
from hub.opt_outs import opted_out as opted_out_numbers
from hub.outbox import OutboxRelay, OutboxRow, new_row, write_rows
from hub.read_json import RequestSummaryJson
from hub.read_models import summaries_by_id
from hub.reference import format_reference
from hub.text import MAX_SUBJECT_CHARS, is_storable, subject_problem

GROUP_KEY_PREFIX = "group:"
GROUP_CHANNELS = (Channel.SMS, Channel.EMAIL)
OPTED_OUT = "opted out of SMS ({keyword}, {at:%Y-%m-%d}): not sent"

r, m, d = schema.contact_requests, schema.messages, schema.deliveries
sent_to = schema.group_messages


@dataclass(frozen=True, slots=True)
class GroupSend:
    group_message_id: uuid.UUID
    request: RequestSummaryJson  # the thread's summary
    recipients: int
    changed: bool  # False when the key was seen before


@dataclass(frozen=True, slots=True)
class _Recipient:
    address: str
    names: tuple[str, ...]


class GroupMessages:
    """`senders` maps each channel to the adapters that send on it, the preferred first."""

    def __init__(self, db: Database, relay: OutboxRelay,
                 senders: Mapping[Channel, list[str]]) -> None:
        self._db = db
        self._relay = relay
        self._senders = senders

    async def send(self, group_id: uuid.UUID, agent: Agent, *, body: str, key: str,
                   channels: Sequence[Channel], subject: str | None = None) -> GroupSend:
        body = body.strip()
        subject = subject.strip() if subject and subject.strip() else None
        _check(body, subject, key, channels)
        via = {channel: self._sender_for(channel) for channel in channels}
        existing = await self._existing(group_id, key)
        if existing is not None:
            return existing
        try:
            async with self._db.write() as conn:
                done, rows = await _write(conn, group_id, agent, body=body, key=key,
                                          subject=subject, via=via, senders=self._senders)
        except IntegrityError:
            # The same key committed by a concurrent resend: that one is the message.
            existing = await self._existing(group_id, key)
            if existing is None:
                raise
            return existing
        self._relay.notify(rows)
        return done

    async def _existing(self, group_id: uuid.UUID, key: str) -> GroupSend | None:
        async with self._db.read() as conn:
            found = (await conn.execute(
                select(sent_to.c.id, sent_to.c.group_id, sent_to.c.request_id)
                .join(m, m.c.request_id == sent_to.c.request_id)
                .where(m.c.idempotency_key == GROUP_KEY_PREFIX + key,
                       m.c.direction == "outbound").limit(1)
            )).first()
            if found is None:
                return None
            if found.group_id != group_id:
                raise BadInput(ErrorCode.CLIENT_KEY_REUSED_GROUP,
                               {"client_key": "reused"})
            count = await conn.scalar(select(func.count()).select_from(d).join(
                m, m.c.id == d.c.message_id).where(
                d.c.request_id == found.request_id,
                m.c.idempotency_key == GROUP_KEY_PREFIX + key))
            summary = (await summaries_by_id(conn, [found.request_id]))[str(found.request_id)]
        return GroupSend(found.id, summary, int(count or 0), changed=False)

    def _sender_for(self, channel: Channel) -> str:
        names = self._senders.get(channel)
        if not names:
            raise BadInput(ErrorCode.GROUP_CHANNEL_DISABLED.of(channel=channel.value),
                           {"channels": "not_enabled"})
        return names[0]


def _check(body: str, subject: str | None, key: str, channels: Sequence[Channel]) -> None:
    if not key or len(key) > 100:
        raise BadInput(ErrorCode.GROUP_CLIENT_KEY_INVALID,
                       {"client_key": "required"})
    if not channels or not set(channels) <= set(GROUP_CHANNELS):
        raise BadInput(ErrorCode.GROUP_CHANNELS_INVALID, {"channels": "invalid"})
    if not body:
        raise BadInput(ErrorCode.MESSAGE_EMPTY, {"body": "required"})
    if problem := subject_problem(subject):
        raise BadInput(ErrorCode.SUBJECT_INVALID.of(max=MAX_SUBJECT_CHARS), {"subject": problem})
    if not is_storable(body) or (subject is not None and not is_storable(subject)):
        raise BadInput(ErrorCode.MESSAGE_UNSENDABLE,
                       {"body": "invalid_characters"})
    limit = min(MAX_REPLY_CHARS[channel] for channel in channels)
    if len(body) > limit:
        raise BadInput(ErrorCode.MESSAGE_TOO_LONG.of(max=limit),
                       {"body": "too_long"})


async def _write(conn: AsyncConnection, group_id: uuid.UUID, agent: Agent, *, body: str,
                 key: str, subject: str | None, via: Mapping[Channel, str],
                 senders: Mapping[Channel, list[str]]) -> tuple[GroupSend, list[OutboxRow]]:
    group = (await conn.execute(select(schema.staff_groups)
                                .where(schema.staff_groups.c.id == group_id))).first()
    if group is None:
        raise NotFound(ErrorCode.GROUP_NOT_FOUND)
    recipients = await _recipients(conn, group_id, list(via))
    if not any(recipients.values()):
        raise BadInput(ErrorCode.GROUP_NO_RECIPIENTS,
                       {"channels": "no_recipients"})
    now = utcnow()
    group_message_id = uuid.uuid4()
    request_id = await _open_thread(conn, group, body, list(via), group_message_id, now)
    await conn.execute(insert(sent_to), {
        "id": group_message_id, "group_id": group_id, "request_id": request_id,
        "channels": [c.value for c in via], "created_by": agent.id, "created_at": now})
    opted_out = await _opted_out(conn, [x.address for x in recipients.get(Channel.SMS, [])])
    delivery_ids: list[uuid.UUID] = []
    about = {"id": str(group_id), "name": group.name, "message_id": str(group_message_id)}
    gateways = await _gateways_of(conn, [x.address for x in recipients.get(Channel.SMS, [])])
    for channel, found in recipients.items():
        if found:
            delivery_ids += await _message(
                conn, request_id, channel, found, body=body, key=key, via=via[channel],
                adapters={x.address: adapter_of_gateway(senders[channel], gateways.get(
                    x.address)) for x in found} if channel is Channel.SMS else {},
                subject=(subject or group.name) if channel is Channel.EMAIL else None,
                agent=agent, group=about, opted_out=opted_out, now=now)
    total = sum(len(found) for found in recipients.values())
    await audit.record(conn, "group.message", agent_id=agent.id, subject=str(group_message_id),
                       detail={"group_id": str(group_id), "channels": [c.value for c in via],
                               "recipients": total, "opted_out": total - len(delivery_ids)})
    rows = [new_row("outbound", {"delivery_id": str(i)}) for i in delivery_ids]
    await write_rows(conn, rows)
    done = await handling_take.reply_sent(conn, request_id, agent, at=now,
                                          kind=EventType.REQUEST_GROUP_MESSAGE,
                                          extra={"group": about})
    return GroupSend(group_message_id, done.request, total, changed=True), [*rows, *done.events]


async def _recipients(conn: AsyncConnection, group_id: uuid.UUID,
                      channels: list[Channel]) -> dict[Channel, list[_Recipient]]:
    """Per channel, each number or address once, with the names of the members it reaches."""
    members = schema.group_members
    rows = (await conn.execute(select(members.c.name, members.c.phone, members.c.email)
                               .where(members.c.group_id == group_id)
                               .order_by(members.c.name, members.c.id))).all()
    found: dict[Channel, list[_Recipient]] = {}
    for channel in channels:
        names: dict[str, list[str]] = {}
        for row in rows:
            address = row.phone if channel is Channel.SMS else row.email
            if address:
                names.setdefault(address, []).append(row.name)
        found[channel] = [_Recipient(a, tuple(n)) for a, n in names.items()]
    return found


async def _open_thread(conn: AsyncConnection, group: Any, body: str,
                       channels: list[Channel], group_message_id: uuid.UUID,
                       now: datetime) -> uuid.UUID:
    """The thread's request on the group's contact, waiting until the sender's message
    takes it (hub.handling_take.reply_sent)."""
    number = await conn.scalar(
        update(schema.counters).where(schema.counters.c.name == REQUEST_COUNTER)
        .values(value=schema.counters.c.value + 1).returning(schema.counters.c.value))
    if number is None:
        raise OperatorMustAct("the request counter is missing: run `taxiconnect migrate`")
    request_id = uuid.uuid4()
    row = {
        "id": request_id, "number": int(number), "reference": format_reference(int(number)),
        "contact_id": await _group_contact(conn, group, now), "channel": channels[0].value,
        "status": RequestStatus.QUEUED.value, "lane": DEFAULT_LANE,
        "priority": DEFAULT_PRIORITY, "preview": preview_of(body), "version": 1,
        "details": {"group_id": str(group.id), "group_name": group.name,
                    "group_message_id": str(group_message_id)},
        "case_started_at": now, "queued_at": now, "last_message_at": now, "updated_at": now,
    }
    await conn.execute(insert(r), row | timing_copies(row))
    return request_id


async def _group_contact(conn: AsyncConnection, group: Any, now: datetime) -> uuid.UUID:
    """The contact of the group's earlier threads (named anew if the group was renamed), or
    a new one: the group's messages gather on one card."""
    c = schema.contacts
    found = await conn.scalar(
        select(r.c.contact_id).join(sent_to, sent_to.c.request_id == r.c.id)
        .where(sent_to.c.group_id == group.id)
        .order_by(sent_to.c.created_at.desc()).limit(1))
    if found is not None:
        await conn.execute(update(c).where(c.c.id == found, c.c.name != group.name)
                           .values(name=group.name, updated_at=now))
        return uuid.UUID(str(found))
    contact_id = uuid.uuid4()
    await conn.execute(insert(c), {"id": contact_id, "name": group.name, "created_at": now,
                                   "updated_at": now})
    return contact_id


async def _opted_out(conn: AsyncConnection, phones: list[str]) -> dict[str, str]:
    found = await opted_out_numbers(conn, phones)
    return {phone: OPTED_OUT.format(keyword=row.keyword, at=row.at)
            for phone, row in found.items()}


async def _gateways_of(conn: AsyncConnection, numbers: list[str]) -> dict[str, str]:
    """The gateway each number's newest SMS to us came through: a member who texts through
    Vonage is answered through Vonage (a gateway sends only from numbers it owns)."""
    if not numbers:
        return {}
    i = schema.contact_identities
    rows = await conn.execute(
        select(i.c.value, m.c.details).select_from(
            i.join(r, r.c.contact_id == i.c.contact_id).join(m, m.c.request_id == r.c.id))
        .where(i.c.kind == "phone", i.c.value.in_(numbers), m.c.channel == Channel.SMS.value,
               m.c.direction == "inbound")
        .order_by(m.c.created_at.desc()))
    found: dict[str, str] = {}
    for number, details in rows:
        gateway = (details or {}).get("gateway")
        if gateway and number not in found:
            found[number] = str(gateway)
    return found


async def _message(conn: AsyncConnection, request_id: uuid.UUID, channel: Channel,
                   recipients: list[_Recipient], *, body: str, key: str, via: str,
                   adapters: Mapping[str, str],
                   subject: str | None, agent: Agent, group: dict[str, str],
                   opted_out: Mapping[str, str], now: datetime) -> list[uuid.UUID]:
    """One channel's message and its deliveries; the ids of those to send."""
    message_id = uuid.uuid4()
    # Email: each recipient's copy gets a Message-ID of its own (channels/email/send.py), so
    # a bounce names the one it failed for and the gateway ids stay unique.
    thread = {"per_recipient": "1"} if channel is Channel.EMAIL else {}
    await conn.execute(insert(m), {
        "id": message_id, "request_id": request_id, "channel": channel.value,
        "direction": "outbound", "idempotency_key": GROUP_KEY_PREFIX + key,
        "subject": subject, "body": body, "agent_id": agent.id, "created_at": now,
        "details": {"to": group["name"], "via": via, "thread": thread, "group": group,
                    "recipients": {x.address: ", ".join(x.names) for x in recipients}},
    })
    rows, to_send = [], []
    for recipient in recipients:
        delivery_id = uuid.uuid4()
        refused = opted_out.get(recipient.address) if channel is Channel.SMS else None
        rows.append({
            "id": delivery_id, "message_id": message_id, "request_id": request_id,
            "adapter": adapters.get(recipient.address, via), "recipient": recipient.address,
            "attempts": 0,
            "state": (DeliveryState.FAILED if refused else DeliveryState.QUEUED).value,
            "reason": refused, "next_attempt_at": None if refused else now,
            "created_at": now, "updated_at": now,
        })
        if not refused:
            to_send.append(delivery_id)
    await conn.execute(insert(d), rows)
    return to_send
