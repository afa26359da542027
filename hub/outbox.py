"""The transactional outbox and its relay to Redis.

A change that must be announced (a new contact for the router, an event for the consoles)
writes an outbox row in its own transaction. After the commit the relay publishes the row to
its Redis stream and deletes it. A Lua script makes each publish happen once: a marker keyed
by the row's unique key is set in the same atomic step as the XADD, so a row published by a
process that died before deleting it, and published again by the sweeper, appears once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import Delete, delete, insert, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from hub import schema
from hub.clock import utcnow
from hub.database import Database
from hub.json_types import JsonDocument
from hub.keys import PUBLISHED_MARK_TTL_S, Keys
from hub.redis_client import run_script_calls

log = logging.getLogger(__name__)

# KEYS: marker, stream. ARGV: marker ttl, maxlen (0: never trim), payload.
PUBLISH_ONCE = """
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  if ARGV[2] == '0' then
    return redis.call('XADD', KEYS[2], '*', 'data', ARGV[3])
  end
  return redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 'data', ARGV[3])
end
return false
"""

SWEEP_BATCH = 1000
FORGET_ALONE_AFTER_S = 1.0  # published rows no ingest took along are deleted by the relay


@dataclass(frozen=True, slots=True)
class OutboxRow:
    key: str
    stream: str  # "inbound" or "events"
    payload: str


def new_row(stream: str, payload: JsonDocument) -> OutboxRow:
    return OutboxRow(str(uuid.uuid4()), stream, json.dumps(payload, separators=(",", ":")))


def outbox_values(rows: Iterable[OutboxRow]) -> list[dict[str, Any]]:
    now = utcnow()
    return [
        {"key": r.key, "stream": r.stream, "payload": r.payload, "created_at": now} for r in rows
    ]


async def write_rows(conn: AsyncConnection, rows: Iterable[OutboxRow]) -> None:
    """Insert outbox rows inside the caller's transaction."""
    values = outbox_values(rows)
    if values:
        await conn.execute(insert(schema.outbox), values)


def delete_published(keys: list[str]) -> Delete:
    return delete(schema.outbox).where(schema.outbox.c.key.in_(keys))


class OutboxRelay:
    def __init__(self, db: Database, redis: Redis, keys: Keys, *, events_maxlen: int,
                 sweep_interval_s: float) -> None:
        self._db = db
        self._redis = redis
        self._keys = keys
        self._events_maxlen = events_maxlen
        self._sweep_interval_s = sweep_interval_s
        self._script = redis.register_script(PUBLISH_ONCE)
        self._pending: list[OutboxRow] = []
        self._published: list[str] = []
        self._published_since = 0.0
        self._wakeup = asyncio.Event()
        self.published = 0
        self.failures = 0

    def __repr__(self) -> str:
        return (f"<OutboxRelay pending={len(self._pending)} published={self.published} "
                f"failures={self.failures}>")

    def notify(self, rows: Iterable[OutboxRow]) -> None:
        """Hand over rows just committed by this process, to be published at once."""
        self._pending.extend(rows)
        self._wakeup.set()

    async def run(self) -> None:
        # At start-up every row is fair game: whoever wrote it is gone or will publish once.
        await self._sweep(min_age_s=0)
        next_sweep = time.monotonic() + self._sweep_interval_s
        while True:
            wake_at = next_sweep
            if self._published:
                wake_at = min(wake_at, self._published_since + FORGET_ALONE_AFTER_S)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), max(0.0, wake_at - time.monotonic()))
            self._wakeup.clear()
            rows, self._pending = self._pending, []
            if rows:
                await self._publish(rows)
            if self._published and (
                time.monotonic() >= self._published_since + FORGET_ALONE_AFTER_S
            ):
                await self._forget(self.take_published())
            if time.monotonic() >= next_sweep:
                await self._sweep(min_age_s=self._sweep_interval_s)
                next_sweep = time.monotonic() + self._sweep_interval_s

    async def publish(self, rows: list[OutboxRow]) -> None:
        """Publish rows (each once, ever) to their streams in one pipeline."""
        await run_script_calls(self._redis, self._script, [
            ([self._keys.published(row.key), self._keys.stream(row.stream)],
             [PUBLISHED_MARK_TTL_S, self._events_maxlen if row.stream == "events" else 0,
              row.payload])
            for row in rows])

    def take_published(self) -> list[str]:
        """Keys of published rows still in the table, for the caller's transaction to delete.

        Deleting them inside the next ingest transaction spares the single SQLite writer a
        transaction of its own per publish.
        """
        keys, self._published = self._published, []
        return keys

    def give_back(self, keys: list[str]) -> None:
        """Keys taken for a transaction that failed: delete them later."""
        if keys:
            if not self._published:
                self._published_since = time.monotonic()
            self._published.extend(keys)

    async def _publish(self, rows: list[OutboxRow]) -> bool:
        try:
            await self.publish(rows)
        except (RedisError, OSError) as exc:
            # The rows stay in the table; the sweeper publishes them later.
            self.failures += 1
            log.warning("outbox publish of %d rows failed, the sweeper retries: %s",
                        len(rows), exc)
            return False
        self.published += len(rows)
        self.give_back([row.key for row in rows])
        return True

    async def _forget(self, keys: list[str]) -> None:
        """Delete published rows nobody else's transaction has taken along."""
        if not keys:
            return
        try:
            async with self._db.write() as conn:
                await conn.execute(delete_published(keys))
        except (SQLAlchemyError, OSError) as exc:
            log.warning("could not delete %d published outbox rows: %s", len(keys), exc)
            self.give_back(keys)

    async def _sweep(self, *, min_age_s: float) -> None:
        """Publish rows left behind (by a failed publish here, or a process that died), page
        after page until none is left: after an outage the backlog drains at full speed."""
        while await self._sweep_page(min_age_s=min_age_s) == SWEEP_BATCH:
            await self._forget(self.take_published())

    async def _sweep_page(self, *, min_age_s: float) -> int:
        older_than = utcnow() - timedelta(seconds=min_age_s)
        try:
            async with self._db.read() as conn:
                result = await conn.execute(
                    select(schema.outbox.c.key, schema.outbox.c.stream, schema.outbox.c.payload)
                    .where(schema.outbox.c.created_at < older_than)
                    .order_by(schema.outbox.c.id)
                    .limit(SWEEP_BATCH)
                )
                rows = [OutboxRow(k, s, p) for k, s, p in result]
        # OSError: a server that refuses the connection is not wrapped by the driver
        except (SQLAlchemyError, OSError) as exc:
            log.warning("outbox sweep could not read the database: %s", exc)
            return 0
        if rows:
            log.info("outbox sweep publishes %d rows left behind", len(rows))
            if not await self._publish(rows):
                return 0
        return len(rows)
