"""A dispatcher's reply: stored with its delivery in one transaction, then sent by the
outbound worker over the request's own channel (or another one the passenger has).

The reply is idempotent on the composer's key: a resend after a network drop is stored once.
Replying to a request nobody holds takes it, as a claim would; a request another dispatcher
holds answers 409 naming the holder.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from hub import handling_take, schema
from hub.attachment_store import file_record
from hub.clock import utcnow
from hub.database import Database
from hub.error_codes import ErrorCode
from hub.errors import BadInput, NotFound
from hub.handling_take import Holding
from hub.model import Agent, Channel, DeliveryState, FileRef, Role
from hub.opt_outs import opted_out
from hub.outbox import OutboxRelay, new_row, write_rows
from hub.read_json import RequestSummaryJson
from hub.read_models import summaries_by_id
from hub.text import MAX_SUBJECT_CHARS, is_storable, subject_problem

r = schema.contact_requests
m = schema.messages

MAX_REPLY_CHARS: Mapping[Channel, int] = {Channel.SMS: 1600, Channel.EMAIL: 100_000}
REPLY_KEY_PREFIX = "reply:"


@dataclass(frozen=True, slots=True)
class Reply:
    request: RequestSummaryJson
    message_id: uuid.UUID
    changed: bool  # False when the composer's key was seen before


class Replies:
    """`senders` maps each channel that can answer to the adapter names that send on it,
    the preferred one first."""

    def __init__(self, db: Database, relay: OutboxRelay,
                 senders: Mapping[Channel, list[str]]) -> None:
        self._db = db
        self._relay = relay
        self._senders = senders

    async def reply(self, request_id: uuid.UUID, agent: Agent, *, body: str, key: str,
                    channel: Channel | None = None, subject: str | None = None,
                    attachments: Sequence[FileRef] = ()) -> Reply:
        """`attachments`: files uploaded for this request (dispatch.upload_api), sent with
        an email reply and listed in its details as a mailed-in message lists its own."""
        body = body.strip()
        if not key or len(key) > 100:
            raise BadInput(ErrorCode.REPLY_CLIENT_KEY_INVALID,
                           {"client_key": "required"})
        existing = await self._existing(request_id, key, agent)
        if existing is not None:
            return existing
        now = utcnow()
        try:
            async with self._db.write() as conn:
                request = await self._request_for(conn, request_id, agent)
                channel = channel or await self._default_channel(conn, request)
                _check_text(channel, body, subject)
                if attachments and channel is not Channel.EMAIL:
                    raise BadInput(ErrorCode.FILES_ONLY_EMAIL.of(channel=channel.value),
                                   {"attachments": "email_only"})
                last = await last_inbound(conn, request_id, channel)
                via = sender_for(self._senders, channel, last)
                recipient = await recipient_of(conn, request, channel, last)
                if channel is Channel.SMS:
                    await _refuse_opted_out(conn, recipient)
                message_id, delivery_id = uuid.uuid4(), uuid.uuid4()
                thread = thread_of(channel, last)
                details: dict[str, Any] = {"to": recipient, "via": via, "thread": thread}
                if attachments:
                    # A JSON text, as a mailed-in message's details list its files.
                    details["attachments"] = json.dumps([file_record(f) for f in attachments])
                await conn.execute(insert(m), {
                    "id": message_id, "request_id": request_id, "channel": channel.value,
                    "direction": "outbound", "idempotency_key": REPLY_KEY_PREFIX + key,
                    "subject": subject, "body": body, "agent_id": agent.id, "created_at": now,
                    "details": details,
                })
                await conn.execute(insert(schema.deliveries), {
                    "id": delivery_id, "message_id": message_id, "request_id": request_id,
                    "adapter": via, "recipient": recipient,
                    "state": DeliveryState.QUEUED.value, "attempts": 0,
                    "next_attempt_at": now, "created_at": now, "updated_at": now,
                })
                outbound = new_row("outbound", {"delivery_id": str(delivery_id)})
                await write_rows(conn, [outbound])
                done = await handling_take.reply_sent(
                    conn, request_id, agent, at=now, extra={"message_id": str(message_id)})
        except IntegrityError:
            # The same key committed by a concurrent resend: that one is the reply.
            existing = await self._existing(request_id, key, agent)
            if existing is None:
                raise
            return existing
        self._relay.notify([outbound, *done.events])
        return Reply(done.request, message_id, changed=True)

    async def _existing(self, request_id: uuid.UUID, key: str, agent: Agent) -> Reply | None:
        async with self._db.read() as conn:
            found = (await conn.execute(
                select(m.c.id, m.c.request_id, r.c.assigned_agent_id)
                .join(r, r.c.id == m.c.request_id)
                .where(m.c.idempotency_key == REPLY_KEY_PREFIX + key, m.c.direction == "outbound")
            )).first()
            if found is None:
                return None
            if found.request_id != request_id:
                raise BadInput(ErrorCode.CLIENT_KEY_REUSED_REQUEST,
                               {"client_key": "reused"})
            if agent.role is Role.EXTERNAL and found.assigned_agent_id != agent.id:
                # An external user's resend after the request left them: not theirs to see.
                raise NotFound(ErrorCode.REQUEST_NOT_FOUND)
            summary = (await summaries_by_id(conn, [request_id]))[str(request_id)]
        return Reply(summary, found.id, changed=False)

    @staticmethod
    async def _request_for(conn: AsyncConnection, request_id: uuid.UUID,
                           agent: Agent) -> Holding:
        """The request the reply takes, locked; 409 when the agent may not take it."""
        return await handling_take.may_take(conn, request_id, agent, at=utcnow(),
                                            doing="reply")

    async def _default_channel(self, conn: AsyncConnection, request: Holding) -> Channel:
        """The request's own channel when it can answer; otherwise the first the passenger
        can be reached on (a web form passenger who left a number gets an SMS)."""
        own = Channel(request.channel)
        if own in self._senders:
            return own
        kinds = set((await conn.execute(
            select(schema.contact_identities.c.kind)
            .where(schema.contact_identities.c.contact_id == request.contact_id)
        )).scalars())
        for channel, kind in ((Channel.SMS, "phone"), (Channel.EMAIL, "email")):
            if kind in kinds and channel in self._senders:
                return channel
        raise BadInput(ErrorCode.NO_CHANNEL_REACHES_PASSENGER, {"channel": "none"})


def sender_for(senders: Mapping[Channel, list[str]], channel: Channel, last: Any) -> str:
    """The adapter a message to the passenger leaves through: the gateway their last message
    on this channel came in through, when it is enabled (a Twilio account cannot send from
    the Vonage number the passenger texted), else the channel's preferred adapter."""
    names = senders.get(channel)
    if not names:
        raise BadInput(ErrorCode.REPLY_CHANNEL_DISABLED.of(channel=channel.value),
                       {"channel": "not_enabled"})
    gateway = (last.details or {}).get("gateway") if last is not None else None
    return adapter_of_gateway(names, gateway)


def adapter_of_gateway(names: list[str], gateway: str | None) -> str:
    """Of a channel's adapters (the preferred first), the one of `gateway` when enabled."""
    if gateway:
        for name in names:  # adapters are named after their gateway: vonage -> vonage_sms
            if name == gateway or name.startswith(f"{gateway}_"):
                return name
    return names[0]


def _check_text(channel: Channel, body: str, subject: str | None) -> None:
    if not body:
        raise BadInput(ErrorCode.REPLY_EMPTY, {"body": "required"})
    if problem := subject_problem(subject):
        raise BadInput(ErrorCode.SUBJECT_INVALID.of(max=MAX_SUBJECT_CHARS), {"subject": problem})
    if not is_storable(body) or (subject is not None and not is_storable(subject)):
        raise BadInput(ErrorCode.REPLY_UNSENDABLE,
                       {"body": "invalid_characters"})
    limit = MAX_REPLY_CHARS.get(channel, 4000)
    if len(body) > limit:
        raise BadInput(ErrorCode.REPLY_TOO_LONG.of(channel=channel.value, max=limit),
                       {"body": "too_long"})
    if subject is not None and len(subject) > MAX_SUBJECT_CHARS:
        raise BadInput(ErrorCode.SUBJECT_TOO_LONG.of(max=MAX_SUBJECT_CHARS),
                       {"subject": "too_long"})


async def last_inbound(conn: AsyncConnection, request_id: uuid.UUID,
                        channel: Channel) -> Any:
    return (await conn.execute(
        select(m.c.idempotency_key, m.c.subject, m.c.details)
        .where(m.c.request_id == request_id, m.c.channel == channel.value,
               m.c.direction == "inbound")
        .order_by(m.c.created_at.desc()).limit(1)
    )).first()


async def recipient_of(conn: AsyncConnection, request: Any, channel: Channel,
                     last: Any) -> str:
    """Who the passenger wrote from on this channel, or their newest matching identity."""
    if last is not None and (last.details or {}).get("from"):
        return str(last.details["from"])
    kind = {Channel.SMS: "phone", Channel.EMAIL: "email", Channel.CHAT: "chat"}.get(channel)
    i = schema.contact_identities
    value = await conn.scalar(
        select(i.c.value).where(i.c.contact_id == request.contact_id, i.c.kind == kind)
        .order_by(i.c.created_at.desc()).limit(1)
    )
    if value is None:
        raise BadInput(ErrorCode.PASSENGER_NO_ADDRESS.of(kind=kind or channel.value),
                       {"channel": "unreachable"})
    return str(value)


async def _refuse_opted_out(conn: AsyncConnection, phone: str) -> None:
    found = (await opted_out(conn, [phone])).get(phone)
    if found is not None:
        raise BadInput(ErrorCode.OPTED_OUT_OF_SMS.of(keyword=found.keyword,
                                                     day=f"{found.at:%Y-%m-%d}"),
                       {"channel": "opted_out"})


def thread_of(channel: Channel, last: Any) -> dict[str, str]:
    """What a reply needs to stay in the passenger's conversation: an SMS comes from the
    number they texted, an email answers their last mail."""
    if last is None:
        return {}
    details = last.details or {}
    if channel is not Channel.EMAIL:
        return {"from": str(details["to"])} if details.get("to") else {}
    references = " ".join(filter(None, [details.get("references", ""), last.idempotency_key]))
    return {"in_reply_to": last.idempotency_key, "references": references,
            "subject": last.subject or ""}
