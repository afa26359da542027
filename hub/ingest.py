"""Ingest: turn `InboundContact`s into stored messages on contact requests, with group commit.

Contacts arriving together share one transaction: the writer task takes whatever is waiting
(up to `batch_max`), stores it set-wise (a few statements per batch, not per contact), commits
once, and only then answers each caller. While one batch commits the next one gathers, so
the batch size follows the load. Past `max_pending` waiting contacts, `submit` refuses at once
with `RetryLater` (503 + Retry-After) instead of letting callers hang.

`submit` is the one door in for every channel: while an announcement-only service notice
covers a contact's channel and lane, nothing of it is stored (no passenger, request, message,
nor anything on the streams): it raises `AnnouncementOnly` with the notice for the adapter to
answer with. Only an SMS opt-out or opt-in is kept (the passenger's choice must hold), and the
hub's own outbound calls pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import partial

from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError

from hub.clock import utcnow
from hub.database import Database
from hub.error_codes import ErrorCode
from hub.errors import AnnouncementOnly, BadInput, RetryLater
from hub.ingest_store import fingerprint, record_opt_outs, reused_key, store_batch
from hub.lane_book import LaneBook
from hub.metrics import Metrics
from hub.model import Channel, InboundContact, IngestResult, Notice
from hub.notices import NoticeBoard
from hub.outbox import OutboxRelay, OutboxRow
from hub.text import is_storable

log = logging.getLogger(__name__)

COMMIT_ESTIMATE_S = 0.05  # a first guess of one batch's commit time, until batches are seen
CAPACITY_SMOOTHING = 0.2  # weight of the newest batch in the capacity estimate
INTEGRITY_RETRIES = 2  # a concurrent process stored the same key or identity first


@dataclass(slots=True)
class _Waiting:
    contact: InboundContact
    future: asyncio.Future[IngestResult]


class Ingestor:
    def __init__(self, db: Database, relay: OutboxRelay, lanes: LaneBook, *, batch_max: int,
                 max_pending: int, max_wait_s: float, max_in_flight: int,
                 notices: NoticeBoard | None = None, metrics: Metrics | None = None) -> None:
        self._db = db
        self._relay = relay
        self._lanes = lanes
        self._notices = notices
        self._metrics = metrics
        self._batch_max = batch_max
        self._max_pending = max_pending
        self._max_wait_s = max_wait_s
        self._max_in_flight = max_in_flight
        self._handling = 0
        self._capacity = float(batch_max) / COMMIT_ESTIMATE_S  # contacts/s, learnt per batch
        self._waiting: deque[_Waiting] = deque()
        self._in_flight: dict[tuple[str, str], tuple[asyncio.Future[IngestResult], str]] = {}
        self._wakeup = asyncio.Event()
        self.committed = 0
        self.batches = 0
        self.refused = 0
        self.announced = 0  # contacts an announcement-only notice kept out

    def __repr__(self) -> str:
        return (f"<Ingestor waiting={len(self._waiting)} committed={self.committed} "
                f"batches={self.batches} refused={self.refused} announced={self.announced}>")

    async def submit(self, contact: InboundContact) -> IngestResult:
        """Store one contact; returns once it is committed. Retries of a key are recognised.
        AnnouncementOnly when an announcement-only notice keeps it out (nothing stored)."""
        _check_storable(contact)
        await self.door(contact)
        key = (contact.channel.value, contact.idempotency_key)
        sent = fingerprint(contact)
        running = self._in_flight.get(key)
        if running is not None:
            if running[1] != sent:
                raise reused_key()
            result = await asyncio.shield(running[0])
            return dataclasses.replace(result, duplicate=True)
        self.admit()
        future: asyncio.Future[IngestResult] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(contact, future))
        self._in_flight[key] = (future, sent)
        future.add_done_callback(lambda _: self._in_flight.pop(key, None))
        self._wakeup.set()
        # Shielded: a caller that goes away does not cancel the batch the others wait on.
        return await asyncio.shield(future)

    async def door(self, contact: InboundContact) -> None:
        """The rules a contact meets before anything of it is kept: AnnouncementOnly when an
        announcement-only notice covers it. `submit` applies them; an adapter that keeps
        something of its own first (mail attachments, SMS parts) asks here before that."""
        notice = await self._announcing(contact)
        if notice is not None:
            self.announced += 1
            await self._keep_opt_choice(contact)
            raise AnnouncementOnly(notice)

    async def _announcing(self, contact: InboundContact) -> Notice | None:
        """The announcement-only notice covering this contact; no query while none is out
        (the notices are in hand, reloaded in the background)."""
        if self._notices is None or contact.details.get("call_direction") == "out":
            return None  # the hub's own call to a passenger is not a contact coming in
        covering = [x for x in await self._notices.current(utcnow())
                    if x.announcement_only and contact.channel in x.channels]
        if not covering:
            return None
        lane = None
        if any(x.lanes for x in covering) and contact.channel is not Channel.PHONE:
            lane = (await self._lanes.current()).place(contact).lane
        return next((x for x in covering if x.covers(contact.channel, lane)), None)

    async def _keep_opt_choice(self, contact: InboundContact) -> None:
        choice = contact.details.get("sms_opt")
        if choice not in ("out", "in") or not contact.phone:
            return
        keyword = contact.details.get("sms_keyword", "STOP") if choice == "out" else None
        try:
            change = {"phone": contact.phone, "at": contact.received_at, "keyword": keyword}
            await self._db.run_write(lambda conn: record_opt_outs(conn, [change]))
        except (SQLAlchemyError, OSError) as exc:
            raise RetryLater(ErrorCode.DATABASE_UNAVAILABLE, retry_after_s=5) from exc

    def admit(self) -> None:
        """Refuse at once (RetryLater) when a new contact would wait longer than max_wait_s."""
        waiting = len(self._waiting)
        if waiting >= self._max_pending or waiting > self._capacity * self._max_wait_s:
            self.refused += 1
            raise RetryLater(ErrorCode.HUB_AT_CAPACITY, retry_after_s=1)

    @contextlib.contextmanager
    def admission(self) -> Iterator[None]:
        """Hold one of `max_in_flight` places while a channel handles an inbound contact.

        Entered before anything is parsed: past capacity the event loop itself is the
        bottleneck, and a refusal must cost far less than an acceptance, or throughput
        collapses under the load it refuses.
        """
        if self._handling >= self._max_in_flight:
            self.refused += 1
            raise RetryLater(ErrorCode.HUB_AT_CAPACITY, retry_after_s=1)
        self.admit()
        self._handling += 1
        try:
            yield
        finally:
            self._handling -= 1

    async def run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._waiting:
                count = min(len(self._waiting), self._batch_max)
                batch = [self._waiting.popleft() for _ in range(count)]
                started = time.monotonic()
                await self._commit_batch(batch)
                if self._metrics is not None:
                    self._metrics.ingest_commit.observe(time.monotonic() - started)
                if self._waiting:
                    # Only a batch with more waiting behind it measures capacity: the small
                    # batches of a quiet spell would make the first burst look like overload.
                    rate = count / max(time.monotonic() - started, 1e-4)
                    self._capacity += CAPACITY_SMOOTHING * (rate - self._capacity)

    async def _commit_batch(self, batch: list[_Waiting]) -> None:
        for attempt in range(INTEGRITY_RETRIES + 1):
            try:
                results, outbox = await self._store([w.contact for w in batch])
            except (IntegrityError, DataError):  # one contact's data, or a concurrent writer
                if attempt < INTEGRITY_RETRIES:
                    continue
                if len(batch) > 1:
                    # Find the one that cannot be stored; commit the others.
                    for waiting in batch:
                        await self._commit_batch([waiting])
                    return
                _fail(batch, RetryLater(ErrorCode.CONTACT_CONFLICTS))
                return
            except (SQLAlchemyError, OSError) as exc:
                log.error("ingest of %d contacts failed: %s", len(batch), exc)
                _fail(batch, RetryLater(ErrorCode.DATABASE_UNAVAILABLE, retry_after_s=5))
                return
            except Exception:
                # A bug or data no check foresaw: isolate the contact that causes it, so that
                # it alone fails and the writer task lives on for everyone else.
                if len(batch) > 1:
                    for waiting in batch:
                        await self._commit_batch([waiting])
                    return
                log.exception("ingest could not store a %s contact",
                              batch[0].contact.channel.value)
                _fail(batch, RetryLater(ErrorCode.CONTACT_NOT_STORED))
                return
            break
        self.committed += sum(1 for r in results if isinstance(r, IngestResult)
                              and not r.duplicate)
        self.batches += 1
        self._relay.notify(outbox)
        for waiting, result in zip(batch, results, strict=True):
            if waiting.future.done():
                continue
            if isinstance(result, IngestResult):
                waiting.future.set_result(result)
            else:
                waiting.future.set_exception(result)

    async def _store(
        self, contacts: Sequence[InboundContact]
    ) -> tuple[list[IngestResult | BadInput], list[OutboxRow]]:
        # Read before the transaction: nothing is awaited while it is open.
        plan = await self._lanes.current()
        notices = await self._notices.current(utcnow()) if self._notices is not None else []
        published = self._relay.take_published()
        try:
            return await self._db.run_write(partial(store_batch, contacts, published,
                                                    plan.place, notices))
        except BaseException:
            self._relay.give_back(published)
            raise


def _check_storable(contact: InboundContact) -> None:
    texts = [contact.idempotency_key, contact.body, contact.name, contact.phone, contact.email,
             contact.chat_visitor, contact.subject, *contact.details.keys(),
             *contact.details.values()]
    if not all(is_storable(text) for text in texts if text):
        raise BadInput(ErrorCode.MESSAGE_UNSTORABLE)


def _fail(batch: list[_Waiting], error: Exception) -> None:
    for waiting in batch:
        if not waiting.future.done():
            waiting.future.set_exception(error)
