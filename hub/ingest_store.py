"""The ingest transaction: a batch of contacts stored set-wise, as synchronous SQLAlchemy Core.

`store_batch` runs inside one write transaction (hub.database.Database.run_write): on SQLite
in one call on the writer thread, on PostgreSQL through the async pool. A few statements
per batch, not per contact: look up known keys, identities and open requests, reserve
request numbers, then insert and update in bulk.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, select, update

from hub import schema
from hub.callback_columns import ask_columns
from hub.clock import utcnow
from hub.epoch import timing_copies
from hub.error_codes import ErrorCode
from hub.errors import BadInput, OperatorMustAct
from hub.group_threads import group_reply_threads
from hub.handling import reopened_by_message, reopened_row
from hub.inbound_entry import InboundEntry
from hub.lanes import Placement
from hub.model import OPEN_STATUSES, Channel, InboundContact, IngestResult, Notice, RequestStatus
from hub.outbox import OutboxRow, delete_published, new_row, outbox_values
from hub.pairs import pair_values, pairs_in, wanted_rows
from hub.reference import format_reference

REQUEST_COUNTER = "request"
PREVIEW_CHARS = 140
MAX_MERGE_HOPS = 16  # a longer chain of merged passengers is a loop
# Channels that give the service notice in their own response (the form's confirmation):
# ingest records it as given in the same transaction, so answering needs no write of its own.
NOTICE_IN_RESPONSE = frozenset({Channel.WEBFORM})


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
    sms_opt_outs: list[dict[str, Any]] = field(default_factory=list)  # keyword None: back in
    reopened: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Thread:
    """The request a message says it belongs to (email threading)."""

    request_id: uuid.UUID
    reference: str
    resolved: bool


Placer = Callable[[InboundContact], Placement]  # a new request's lane, priority, hours


OpenRequest = tuple[uuid.UUID, str, str | None]  # id, reference, lane

# The batch's statements, built once: building a statement and its cache key anew for every
# batch cost about a third of the writer's time for a batch of one contact.
_m, _r, _i, _c = (schema.messages, schema.contact_requests, schema.contact_identities,
                  schema.contacts)
_EXISTING_MESSAGES = (
    select(_m.c.channel, _m.c.idempotency_key, _m.c.id, _r.c.id, _r.c.reference,
           _m.c.fingerprint)
    .join(_r, _r.c.id == _m.c.request_id)
    .where(pairs_in(_m.c.channel, _m.c.idempotency_key)))
_IDENTITY_OWNERS = (select(_i.c.kind, _i.c.value, _i.c.contact_id)
                    .where(pairs_in(_i.c.kind, _i.c.value)))
_NOTICES_GIVEN = (
    select(schema.notice_answers.c.notice_id, schema.notice_answers.c.contact_id)
    .where(pairs_in(schema.notice_answers.c.notice_id, schema.notice_answers.c.contact_id)))
_RESERVE_NUMBERS = (
    update(schema.counters).where(schema.counters.c.name == REQUEST_COUNTER)
    .values(value=schema.counters.c.value + bindparam("count"))
    .returning(schema.counters.c.value))
_INSERT_CONTACTS = insert(_c)
_INSERT_IDENTITIES = insert(_i)
_INSERT_REQUESTS = insert(_r)
_INSERT_MESSAGES = insert(_m)
_INSERT_OUTBOX = insert(schema.outbox)
_INSERT_NOTICE_ANSWERS = insert(schema.notice_answers)
_NAME_CONTACTS = (update(_c).where(_c.c.id == bindparam("b_id"))
                  .values(name=bindparam("name"), updated_at=bindparam("updated_at")))
_TOUCH_REQUESTS = update(_r).where(_r.c.id == bindparam("b_id")).values(
    last_message_at=bindparam("last_message_at"),
    preview=bindparam("preview"),
    version=_r.c.version + 1,
    updated_at=bindparam("updated_at"),
)


def store_batch(
    contacts: Sequence[InboundContact], published: list[str], place: Placer,
    notices: Sequence[Notice], conn: Connection,
) -> tuple[list[IngestResult | BadInput], list[OutboxRow]]:
    """The whole ingest transaction, as one call on the writer (see Database.run_write).
    `notices`: the active service notices, the newest first."""
    if published:
        conn.execute(delete_published(published))
    queued_at = utcnow()
    seen = _existing_messages(conn, contacts)
    fresh = [c for c in contacts if (c.channel.value, c.idempotency_key) not in seen]
    owners = _identity_owners(conn, fresh)
    _lock_contacts(conn, set(owners.values()))
    owners = _follow_merges(conn, owners)
    open_requests = _open_requests(conn, set(owners.values()))
    threads = _thread_targets(conn, fresh, owners)
    new_request_count = _count_new_requests(fresh, owners, open_requests)
    next_number = _reserve_numbers(conn, new_request_count)
    batch = _Batch()
    results: list[IngestResult | BadInput] = []
    for contact in contacts:
        key = (contact.channel.value, contact.idempotency_key)
        sent = fingerprint(contact)
        if key in seen:
            stored, stored_fingerprint = seen[key]
            results.append(stored if stored_fingerprint in (None, sent) else reused_key())
            continue
        result = _plan(contact, sent, batch, owners, open_requests, next_number, queued_at,
                       place, threads.get(key))
        if result.new_request:
            next_number += 1
        seen[key] = (dataclasses.replace(result, duplicate=True), sent)
        results.append(result)
    _write(conn, batch)
    return _give_notices(conn, contacts, results, notices, queued_at), batch.outbox


def preview_of(body: str) -> str:
    """The first non-empty line, short enough for a queue row."""
    line = next((ln.strip() for ln in body.splitlines() if ln.strip()), "")
    return line if len(line) <= PREVIEW_CHARS else line[: PREVIEW_CHARS - 1] + "…"


def _existing_messages(
    conn: Connection, contacts: Sequence[InboundContact]
) -> dict[tuple[str, str], tuple[IngestResult, str | None]]:
    """Messages already stored under these keys, with the fingerprint of what was sent."""
    keys = list({(c.channel.value, c.idempotency_key) for c in contacts})
    rows = wanted_rows(conn.execute(_EXISTING_MESSAGES, pair_values(keys)), keys)
    return {
        (channel, key): (IngestResult(request_id, reference, message_id, False, True), stored)
        for channel, key, message_id, request_id, reference, stored in rows
    }


def fingerprint(contact: InboundContact) -> str:
    """What a retry must repeat to be the same message: everything but the arrival time."""
    parts = [contact.channel.value, contact.body, contact.name, contact.phone, contact.email,
             contact.chat_visitor, contact.subject, sorted(contact.details.items())]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def reused_key() -> BadInput:
    return BadInput(ErrorCode.SUBMISSION_ID_REUSED,
                    {"submission_token": "reused"})


def _identity_owners(
    conn: Connection, contacts: Sequence[InboundContact]
) -> dict[tuple[str, str], uuid.UUID]:
    wanted = list({(kind.value, value) for c in contacts for kind, value in c.identities()})
    if not wanted:
        return {}
    rows = wanted_rows(conn.execute(_IDENTITY_OWNERS, pair_values(wanted)), wanted)
    return {(kind, value): contact_id for kind, value, contact_id in rows}


def _lock_contacts(conn: Connection, contact_ids: set[uuid.UUID]) -> None:
    """On PostgreSQL, hold the passengers' rows until commit: two processes threading the
    same passenger's messages take turns, so neither opens a second request nor threads into
    one the other side has just resolved. (SQLite's writers take turns anyway.)"""
    if contact_ids and conn.dialect.name == "postgresql":
        c = schema.contacts
        conn.execute(select(c.c.id).where(c.c.id.in_(sorted(contact_ids)))
                     .order_by(c.c.id).with_for_update())


def _follow_merges(
    conn: Connection, owners: dict[tuple[str, str], uuid.UUID]
) -> dict[tuple[str, str], uuid.UUID]:
    """Owners merged into another passenger since their identities were read (on PostgreSQL
    the merge may commit while this transaction waits for the lock): their survivor takes
    the message. A merge moves the identities too, so this is rare and one query."""
    c = schema.contacts
    for _ in range(MAX_MERGE_HOPS):
        rows: Iterable[Any] = conn.execute(
            select(c.c.id, c.c.merged_into_id)
            .where(c.c.id.in_(set(owners.values())), c.c.merged_into_id.is_not(None))
        ) if owners else []
        merged = {contact_id: survivor for contact_id, survivor in rows}
        if not merged:
            return owners
        _lock_contacts(conn, set(merged.values()))
        owners = {identity: merged.get(owner, owner) for identity, owner in owners.items()}
    raise OperatorMustAct("passengers are merged in a loop: check contacts.merged_into_id")


def _open_requests(
    conn: Connection, contact_ids: set[uuid.UUID]
) -> dict[uuid.UUID, OpenRequest]:
    """The newest open request of each contact: where a new message threads in."""
    if not contact_ids:
        return {}
    r = schema.contact_requests
    query = (
        select(r.c.contact_id, r.c.id, r.c.reference, r.c.lane)
        .where(r.c.contact_id.in_(contact_ids), r.c.status.in_([s.value for s in OPEN_STATUSES]))
        .order_by(r.c.case_started_at)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()  # a resolve waits for this message, not the reverse
    rows = conn.execute(query)
    return {contact_id: (request_id, reference, lane)
            for contact_id, request_id, reference, lane in rows}


def _thread_targets(
    conn: Connection, contacts: Sequence[InboundContact],
    owners: dict[tuple[str, str], uuid.UUID],
) -> dict[tuple[str, str], _Thread]:
    """Requests that messages answer: by the ids of the messages they reply to (the
    passenger's earlier mail, or ours: `<message uuid@domain>`), else by a request reference
    (signed, or typed by the request's own passenger), else as a group member's answer to a
    group message (hub.group_threads)."""
    wanted = [c for c in contacts if c.thread_refs or c.thread_reference]
    if not wanted:
        return _group_replies(conn, contacts, {})
    m, r = schema.messages, schema.contact_requests
    refs = {ref for c in wanted for ref in c.thread_refs}
    ours = {_uuid_of(ref) for ref in refs} - {None}
    by_ref: dict[str, _Thread] = {}
    columns = (r.c.id, r.c.reference, r.c.status, r.c.contact_id)
    if refs:
        rows = conn.execute(
            select(m.c.id, m.c.idempotency_key, *columns).join(r, r.c.id == m.c.request_id)
            .where((m.c.channel == "email") & m.c.idempotency_key.in_(list(refs))
                   | m.c.id.in_(list(ours)))
        )
        for message_id, key, request_id, reference, status, _ in rows:
            found = _Thread(request_id, reference, status == RequestStatus.RESOLVED.value)
            by_ref[key] = found
            by_ref[str(message_id)] = found
    references = {c.thread_reference for c in wanted if c.thread_reference}
    by_reference: dict[str, tuple[_Thread, uuid.UUID]] = {}
    if references:
        by_number = conn.execute(select(*columns).where(r.c.reference.in_(list(references))))
        for request_id, reference, status, contact_id in by_number:
            resolved = status == RequestStatus.RESOLVED.value
            by_reference[reference] = (_Thread(request_id, reference, resolved), contact_id)
    targets: dict[tuple[str, str], _Thread] = {}
    for contact in wanted:
        key = (contact.channel.value, contact.idempotency_key)
        for ref in contact.thread_refs:
            answered = by_ref.get(ref) or by_ref.get(str(_uuid_of(ref)))
            if answered is not None:
                targets[key] = answered
                break
        else:
            match = by_reference.get(contact.thread_reference or "")
            if match is not None and (contact.reference_verified
                                      or match[1] == _owner_of(contact, owners)):
                targets[key] = match[0]
    return _group_replies(conn, contacts, targets)


def _group_replies(conn: Connection, contacts: Sequence[InboundContact],
                   found: dict[tuple[str, str], _Thread]) -> dict[tuple[str, str], _Thread]:
    rest = [c for c in contacts if (c.channel.value, c.idempotency_key) not in found]
    replies = group_reply_threads(conn, rest)
    return {**{key: _Thread(*target) for key, target in replies.items()}, **found}


def _uuid_of(ref: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(ref.partition("@")[0])
    except ValueError:
        return None


def _count_new_requests(
    contacts: Sequence[InboundContact],
    owners: dict[tuple[str, str], uuid.UUID],
    open_requests: dict[uuid.UUID, OpenRequest],
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
    last = conn.scalar(_RESERVE_NUMBERS, {"count": count})
    if last is None:
        raise OperatorMustAct("the request counter is missing: run `taxiconnect migrate`")
    return int(last) - count + 1


def _plan(
    contact: InboundContact,
    sent: str,
    batch: _Batch,
    owners: dict[tuple[str, str], uuid.UUID],
    open_requests: dict[uuid.UUID, OpenRequest],
    next_number: int,
    queued_at: datetime,
    place: Placer,
    thread: _Thread | None = None,
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
    callback_due_at = None
    if thread is not None:
        existing = (thread.request_id, thread.reference, None)
        if thread.resolved:
            batch.reopened.append(reopened_row(thread.request_id, queued_at))
    if existing is None:
        placed = place(contact)
        request_id, reference = uuid.uuid4(), format_reference(next_number)
        lane: str | None = placed.lane
        open_requests[owner] = (request_id, reference, lane)
        callback = placed.callback or contact.callback
        if placed.callback is not None and placed.callback.due_at is not None:
            callback_due_at = placed.callback.due_at.isoformat()
        batch.requests.append({
            "id": request_id, "number": next_number, "reference": reference,
            "contact_id": owner, "channel": contact.channel.value,
            "status": RequestStatus.QUEUED.value, "lane": placed.lane,
            "priority": placed.priority, "queued_at": queued_at,
            "details": {**contact.details, **placed.details}, "case_started_at": now,
            "last_message_at": now, "preview": preview, "updated_at": now, "version": 1,
            **ask_columns(callback, now),
        })
        batch.requests[-1].update(timing_copies(batch.requests[-1]))
    else:
        request_id, reference, lane = existing
        batch.touched_requests.append({"b_id": request_id, "last_message_at": now,
                                       "preview": preview, "updated_at": now})
    batch.messages.append({
        "id": message_id, "request_id": request_id, "channel": contact.channel.value,
        "direction": "inbound", "idempotency_key": contact.idempotency_key,
        "subject": contact.subject, "body": contact.body, "details": dict(contact.details),
        "agent_id": None, "created_at": now, "fingerprint": sent,
    })
    choice = contact.details.get("sms_opt")
    if choice in ("out", "in") and contact.phone:
        batch.sms_opt_outs.append({
            "phone": contact.phone, "at": now,
            "keyword": contact.details.get("sms_keyword", "STOP") if choice == "out" else None,
        })
    new_request = existing is None
    entry: InboundEntry = {
        "request_id": str(request_id), "message_id": str(message_id), "new_request": new_request,
        "channel": contact.channel.value,
    }
    batch.outbox.append(new_row("inbound", entry))
    return IngestResult(request_id, reference, message_id, new_request, duplicate=False,
                        contact_id=owner, lane=lane, callback_due_at=callback_due_at)


def _give_notices(
    conn: Connection, contacts: Sequence[InboundContact],
    results: list[IngestResult | BadInput], notices: Sequence[Notice], at: datetime,
) -> list[IngestResult | BadInput]:
    """Record the service notice as given to each passenger whose channel answers with it in
    its own response and who has not had it (once per passenger per notice, the first of
    their contacts in the batch), and hand it back on their result."""
    if not notices:
        return results
    wanted: dict[int, tuple[Notice, IngestResult]] = {}
    for index, (contact, result) in enumerate(zip(contacts, results, strict=True)):
        if (contact.channel not in NOTICE_IN_RESPONSE or not isinstance(result, IngestResult)
                or result.duplicate or result.contact_id is None):
            continue
        notice = next((x for x in notices if x.covers(contact.channel, result.lane)), None)
        if notice is not None:
            wanted[index] = (notice, result)
    if not wanted:
        return results
    pairs = list({(notice.id, result.contact_id) for notice, result in wanted.values()})
    had = {(notice_id, contact_id) for notice_id, contact_id in wanted_rows(
        conn.execute(_NOTICES_GIVEN, pair_values(pairs)), pairs)}
    given: list[dict[str, Any]] = []
    for index, (notice, result) in wanted.items():
        if (notice.id, result.contact_id) in had:
            continue
        had.add((notice.id, result.contact_id))
        given.append({"notice_id": notice.id, "contact_id": result.contact_id,
                      "channel": contacts[index].channel.value, "at": at})
        results[index] = dataclasses.replace(result, notice=notice)
    if given:
        conn.execute(_INSERT_NOTICE_ANSWERS, given)
    return results


def _write(conn: Connection, batch: _Batch) -> None:
    if batch.contacts:
        conn.execute(_INSERT_CONTACTS, batch.contacts)
    if batch.identities:
        conn.execute(_INSERT_IDENTITIES, batch.identities)
    if batch.named_contacts:
        conn.execute(_NAME_CONTACTS, batch.named_contacts)
    if batch.requests:
        conn.execute(_INSERT_REQUESTS, batch.requests)
    if batch.touched_requests:
        conn.execute(_TOUCH_REQUESTS, batch.touched_requests)
    if batch.reopened:
        conn.execute(reopened_by_message(), batch.reopened)
    if batch.messages:
        conn.execute(_INSERT_MESSAGES, batch.messages)
    if batch.outbox:
        conn.execute(_INSERT_OUTBOX, outbox_values(batch.outbox))
    record_opt_outs(conn, batch.sms_opt_outs)


def record_opt_outs(conn: Connection, changes: list[dict[str, Any]]) -> None:
    """The newest choice per number wins: delete, then insert the numbers that opted out.
    (Also on its own, for the opt-out of a text an announcement-only notice keeps out.)"""
    if not changes:
        return
    latest = {change["phone"]: change for change in changes}
    o = schema.sms_opt_outs
    conn.execute(delete(o).where(o.c.phone.in_(list(latest))))
    opted_out = [c for c in latest.values() if c["keyword"] is not None]
    if opted_out:
        conn.execute(insert(o), opted_out)
