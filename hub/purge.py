"""The purge: data past its retention (hub.retention) leaves the database, the data folder and
Redis, in short batches, one process at a time.

What goes, class by class (the names `taxiconnect purge` prints):

- `recordings`: recording and voice-message rows with their transcriptions and listens, and
  the audio file when the hub keeps it under its data folder.
- `requests`: a request whose last activity is past `messages_days` keeps its status,
  channel, lane, priority, agents and timings for reports, and loses everything personal: its
  preview and personal details, and the link to its passenger (it points at one shared,
  nameless passenger with no numbers, so joins and reports still work).
- `messages`: the texts, subjects, details and idempotency keys of those requests' messages
  (the rows stay, with channel, direction, time and agent); their handling notes go too.
- `contacts`: passengers none of whose requests is younger than `messages_days`, with their
  numbers and addresses, and the notices they were answered with.
- `sms_parts`: fragments of concatenated SMS still held.
- `calls`: the caller's and called numbers of calls past `calls_days` (timings stay).
- `deliveries`, `handling_events`, `audit`: rows past their retention are deleted (the
  audit's from the start of its hash chain on; hub.audit_chain).
- `outbox`: events never published, older than the streams keep their entries.
- `attachments`: files under data_dir/attachments that last arrived before `attachments_days`.
- `stream_entries`: entries of the Redis streams (events, inbound, outbound) older than the
  shortest retention of what they carry, trimmed by time (XTRIM MINID); Redis then rewrites
  its append-only file so the trimmed entries do not linger there.

`plan()` counts with the same conditions the run applies, so a dry run and the run that
follows it at the same reference time agree. No transaction is open while Redis or the
file system is awaited, and none holds more than `batch_size` rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import ColumnElement, and_, delete, exists, func, insert, or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from hub import audit, schema
from hub.attachment_store import attachments_root
from hub.clock import utcnow
from hub.database import Database
from hub.handling_callback import forget_callback_numbers
from hub.keys import Keys
from hub.recording_paths import local_file
from hub.redis_client import stream_entries
from hub.retention import RetentionSettings

log = logging.getLogger(__name__)

# The one passenger every anonymised request points at: no name, no number, no address.
ERASED_CONTACT_ID = uuid.UUID("00000000-0000-0000-0000-0000000e7a5e")

# Request details that say nothing about the passenger and that reports need (callbacks made
# in time, missed calls, the form and language used); every other key is dropped.
KEPT_DETAILS = frozenset({
    "callback", "callback_due_at", "callback_done_at", "callback_attempts", "missed_calls",
    "last_missed_at", "missed_wait_s", "out_of_hours", "language", "form", "gateway",
    "incomplete", "auto",
})

# The lock outlives a stalled process by this much; a live purge renews it after each batch.
LOCK_MS = 10 * 60 * 1000
RENEW_LOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
RELEASE_LOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
STREAM_PAGE = 1000
# A process just started waits this long (or one interval, if shorter) before its first
# purge: a fleet restarting together does not purge at once, and start-up stays light.
FIRST_RUN_DELAY_S = 60.0

CLASSES = ("recordings", "requests", "messages", "contacts", "sms_parts", "calls",
           "outbox", "deliveries", "handling_events", "audit", "attachments", "stream_entries")

r, m, c, i = (schema.contact_requests, schema.messages, schema.contacts,
              schema.contact_identities)
k, rec, lis = schema.calls, schema.recordings, schema.recording_listens


@dataclass(slots=True)
class Tally:
    """What one class loses: how many rows, files or entries, and the oldest's time."""

    count: int = 0
    oldest: datetime | None = None

    def add(self, count: int, oldest: datetime | None) -> None:
        self.count += count
        if oldest is not None and (self.oldest is None or oldest < self.oldest):
            self.oldest = oldest


@dataclass(slots=True)
class Report:
    as_of: datetime
    classes: dict[str, Tally] = field(default_factory=lambda: {n: Tally() for n in CLASSES})

    def lines(self) -> list[str]:
        """One line per class: name, count, oldest (UTC) or '-'; the CLI prints these."""
        return [f"{name:<16} {tally.count:>9} "
                f"{tally.oldest.isoformat(timespec='seconds') if tally.oldest else '-'}"
                for name, tally in self.classes.items()]

    def counts(self) -> dict[str, int]:
        return {name: tally.count for name, tally in self.classes.items()}


class Purge:
    """Plans and runs the purge at a reference time (settings.as_of, or now)."""

    def __init__(self, db: Database, redis: Redis, keys: Keys, settings: RetentionSettings,
                 data_dir: Path) -> None:
        self._db = db
        self._redis = redis
        self._keys = keys
        self._settings = settings
        self._attachments = attachments_root(data_dir)
        self._data_dir = data_dir.resolve()
        self._token = uuid.uuid4().hex

    def _cut(self, name: str, now: datetime) -> datetime:
        return self._settings.cutoff(name, now)

    # -- the conditions, shared by plan and run ----------------------------------------------

    def _request_due(self, now: datetime) -> ColumnElement[bool]:
        cut = self._cut("messages", now)
        return and_(r.c.contact_id != ERASED_CONTACT_ID, r.c.last_message_at < cut,
                    r.c.updated_at < cut)

    def _contact_due(self, now: datetime, *, planning: bool) -> ColumnElement[bool]:
        """A passenger goes once none of their requests will be younger than the retention:
        planning counts requests the run is about to anonymise as gone already."""
        cut = self._cut("messages", now)
        kept = r.c.contact_id == c.c.id
        if planning:
            kept = and_(kept, or_(r.c.last_message_at >= cut, r.c.updated_at >= cut))
        return and_(c.c.id != ERASED_CONTACT_ID, c.c.created_at < cut,
                    ~exists(select(r.c.id).where(kept)))

    def _stream_minid(self, now: datetime) -> int:
        return int((now - timedelta(days=self._settings.stream_days)).timestamp() * 1000)

    def _simple(self, now: datetime) -> list[tuple[str, Any, Any, ColumnElement[bool]]]:
        """Classes deleted row by row: (name, table, time column, condition)."""
        dl, he, al, sp, ob = (schema.deliveries, schema.handling_events, schema.audit_log,
                              schema.sms_parts, schema.outbox)
        stream_cut = now - timedelta(days=self._settings.stream_days)
        return [
            # An event never published in all that time would only publish stale personal data.
            ("outbox", ob, ob.c.created_at, ob.c.created_at < stream_cut),
            ("sms_parts", sp, sp.c.received_at, sp.c.received_at < self._cut("messages", now)),
            ("deliveries", dl, dl.c.created_at, dl.c.created_at < self._cut("deliveries", now)),
            ("handling_events", he, he.c.at, he.c.at < self._cut("handling", now)),
            ("audit", al, al.c.at, self._audit_due(now)),
        ]

    def _audit_due(self, now: datetime) -> ColumnElement[bool]:
        """Audit entries go as a run from the oldest, never from the middle of the hash
        chain (hub.audit_chain): up to the newest past its retention. Times rise with ids
        (taken under the chain's lock); this holds the chain whole even where hub hosts'
        clocks disagree a little."""
        al = schema.audit_log
        newest_due = (select(func.max(al.c.id)).where(al.c.at < self._cut("audit", now))
                      .scalar_subquery())
        return al.c.id <= newest_due

    # -- plan ----------------------------------------------------------------------------------

    async def plan(self, now: datetime | None = None) -> Report:
        """What a run at `now` would remove, without removing anything."""
        now = self._settings.reference_time(now)
        report = Report(now)
        t = report.classes
        async with self._db.read() as conn:
            t["recordings"].add(*await _count(conn, rec.c.created_at,
                                              rec.c.created_at < self._cut("recordings", now)))
            due = self._request_due(now)
            t["requests"].add(*await _count(conn, r.c.last_message_at, due))
            t["messages"].add(*await _count(
                conn, m.c.created_at, m.c.request_id.in_(select(r.c.id).where(due))))
            t["contacts"].add(*await _count(conn, c.c.created_at,
                                            self._contact_due(now, planning=True)))
            t["calls"].add(*await _count(conn, k.c.started_at, self._call_due(now)))
            for name, _table, at, condition in self._simple(now):
                t[name].add(*await _count(conn, at, condition))
        t["attachments"].add(*await asyncio.to_thread(self._old_files, now, False))
        t["stream_entries"].add(*await self._stream_entries(self._stream_minid(now)))
        return report

    def _call_due(self, now: datetime) -> ColumnElement[bool]:
        return and_(k.c.started_at < self._cut("calls", now), or_(k.c.caller != "",
                                                                  k.c.called != ""))

    # -- run -----------------------------------------------------------------------------------

    async def run(self, now: datetime | None = None) -> Report | None:
        """Purge once; None when another process is purging."""
        if not await take_lock(self._redis, self._keys, self._token):
            return None
        try:
            now = self._settings.reference_time(now)
            report = Report(now)
            await self._run(report)
        finally:
            await release_lock(self._redis, self._keys, self._token)
        async with self._db.write() as conn:
            start = await audit.chain_start(conn)
            await audit.record(conn, "retention.purge", agent_id=None,
                               detail={"as_of": now.isoformat(), **report.counts(),
                                       "audit_from": start})
        log.info("purge as of %s: %s", now.isoformat(timespec="seconds"),
                 ", ".join(f"{n} {v}" for n, v in report.counts().items() if v) or "nothing due")
        return report

    async def _renew(self) -> None:
        await renew_lock(self._redis, self._keys, self._token)

    async def _run(self, report: Report) -> None:
        now, t = report.as_of, report.classes
        await self._batches(rec, rec.c.created_at,
                            rec.c.created_at < self._cut("recordings", now),
                            self._delete_recordings, t["recordings"])
        await self._ensure_erased_contact()
        await self._batches(r, r.c.last_message_at, self._request_due(now),
                            lambda conn, ids: self._anonymise_requests(conn, ids, t),
                            t["requests"])
        await self._batches(c, c.c.created_at, self._contact_due(now, planning=False),
                            self._delete_contacts, t["contacts"])
        await self._batches(k, k.c.started_at, self._call_due(now), self._blank_calls,
                            t["calls"])
        for name, table, at, condition in self._simple(now):
            await self._batches(table, at, condition, _deleter(table), t[name])
        t["attachments"].add(*await asyncio.to_thread(self._old_files, now, True))
        await self._trim_streams(self._stream_minid(now), t["stream_entries"])

    async def _batches(self, table: Any, at: Any, condition: ColumnElement[bool],
                       change: Callable[[AsyncConnection, ColumnElement[bool]], Any],
                       tally: Tally) -> None:
        """Read a batch of due ids outside any transaction, then change them in a short
        one that checks the condition again; until none is left."""
        key = table.primary_key.columns.values()[0]
        while True:
            async with self._db.read() as conn:
                rows = (await conn.execute(
                    select(key, at).where(condition).order_by(key)
                    .limit(self._settings.batch_size))).all()
            if not rows:
                return
            ids = [row[0] for row in rows]
            async with self._db.write() as conn:
                done, files = await change(conn, and_(key.in_(ids), condition))
            if not done:
                return  # nothing would change: a row held by something else stays for next run
            tally.add(done, min(row[1] for row in rows))
            for path in files:
                await asyncio.to_thread(_unlink, path)
            await self._renew()

    async def _delete_recordings(self, conn: AsyncConnection, due: Any
                                 ) -> tuple[int, list[Path]]:
        ids = [row.id for row in await conn.execute(select(rec.c.id).where(due))]
        return await delete_recordings(conn, ids, self._data_dir)

    async def _ensure_erased_contact(self) -> None:
        await ensure_erased_contact(self._db)

    async def _anonymise_requests(self, conn: AsyncConnection, due: Any, t: dict[str, Tally]
                                  ) -> tuple[int, list[Path]]:
        ids = [row.id for row in await conn.execute(select(r.c.id).where(due))]
        t["messages"].add(*await anonymise_requests(conn, ids))
        return len(ids), []

    async def _delete_contacts(self, conn: AsyncConnection, due: Any
                               ) -> tuple[int, list[Path]]:
        ids = [row.id for row in await conn.execute(select(c.c.id).where(due))]
        return await delete_contacts(conn, ids), []

    async def _blank_calls(self, conn: AsyncConnection, due: Any) -> tuple[int, list[Path]]:
        return (await conn.execute(update(k).where(due).values(caller="", called=""))
                ).rowcount, []

    # -- files and streams ---------------------------------------------------------------------

    def _old_files(self, now: datetime, remove: bool) -> tuple[int, datetime | None]:
        cut = self._cut("attachments", now).timestamp()
        count, oldest = 0, None
        if not self._attachments.is_dir():
            return 0, None
        for path in sorted(self._attachments.rglob("*")):
            with contextlib.suppress(FileNotFoundError):
                mtime = path.stat().st_mtime
                if not path.is_file() or mtime >= cut:
                    continue
                if remove:
                    path.unlink()
                count += 1
                oldest = mtime if oldest is None else min(oldest, mtime)
        return count, datetime.fromtimestamp(oldest, UTC) if oldest is not None else None

    def _streams(self) -> tuple[str, ...]:
        return stream_keys(self._keys)

    async def _stream_entries(self, minid: int) -> tuple[int, datetime | None]:
        """Entries older than `minid` (ms), counted page by page."""
        count, oldest = 0, None
        for stream in self._streams():
            start = "-"
            while True:
                page = stream_entries(await self._redis.xrange(
                    stream, start, f"{minid - 1}-18446744073709551615" if minid > 0 else "0-0",
                    count=STREAM_PAGE))
                if not page:
                    break
                count += len(page)
                first = _entry_time(page[0][0])
                oldest = first if oldest is None else min(oldest, first)
                start = "(" + _text(page[-1][0])
                if len(page) < STREAM_PAGE:
                    break
        return count, oldest

    async def _trim_streams(self, minid: int, tally: Tally) -> None:
        count, oldest = await self._stream_entries(minid)
        if not count:
            return
        trimmed = 0
        for stream in self._streams():
            trimmed += await self._redis.xtrim(stream, minid=str(minid), approximate=False)
        tally.add(trimmed, oldest)
        await rewrite_append_only(self._redis)


class PurgeWorker:
    """The scheduled purge: every `purge_interval_s`, on whichever process takes the lock."""

    def __init__(self, purge: Purge, interval_s: float) -> None:
        self._purge = purge
        self._interval_s = interval_s
        self._stopping = asyncio.Event()
        self.runs = 0

    def __repr__(self) -> str:
        return f"<PurgeWorker runs={self.runs} every={self._interval_s:g}s>"

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        if not self._interval_s:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(),
                                   min(self._interval_s, FIRST_RUN_DELAY_S))
        while not self._stopping.is_set():
            try:
                if await self._purge.run() is not None:
                    self.runs += 1
            except (RedisError, SQLAlchemyError, OSError) as exc:
                log.warning("purge failed: %s; retrying at the next interval", exc)
            except Exception:  # a bug must not end purging for the life of the process
                log.exception("purge failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._interval_s)


# -- pieces the erasure of one passenger (hub.subject_erase) shares -----------------------------

async def take_lock(redis: Redis, keys: Keys, token: str) -> bool:
    """The purge lock: one purge or erasure at a time across every hub process."""
    return bool(await redis.set(keys.purge_lock, token, nx=True, px=LOCK_MS))


async def renew_lock(redis: Redis, keys: Keys, token: str) -> None:
    await redis.eval(RENEW_LOCK, 1, keys.purge_lock, token, LOCK_MS)


async def release_lock(redis: Redis, keys: Keys, token: str) -> None:
    await redis.eval(RELEASE_LOCK, 1, keys.purge_lock, token)


def stream_keys(keys: Keys) -> tuple[str, ...]:
    """The streams that carry passengers' data: events, inbound and outbound."""
    return (keys.events, keys.inbound, keys.outbound)


async def rewrite_append_only(redis: Redis) -> None:
    try:
        # The append-only file still holds every removed entry until it is rewritten.
        await redis.bgrewriteaof()
    except RedisError as exc:  # one in progress, or a managed Redis that forbids it
        log.warning("purge: Redis did not rewrite its append-only file: %s", exc)


async def delete_recordings(conn: AsyncConnection, ids: Sequence[uuid.UUID], data_dir: Path
                            ) -> tuple[int, list[Path]]:
    """Delete recordings with their listens; the local files to unlink after the commit."""
    if not ids:
        return 0, []
    files = [p for (loc,) in await conn.execute(
        select(rec.c.location).where(rec.c.id.in_(ids))) if (p := local_file(data_dir, loc))]
    await conn.execute(delete(lis).where(lis.c.recording_id.in_(ids)))
    done = (await conn.execute(delete(rec).where(rec.c.id.in_(ids)))).rowcount
    return done, files


async def ensure_erased_contact(db: Database) -> None:
    async with db.read() as conn:
        if (await conn.execute(select(c.c.id).where(c.c.id == ERASED_CONTACT_ID))).first():
            return
    with contextlib.suppress(SQLAlchemyError):  # another process's purge made it first
        async with db.write() as conn:
            now = utcnow()
            await conn.execute(insert(c).values(id=ERASED_CONTACT_ID, name=None,
                                                created_at=now, updated_at=now))


async def anonymise_requests(conn: AsyncConnection, ids: Sequence[uuid.UUID]
                             ) -> tuple[int, datetime | None]:
    """Requests keep their skeleton and timings, point at the erased passenger and lose
    preview, personal details, callback number, message texts and handling notes.
    Returns the messages blanked and the oldest one's time."""
    if not ids:
        return 0, None
    rows = (await conn.execute(select(r.c.id, r.c.details).where(r.c.id.in_(ids)))).all()
    oldest = (await conn.execute(
        select(func.min(m.c.created_at)).where(m.c.request_id.in_(ids)))).scalar()
    blanked = (await conn.execute(
        update(m).where(m.c.request_id.in_(ids))
        .values(body="", subject=None, details={}, idempotency_key=None,
                fingerprint=None))).rowcount
    he = schema.handling_events
    await conn.execute(update(he).where(he.c.request_id.in_(ids)).values(note=None))
    for row in rows:
        kept = {key: value for key, value in (row.details or {}).items()
                if key in KEPT_DETAILS}
        await conn.execute(update(r).where(r.c.id == row.id).values(
            contact_id=ERASED_CONTACT_ID, preview="", details=kept))
    await forget_callback_numbers(conn, list(ids))
    return blanked, oldest


async def delete_contacts(conn: AsyncConnection, ids: Sequence[uuid.UUID]) -> int:
    """Passengers with their numbers, addresses and notice answers; none may own a request."""
    if not ids:
        return 0
    await conn.execute(update(c).where(c.c.merged_into_id.in_(ids))
                       .values(merged_into_id=None))
    await conn.execute(delete(i).where(i.c.contact_id.in_(ids)))
    na = schema.notice_answers
    await conn.execute(delete(na).where(na.c.contact_id.in_(ids)))
    return int((await conn.execute(delete(c).where(c.c.id.in_(ids)))).rowcount)


async def _count(conn: AsyncConnection, at: Any, condition: ColumnElement[bool]
                 ) -> tuple[int, datetime | None]:
    row = (await conn.execute(select(func.count(), func.min(at)).where(condition))).one()
    oldest = row[1]
    if isinstance(oldest, datetime) and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=UTC)
    return int(row[0]), oldest


def _deleter(table: Any) -> Callable[[AsyncConnection, Any], Any]:
    async def change(conn: AsyncConnection, due: Any) -> tuple[int, list[Path]]:
        return (await conn.execute(delete(table).where(due))).rowcount, []
    return change


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _entry_time(entry_id: bytes | str) -> datetime:
    return datetime.fromtimestamp(int(_text(entry_id).partition("-")[0]) / 1000, UTC)
