"""Ingest: turn `InboundContact`s into stored messages on contact requests, with group commit.

Contacts arriving together share one transaction: the writer task takes whatever is waiting
(up to `batch_max`), stores it set-wise (a few statements per batch, not per contact), commits
once, and only then answers each caller. While one batch commits the next one gathers, so
the batch size follows the load. Past `max_pending` waiting contacts, `submit` refuses at once
with `RetryLater` (503 + Retry-After) instead of letting callers hang.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import json
import logging
import time
import uuid
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, tuple_, update
from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError

from hub import schema
from hub.clock import utcnow
from hub.database import Database
from hub.errors import BadInput, OperatorMustAct, RetryLater
from hub.lanes import place
from hub.model import OPEN_STATUSES, InboundContact, IngestResult, RequestStatus
from hub.outbox import OutboxRelay, OutboxRow, delete_published, new_row, outbox_values
from hub.reference import format_reference
from hub.text import is_storable

log = logging.getLogger(__name__)

REQUEST_COUNTER = "request"
PREVIEW_CHARS = 140
COMMIT_ESTIMATE_S = 0.05  # a first guess of one batch's commit time, until batches are seen
CAPACITY_SMOOTHING = 0.2  # weight of the newest batch in the capacity estimate
INTEGRITY_RETRIES = 2  # a concurrent process stored the same key or identity first


@dataclass(slots=True)
class _Waiting:
    contact: InboundContact
    future: asyncio.Future[IngestResult]


@dataclass(slots=True)
class _Batch:
    """What one transaction writes, gathered before any statement runs."""

    contacts: list[dict[str, Any]] = field(default_factory=list)
    identities: list[dict[str, Any]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    touched_requests: list[dict[str, Any]] = field(default_factory=list)
    named_contacts: list[dict[str, Any]] = field(default_factory=list)
    outbox: list[OutboxRow] = field(default_factory=list)


class Ingestor:
    def __init__(self, db: Database, relay: OutboxRelay, *, batch_max: int,
                 max_pending: int, max_wait_s: float, max_in_flight: int) -> None:
        self._db = db
        self._relay = relay
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

    def __repr__(self) -> str:
        return (f"<Ingestor waiting={len(self._waiting)} committed={self.committed} "
                f"batches={self.batches} refused={self.refused}>")

    async def submit(self, contact: InboundContact) -> IngestResult:
        """Store one contact; returns once it is committed. Retries of a key are recognised."""
        _check_storable(contact)
        key = (contact.channel.value, contact.idempotency_key)
        running = self._in_flight.get(key)
        if running is not None:
            if running[1] != fingerprint(contact):
                raise _reused_key()
            result = await asyncio.shield(running[0])
            return dataclasses.replace(result, duplicate=True)
        self.admit()
        future: asyncio.Future[IngestResult] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(contact, future))
        self._in_flight[key] = (future, fingerprint(contact))
        future.add_done_callback(lambda _: self._in_flight.pop(key, None))
        self._wakeup.set()
        # Shielded: a caller that goes away does not cancel the batch the others wait on.
        return await asyncio.shield(future)

    def admit(self) -> None:
        """Refuse at once (RetryLater) when a new contact would wait longer than max_wait_s."""
        waiting = len(self._waiting)
        if waiting >= self._max_pending or waiting > self._capacity * self._max_wait_s:
            self.refused += 1
            raise RetryLater("the hub is at capacity", retry_after_s=1)

    @contextlib.contextmanager
    def admission(self) -> Iterator[None]:
        """Hold one of `max_in_flight` places while a channel handles an inbound contact.

        Entered before anything is parsed: past capacity the event loop itself is the
        bottleneck, and a refusal must cost far less than an acceptance, or throughput
        collapses under the load it refuses.
        """
        if self._handling >= self._max_in_flight:
            self.refused += 1
            raise RetryLater("the hub is at capacity", retry_after_s=1)
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
                _fail(batch, RetryLater("the contact conflicts with stored data"))
                return
            except (SQLAlchemyError, OSError) as exc:
                log.error("ingest of %d contacts failed: %s", len(batch), exc)
                _fail(batch, RetryLater("the database is not available", retry_after_s=5))
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
                _fail(batch, RetryLater("the contact could not be stored"))
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
        published = self._relay.take_published()
        try:
            return await self._db.run_write(partial(_store_in, contacts, published))
        except BaseException:
            self._relay.give_back(published)
            raise


def _store_in(
    contacts: Sequence[InboundContact], published: list[str], conn: Connection
) -> tuple[list[IngestResult | BadInput], list[OutboxRow]]:
    """The whole ingest transaction, as one call on the writer (see Database.run_write)."""
    if published:
        conn.execute(delete_published(published))
    queued_at = utcnow()
    seen = _existing_messages(conn, contacts)
    fresh = [c for c in contacts if (c.channel.value, c.idempotency_key) not in seen]
    owners = _identity_owners(conn, fresh)
    _lock_contacts(conn, set(owners.values()))
    open_requests = _open_requests(conn, set(owners.values()))
    new_request_count = _count_new_requests(fresh, owners, open_requests)
    next_number = _reserve_numbers(conn, new_request_count)
    batch = _Batch()
    results: list[IngestResult | BadInput] = []
    for contact in contacts:
        key = (contact.channel.value, contact.idempotency_key)
        if key in seen:
            stored, stored_fingerprint = seen[key]
            same = stored_fingerprint in (None, fingerprint(contact))
            results.append(stored if same else _reused_key())
            continue
        result = _plan(contact, batch, owners, open_requests, next_number, queued_at)
        if result.new_request:
            next_number += 1
        seen[key] = (dataclasses.replace(result, duplicate=True), fingerprint(contact))
        results.append(result)
    _write(conn, batch)
    return results, batch.outbox


def preview_of(body: str) -> str:
    """The first non-empty line, short enough for a queue row."""
    line = next((ln.strip() for ln in body.splitlines() if ln.strip()), "")
    return line if len(line) <= PREVIEW_CHARS else line[: PREVIEW_CHARS - 1] + "…"


def _check_storable(contact: InboundContact) -> None:
    texts = [contact.idempotency_key, contact.body, contact.name, contact.phone, contact.email,
             contact.chat_visitor, contact.subject, *contact.details.keys(),
             *contact.details.values()]
    if not all(is_storable(text) for text in texts if text):
        raise BadInput("the message contains characters that cannot be stored")


def _fail(batch: list[_Waiting], error: Exception) -> None:
    for waiting in batch:
        if not waiting.future.done():
            waiting.future.set_exception(error)


def _existing_messages(
    conn: Connection, contacts: Sequence[InboundContact]
) -> dict[tuple[str, str], tuple[IngestResult, str | None]]:
    """Messages already stored under these keys, with the fingerprint of what was sent."""
    keys = list({(c.channel.value, c.idempotency_key) for c in contacts})
    m, r = schema.messages, schema.contact_requests
    rows = conn.execute(
        select(m.c.channel, m.c.idempotency_key, m.c.id, r.c.id, r.c.reference,
               m.c.fingerprint)
        .join(r, r.c.id == m.c.request_id)
        .where(tuple_(m.c.channel, m.c.idempotency_key).in_(keys))
    )
    return {
        (channel, key): (IngestResult(request_id, reference, message_id, False, True), stored)
        for channel, key, message_id, request_id, reference, stored in rows
    }


def fingerprint(contact: InboundContact) -> str:
    """What a retry must repeat to be the same message: everything but the arrival time."""
    parts = [contact.channel.value, contact.body, contact.name, contact.phone, contact.email,
             contact.chat_visitor, contact.subject, sorted(contact.details.items())]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def _reused_key() -> BadInput:
    return BadInput("this submission id was already used for a different message",
                    {"submission_token": "reused"})


def _identity_owners(
    conn: Connection, contacts: Sequence[InboundContact]
) -> dict[tuple[str, str], uuid.UUID]:
    wanted = list({(kind.value, value) for c in contacts for kind, value in c.identities()})
    if not wanted:
        return {}
    i = schema.contact_identities
    rows = conn.execute(
        select(i.c.kind, i.c.value, i.c.contact_id).where(tuple_(i.c.kind, i.c.value).in_(wanted))
    )
    return {(kind, value): contact_id for kind, value, contact_id in rows}


def _lock_contacts(conn: Connection, contact_ids: set[uuid.UUID]) -> None:
    """On PostgreSQL, hold the passengers' rows until commit: two processes threading the
    same passenger's messages take turns, so neither opens a second request nor threads into
    one the other side has just resolved. (SQLite's writers take turns anyway.)"""
    if contact_ids and conn.dialect.name == "postgresql":
        c = schema.contacts
        conn.execute(select(c.c.id).where(c.c.id.in_(sorted(contact_ids)))
                     .order_by(c.c.id).with_for_update())


def _open_requests(
    conn: Connection, contact_ids: set[uuid.UUID]
) -> dict[uuid.UUID, tuple[uuid.UUID, str]]:
    """The newest open request of each contact: where a new message threads in."""
    if not contact_ids:
        return {}
    r = schema.contact_requests
    query = (
        select(r.c.contact_id, r.c.id, r.c.reference)
        .where(r.c.contact_id.in_(contact_ids), r.c.status.in_([s.value for s in OPEN_STATUSES]))
        .order_by(r.c.case_started_at)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()  # a resolve waits for this message, not the reverse
    rows = conn.execute(query)
    return {contact_id: (request_id, reference) for contact_id, request_id, reference in rows}


def _count_new_requests(
    contacts: Sequence[InboundContact],
    owners: dict[tuple[str, str], uuid.UUID],
    open_requests: dict[uuid.UUID, tuple[uuid.UUID, str]],
) -> int:
    """An upper bound: contacts in one batch may still thread into each other's new request."""
    count = 0
    for contact in contacts:
        owner = _owner_of(contact, owners)
        if owner is None or owner not in open_requests:
            count += 1
    return count


def _owner_of(
    contact: InboundContact, owners: dict[tuple[str, str], uuid.UUID]
) -> uuid.UUID | None:
    for kind, value in contact.identities():
        owner = owners.get((kind.value, value))
        if owner is not None:
            return owner
    return None


def _reserve_numbers(conn: Connection, count: int) -> int:
    """Reserve `count` request numbers in one atomic step; returns the first."""
    if count == 0:
        return 0
    c = schema.counters
    last = conn.scalar(
        update(c).where(c.c.name == REQUEST_COUNTER)
        .values(value=c.c.value + count).returning(c.c.value)
    )
    if last is None:
        raise OperatorMustAct("the request counter is missing: run `taxiconnect migrate`")
    return int(last) - count + 1


def _plan(
    contact: InboundContact,
    batch: _Batch,
    owners: dict[tuple[str, str], uuid.UUID],
    open_requests: dict[uuid.UUID, tuple[uuid.UUID, str]],
    next_number: int,
    queued_at: datetime,
) -> IngestResult:
    """Decide the rows for one contact; updates the lookups so later ones in the batch see it."""
    now = contact.received_at
    owner = _owner_of(contact, owners)
    if owner is None:
        owner = uuid.uuid4()
        batch.contacts.append(
            {"id": owner, "name": contact.name, "created_at": now, "updated_at": now}
        )
    elif contact.name:
        batch.named_contacts.append({"b_id": owner, "name": contact.name, "updated_at": now})
    for kind, value in contact.identities():
        if (kind.value, value) not in owners:
            owners[(kind.value, value)] = owner
            batch.identities.append(
                {"kind": kind.value, "value": value, "contact_id": owner, "created_at": now}
            )

    message_id = uuid.uuid4()
    preview = preview_of(contact.body)
    existing = open_requests.get(owner)
    if existing is None:
        lane, priority = place(contact)
        request_id, reference = uuid.uuid4(), format_reference(next_number)
        open_requests[owner] = (request_id, reference)
        batch.requests.append({
            "id": request_id, "number": next_number, "reference": reference,
            "contact_id": owner, "channel": contact.channel.value,
            "status": RequestStatus.QUEUED.value, "lane": lane, "priority": priority,
            "queued_at": queued_at,
            "details": dict(contact.details), "case_started_at": now,
            "last_message_at": now, "preview": preview, "updated_at": now, "version": 1,
        })
    else:
        request_id, reference = existing
        batch.touched_requests.append({"b_id": request_id, "last_message_at": now,
                                       "preview": preview, "updated_at": now})
    batch.messages.append({
        "id": message_id, "request_id": request_id, "channel": contact.channel.value,
        "direction": "inbound", "idempotency_key": contact.idempotency_key,
        "subject": contact.subject, "body": contact.body, "details": dict(contact.details),
        "agent_id": None, "created_at": now, "fingerprint": fingerprint(contact),
    })
    new_request = existing is None
    batch.outbox.append(new_row("inbound", {
        "request_id": str(request_id), "message_id": str(message_id), "new_request": new_request,
    }))
    return IngestResult(request_id, reference, message_id, new_request, duplicate=False)


def _write(conn: Connection, batch: _Batch) -> None:
    if batch.contacts:
        conn.execute(insert(schema.contacts), batch.contacts)
    if batch.identities:
        conn.execute(insert(schema.contact_identities), batch.identities)
    if batch.named_contacts:
        c = schema.contacts
        conn.execute(
            update(c).where(c.c.id == bindparam("b_id"))
            .values(name=bindparam("name"), updated_at=bindparam("updated_at")),
            batch.named_contacts,
        )
    if batch.requests:
        conn.execute(insert(schema.contact_requests), batch.requests)
    if batch.touched_requests:
        r = schema.contact_requests
        conn.execute(
            update(r).where(r.c.id == bindparam("b_id")).values(
                last_message_at=bindparam("last_message_at"),
                preview=bindparam("preview"),
                version=r.c.version + 1,
                updated_at=bindparam("updated_at"),
            ),
            batch.touched_requests,
        )
    if batch.messages:
        conn.execute(insert(schema.messages), batch.messages)
    if batch.outbox:
        conn.execute(insert(schema.outbox), outbox_values(batch.outbox))
