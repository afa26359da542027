"""Automatic answers to inbound messages, over the channel the passenger used (SMS, email,
chat), at most one per message, the first that applies:

1. the active **service notice**, once per passenger per notice;
2. for a new request that came while its lane is closed, the **out-of-hours** answer with
   the next opening (the request is a callback due then, see `hub.lanes.Placement`);
3. for a new request, the **acknowledgement** with its reference and the estimated wait
   (`hub.wait_estimate`), on the channels `answers.acknowledge` names.

Texts 2 and 3 are the lane's template in the passenger's language (`hub.answer_templates`).

The router calls `handle` with every committed inbound message before it acknowledges the
entry, so a process that dies half-way leaves the entry to be taken over, and the answer is
still sent once: the passenger's `notice_answers` row, the message and its delivery are one
transaction. The web form and the phone answer in their own responses (see
`channels/webform` and `channels/phone`), through `hub.notices.notice_for`.

Never answered: automatic mail (auto-replies, bulk and list mail, bounces), a number that
opted out of SMS, and channels no enabled adapter can send on.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatch.replies import last_inbound, recipient_of, sender_for, thread_of
from hub import schema
from hub.clock import utcnow
from hub.database import Database
from hub.events import EventType
from hub.first_answers import first_answer
from hub.inbound_entry import InboundEntry
from hub.language import guess_language
from hub.model import Channel, DeliveryState, Notice
from hub.notices import NoticeBoard, had_notice
from hub.notices import first_answer as first_notice
from hub.opt_outs import opted_out
from hub.outbox import OutboxRelay, OutboxRow, new_row, write_rows
from hub.pairs import pair_values, pairs_in, wanted_rows
from hub.read_models import summaries_by_id

log = logging.getLogger(__name__)

m, r = schema.messages, schema.contact_requests
_ANSWERED = (select(m.c.channel, m.c.idempotency_key)
             .where(pairs_in(m.c.channel, m.c.idempotency_key)))
ANSWERED_HERE = (Channel.SMS, Channel.EMAIL, Channel.CHAT)
AUTO_KEY_PREFIX = "auto:"


@dataclass(frozen=True, slots=True)
class Answer:
    """One automatic answer to write: to the message in `row`, over `channel`."""

    row: Any
    channel: Channel
    text: str
    kind: str  # notice | out_of_hours | acknowledgement
    key: str  # its message's idempotency key: a retry finds it
    notice: Notice | None = None


class AutoAnswers:
    def __init__(self, db: Database, relay: OutboxRelay, notices: NoticeBoard,
                 senders: Mapping[Channel, list[str]], *,
                 acknowledge: frozenset[Channel] = frozenset(), timezone: str = "UTC") -> None:
        self._db = db
        self._relay = relay
        self._notices = notices
        self._senders = senders
        self._acknowledge = acknowledge
        self._zone = ZoneInfo(timezone)
        self._answerable = tuple(c.value for c in ANSWERED_HERE if c in senders)
        self.sent = 0

    def __repr__(self) -> str:
        return f"<AutoAnswers sent={self.sent}>"

    async def handle(self, payloads: Sequence[InboundEntry]) -> None:
        """Answer a batch of committed inbound messages, all in one transaction (on failure,
        one by one: a retried entry's answers are skipped by their keys)."""
        now = utcnow()
        new_requests = _ids({str(p.get("request_id")) for p in payloads
                             if p.get("new_request")})
        # The notices in hand before any connection is taken: a reload awaited inside the
        # read below would hold one connection while waiting for another.
        notices = await self._notices.current(now)
        if not new_requests and not notices:
            return
        # The web form and the phone answer in their own responses: no read for them.
        # (An entry written before entries named their channel is read as before.)
        wanted = [i for i in (_uuid(p.get("message_id")) for p in payloads
                              if p.get("channel") in (None, *self._answerable))
                  if i is not None]
        if not wanted:
            return
        async with self._db.read() as conn:
            rows = (await conn.execute(
                select(m.c.id, m.c.request_id, m.c.channel, m.c.body, m.c.details,
                       r.c.lane, r.c.contact_id)
                .join(r, r.c.id == m.c.request_id)
                .where(m.c.id.in_(wanted), m.c.direction == "inbound")
            )).all()
            cache: dict[tuple[str, ...], Any] = {}  # lanes' waits and templates, this batch
            jobs = [job for row in rows
                    if (job := await self._job(conn, row, row.request_id in new_requests,
                                               notices, cache)) is not None]
        if not jobs:
            return
        try:
            await self._write_all(jobs)
        except IntegrityError:  # another process answered some of them: one by one
            for job in jobs:
                with contextlib.suppress(IntegrityError):
                    await self._write_all([job])

    async def _job(self, conn: AsyncConnection, row: Any, new_request: bool,
                   notices: Sequence[Notice], cache: dict[tuple[str, ...], Any]
                   ) -> Answer | None:
        """What this message is answered with, if anything (read only)."""
        channel = Channel(row.channel)
        details = row.details or {}
        if channel not in ANSWERED_HERE or channel not in self._senders:
            return None
        if channel is Channel.EMAIL and (details.get("auto") or details.get("bounce_of")):
            return None  # never answer an automatic mail: that is how mail loops start
        language = guess_language(row.body, details.get("language"))
        notice = next((x for x in notices if x.covers(channel, row.lane)), None)
        if notice is not None and not await had_notice(conn, notice.id, row.contact_id):
            return Answer(row, channel, notice.text(language), "notice",
                          f"{AUTO_KEY_PREFIX}notice:{notice.id}:{row.contact_id}", notice)
        if not new_request:
            return None
        found = await first_answer(conn, row.request_id, language,
                                   acknowledge=channel in self._acknowledge, zone=self._zone,
                                   cache=cache)
        if found is None:
            return None
        kind, text = found
        return Answer(row, channel, text, kind, f"{AUTO_KEY_PREFIX}{kind}:{row.request_id}")

    async def _write_all(self, jobs: Sequence[Answer]) -> None:
        now = utcnow()
        rows: list[OutboxRow] = []
        sent = 0
        async with self._db.write() as conn:
            keys = [(job.channel.value, job.key) for job in jobs]
            done = {key for _, key in wanted_rows(
                await conn.execute(_ANSWERED, pair_values(keys)), keys)}
            for job in jobs:
                if job.key in done:
                    continue  # a retried router entry: answered already
                if job.notice is not None and not await first_notice(
                        conn, job.notice.id, job.row.contact_id, job.channel, now):
                    continue
                written = await self._write(conn, job.row, job.channel, job.text,
                                            key=job.key, kind=job.kind)
                rows += written
                sent += bool(written)
        self._relay.notify(rows)
        self.sent += sent

    async def _write(self, conn: AsyncConnection, row: Any, channel: Channel, body: str, *,
                     key: str, kind: str) -> list[OutboxRow]:
        request = (await conn.execute(select(r.c.id, r.c.contact_id)
                                      .where(r.c.id == row.request_id))).one()
        last = await last_inbound(conn, row.request_id, channel)
        recipient = await recipient_of(conn, request, channel, last)
        if channel is Channel.SMS and await opted_out(conn, [recipient]):
            return []
        return await _write_answer(conn, row.request_id, channel, recipient, body,
                                   via=sender_for(self._senders, channel, last),
                                   thread=thread_of(channel, last), key=key, kind=kind)

async def _write_answer(conn: AsyncConnection, request_id: uuid.UUID, channel: Channel,
                        recipient: str, body: str, *, via: str, thread: dict[str, str],
                        key: str, kind: str) -> list[OutboxRow]:
    """An automatic outbound message with its delivery, and the rows announcing it."""
    now = utcnow()
    message_id, delivery_id = uuid.uuid4(), uuid.uuid4()
    if channel is Channel.EMAIL:
        thread = {**thread, "auto_submitted": "auto-replied"}
    await conn.execute(insert(m), {
        "id": message_id, "request_id": request_id, "channel": channel.value,
        "direction": "outbound", "idempotency_key": key, "subject": None, "body": body,
        "agent_id": None, "created_at": now,
        "details": {"to": recipient, "via": via, "thread": thread, "auto_answer": kind},
    })
    await conn.execute(insert(schema.deliveries), {
        "id": delivery_id, "message_id": message_id, "request_id": request_id,
        "adapter": via, "recipient": recipient, "state": DeliveryState.QUEUED.value,
        "attempts": 0, "next_attempt_at": now, "created_at": now, "updated_at": now,
    })
    summary = (await summaries_by_id(conn, [request_id]))[str(request_id)]
    rows = [new_row("outbound", {"delivery_id": str(delivery_id)}),
            new_row("events", {"type": EventType.REQUEST_AUTO_ANSWER, "request": summary,
                               "message_id": str(message_id), "kind": kind})]
    await write_rows(conn, rows)
    return rows


def _ids(values: set[str]) -> set[uuid.UUID]:
    return {found for value in values if (found := _uuid(value)) is not None}


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None
