"""The register's erasure: one passenger's personal data leaves the database, the data folder
and Redis; their requests stay as nameless skeletons with their timings, so report totals
do not change.

Under the purge's lock (hub.purge), so an erasure and a purge never interleave. In order:

1. one write transaction: the requests anonymised as the purge anonymises them (they point
   at the shared erased passenger, texts and personal details gone), call numbers blanked,
   recordings and listens deleted, deliveries' recipients blanked (one still waiting is
   failed, never sent), group-member entries, SMS opt-outs, held SMS parts and unpublished
   outbox rows naming them deleted, and the passenger rows with their identities; each
   open request's version grown through hub.handling and a `request.passenger_erased`
   console event written, so consoles showing it drop the name;
2. after the commit: attachment files no other message lists, and local recordings, unlinked;
3. Redis: the stream entries that name a request, passenger, number or address deleted
   (XDEL; the erasure's own events stay), the chat visitor's and the requests' own keys
   deleted, the append-only file rewritten.

Not reached: entries another process writes about the passenger while the erasure runs,
rows PostgreSQL keeps as dead tuples until its next VACUUM, and audio a provider keeps.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from redis.asyncio import Redis
from sqlalchemy import String, cast, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub import handling, schema
from hub.attachment_store import stored_path
from hub.clock import utcnow
from hub.database import Database
from hub.error_codes import ErrorCode
from hub.errors import RetryLater
from hub.events import EventType
from hub.keys import Keys
from hub.model import OPEN_STATUSES, DeliveryState
from hub.purge import (
    STREAM_PAGE,
    anonymise_requests,
    delete_contacts,
    delete_recordings,
    ensure_erased_contact,
    release_lock,
    renew_lock,
    rewrite_append_only,
    stream_keys,
    take_lock,
)
from hub.redis_client import stream_entries
from hub.subject import Subject
from hub.subject_export import attachment_hashes

log = logging.getLogger(__name__)

r, m, k, dl = (schema.contact_requests, schema.messages, schema.calls, schema.deliveries)
rec = schema.recordings

LOCK_WAIT_S = 5.0  # a purge batch is short: wait this long for it before answering 503
LOCK_POLL_S = 0.1
MAX_ANNOUNCED = 50  # open requests whose consoles are told at once; the rest on reload


@dataclass(slots=True)
class Erased:
    """What one erasure changed, for the audit and the answer (counts only)."""

    requests: int = 0
    messages: int = 0
    contacts: int = 0
    calls: int = 0
    recordings: int = 0
    deliveries: int = 0
    group_members: int = 0
    opt_outs: int = 0
    files: int = 0
    stream_entries: int = 0
    redis_keys: int = 0
    _paths: list[Path] = field(default_factory=list, repr=False)

    def counts(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__
                if not name.startswith("_")}


async def erase_subject(db: Database, redis: Redis, keys: Keys, data_dir: Path,
                        subject: Subject) -> Erased:
    token = uuid.uuid4().hex
    await _wait_for_lock(redis, keys, token)
    try:
        erased = Erased()
        await ensure_erased_contact(db)
        async with db.write() as conn:
            # The passenger's requests as of this transaction: one a message opened since
            # the lookup goes too.
            subject = dataclasses.replace(subject, request_ids=tuple(
                (await conn.execute(select(r.c.id).where(
                    r.c.contact_id.in_(subject.contact_ids)))).scalars()))
            digests = await _attachments_of(conn, subject.request_ids)
            await _erase_rows(conn, subject, erased, data_dir)
        await renew_lock(redis, keys, token)
        async with db.read() as conn:
            digests -= await _attachments_of(conn, None, among=digests)
        erased._paths += [stored_path(data_dir, digest) for digest in sorted(digests)]
        erased.files = sum([await asyncio.to_thread(_unlink, path) for path in erased._paths])
        await _erase_redis(redis, keys, subject, erased)
    finally:
        await release_lock(redis, keys, token)
    return erased


async def _wait_for_lock(redis: Redis, keys: Keys, token: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + LOCK_WAIT_S
    while not await take_lock(redis, keys, token):
        if loop.time() > deadline:
            raise RetryLater(ErrorCode.ERASURE_BUSY, 5)
        await asyncio.sleep(LOCK_POLL_S)


async def _attachments_of(conn: AsyncConnection, request_ids: Sequence[uuid.UUID] | None, *,
                          among: set[str] | None = None) -> set[str]:
    """Hashes of the attachments the requests' messages list; with `request_ids` None, those
    of `among` that any message still lists (another passenger mailed the same file)."""
    query = select(m.c.details).where(m.c.channel == "email")
    if request_ids is not None:
        query = query.where(m.c.request_id.in_(request_ids))
    elif among:
        query = query.where(or_(*(cast(m.c.details, String).contains(d) for d in among)))
    else:
        return set()
    found = {digest for details in (await conn.execute(query)).scalars()
             for digest, _name in attachment_hashes(details)}
    return found if among is None else found & among


async def _erase_rows(conn: AsyncConnection, subject: Subject, erased: Erased,
                      data_dir: Path) -> None:
    requests, contacts = list(subject.request_ids), list(subject.contact_ids)
    addresses = [*subject.phones, *subject.emails]
    recordings = (await conn.execute(select(rec.c.id).where(
        rec.c.request_id.in_(requests)))).scalars().all()
    erased.recordings, erased._paths = await delete_recordings(conn, recordings, data_dir)
    erased.messages, _oldest = await anonymise_requests(conn, requests)
    erased.requests = len(requests)
    erased.calls = (await conn.execute(update(k).where(k.c.request_id.in_(requests))
                                       .values(caller="", called=""))).rowcount
    mine = or_(dl.c.request_id.in_(requests), dl.c.recipient.in_(addresses))
    now = utcnow()
    await conn.execute(update(dl).where(mine, dl.c.state == DeliveryState.QUEUED.value)
                       .values(state="failed", next_attempt_at=None, lease_until=None,
                               updated_at=now))
    erased.deliveries = (await conn.execute(update(dl).where(mine).values(
        recipient="", reason=None, provider_id=None, updated_at=now))).rowcount
    gm, oo, sp, ob = (schema.group_members, schema.sms_opt_outs, schema.sms_parts,
                      schema.outbox)
    erased.group_members = (await conn.execute(delete(gm).where(or_(
        gm.c.phone.in_(subject.phones), gm.c.email.in_(subject.emails))))).rowcount
    erased.opt_outs = (await conn.execute(
        delete(oo).where(oo.c.phone.in_(subject.phones)))).rowcount
    if subject.phones:
        await conn.execute(delete(sp).where(or_(
            *(sp.c.set_key.startswith(phone, autoescape=True) for phone in subject.phones))))
    needles = _needles(subject)
    await conn.execute(delete(ob).where(or_(*(ob.c.payload.contains(n, autoescape=True)
                                              for n in needles))))
    erased.contacts = await delete_contacts(conn, contacts)
    await _announce(conn, requests)


async def _announce(conn: AsyncConnection, requests: Sequence[uuid.UUID]) -> None:
    """Consoles showing an open request of the passenger take its nameless summary."""
    opened = (await conn.execute(select(r.c.id).where(
        r.c.id.in_(requests), r.c.status.in_([s.value for s in OPEN_STATUSES]))
        .order_by(r.c.case_started_at).limit(MAX_ANNOUNCED))).scalars().all()
    for request_id in opened:
        await handling.change(conn, request_id, {})
        await handling.announce(conn, EventType.REQUEST_PASSENGER_ERASED, request_id)


def _needles(subject: Subject) -> list[str]:
    """What marks a stream entry or outbox row as the subject's: their requests' and rows'
    ids, numbers, addresses and chat visitor ids (names alone are not unique)."""
    return [*map(str, subject.request_ids), *map(str, subject.contact_ids),
            *subject.phones, *subject.emails, *subject.chat_visitors]


async def _erase_redis(redis: Redis, keys: Keys, subject: Subject, erased: Erased) -> None:
    needles = _needles(subject)
    for stream in stream_keys(keys):
        start = "-"
        while True:
            page = stream_entries(await redis.xrange(stream, start, "+", count=STREAM_PAGE))
            if not page:
                break
            doomed = [entry_id for entry_id, fields in page
                      if any(n in _raw(fields) for n in needles) and not _announced(fields)]
            if doomed:
                erased.stream_entries += await redis.xdel(stream, *doomed)
            if len(page) < STREAM_PAGE:
                break
            start = "(" + page[-1][0]
    own = [*(keys.viewers(str(request_id)) for request_id in subject.request_ids),
           *(keys.chat_closed(visitor) for visitor in subject.chat_visitors),
           *(keys.chat_rate("visitor", visitor) for visitor in subject.chat_visitors)]
    if own:
        erased.redis_keys = int(await redis.delete(*own))
    await rewrite_append_only(redis)


def _announced(fields: dict[str, str]) -> bool:
    """The erasure's own console event: it names the request, and nothing personal."""
    data = fields.get("data")
    try:
        event = json.loads(data) if data is not None else None
    except ValueError:
        return False
    return isinstance(event, dict) and event.get("type") == EventType.REQUEST_PASSENGER_ERASED


def _raw(fields: dict[str, str]) -> str:
    return "\0".join(part for pair in fields.items() for part in pair)


def _unlink(path: Path) -> int:
    try:
        path.unlink()
    except FileNotFoundError:
        return 0
    return 1
