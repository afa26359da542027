"""The router: the consumer group that takes committed contacts off the inbound stream and
announces them to the consoles (and, with the dispatching strategies, offers them to agents).

Every hub process runs one consumer, which keeps a heartbeat key alive in Redis while it
runs. Entries held by a consumer whose heartbeat has lapsed (a process that died) are taken
over within about HEARTBEAT_TTL_S; entries of a live consumer only once they have been idle
for `reclaim_idle_ms`, so that slow work is not taken from a process still doing it.
Handling is idempotent: a Lua
script emits the console event once (guarded by a marker); then the automatic answers are
written (dispatch.auto_answers, once by their keys); only then is the entry acknowledged
and deleted. A retried entry has one effect, and the consoles never wait for the answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError
from sqlalchemy.exc import SQLAlchemyError

from hub.database import Database
from hub.events import EventType
from hub.inbound_entry import InboundEntry
from hub.keys import PUBLISHED_MARK_TTL_S, ROUTER_GROUP, Keys
from hub.read_models import summaries_by_id
from hub.redis_client import ScriptCall, run_script_calls, stream_entries, stream_reply
from hub.tasks import pause

log = logging.getLogger(__name__)

READ_COUNT = 256
BLOCK_MS = 250  # also how long a stop waits for the loop to notice
ERROR_BACKOFF_S = 1.0
HEARTBEAT_EVERY_S = 1.0  # also how often the group is looked over for dead consumers
HEARTBEAT_TTL_S = 3  # missed for this long, a consumer counts as dead

# KEYS: marker, events stream. ARGV: ttl, maxlen, event.
PUBLISH_ONCE = """
if ARGV[3] ~= '' and redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 'data', ARGV[3])
end
return 1
"""

Entry = tuple[str, dict[str, str]]


class Router:
    def __init__(self, db: Database, redis: Redis, keys: Keys, *, consumer: str,
                 reclaim_idle_ms: int, events_maxlen: int,
                 answer: Callable[[list[InboundEntry]], Awaitable[None]] | None = None
                 ) -> None:
        self._db = db
        self._answer = answer
        self._redis = redis
        self._keys = keys
        self._stopping = asyncio.Event()
        self.consumer = consumer
        self._reclaim_idle_ms = reclaim_idle_ms
        self._events_maxlen = events_maxlen
        self._script = redis.register_script(PUBLISH_ONCE)
        self.routed = 0
        self.reclaimed = 0

    def __repr__(self) -> str:
        return f"<Router {self.consumer} routed={self.routed} reclaimed={self.reclaimed}>"

    async def ensure_group(self) -> None:
        try:
            await self._redis.xgroup_create(self._keys.inbound, ROUTER_GROUP, id="0",
                                            mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        try:
            await self._route_until_stopped()
        finally:
            await self._leave_group()

    async def _leave_group(self) -> None:
        """Remove this consumer from the group unless it still holds entries (then another
        process takes them over first): restarts must not pile up dead consumers."""
        try:
            pending = await self._redis.xpending_range(
                self._keys.inbound, ROUTER_GROUP, min="-", max="+", count=1,
                consumername=self.consumer)
            if not pending:
                await self._redis.xgroup_delconsumer(self._keys.inbound, ROUTER_GROUP,
                                                     self.consumer)
            await self._redis.delete(self._keys.router_alive(self.consumer))
        except (RedisError, OSError) as exc:
            log.info("router %s could not leave the group: %s", self.consumer, exc)

    async def _route_until_stopped(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.ensure_group()
                await self._retry_own()
                await self._reclaim()
                await self._read_new()
            except (RedisError, SQLAlchemyError, OSError) as exc:
                log.warning("router %s: %s; retrying", self.consumer, exc)
                await pause(self._stopping, ERROR_BACKOFF_S)

    async def _read_new(self) -> None:
        """Handle new entries until reclaiming is due again; beat and look for dead
        consumers every HEARTBEAT_EVERY_S meanwhile."""
        loop = asyncio.get_running_loop()
        reclaim_at = loop.time() + self._reclaim_idle_ms / 1000 / 2
        beat_at = 0.0
        while loop.time() < reclaim_at and not self._stopping.is_set():
            if loop.time() >= beat_at:
                await self._beat()
                await self._take_over_the_dead()
                beat_at = loop.time() + HEARTBEAT_EVERY_S
            response = await self._redis.xreadgroup(
                ROUTER_GROUP, self.consumer, {self._keys.inbound: ">"},
                count=READ_COUNT, block=BLOCK_MS,
            )
            for _stream, entries in stream_reply(response):
                await self.handle(entries)

    async def _retry_own(self) -> None:
        """Handle again the entries this consumer read and could not finish (the database
        or Redis failed under it): at once after the error, not once they have been idle for
        `reclaim_idle_ms` (a PostgreSQL restart held one contact back 16-18 s)."""
        while True:
            response = await self._redis.xreadgroup(
                ROUTER_GROUP, self.consumer, {self._keys.inbound: "0"}, count=READ_COUNT)
            found = [e for _stream, page in stream_reply(response) for e in page]
            gone = [e[0] for e in found if not e[1]]  # deleted while pending
            if gone:
                await self._redis.xack(self._keys.inbound, ROUTER_GROUP, *gone)
            entries = [e for e in found if e[1]]
            if not entries:
                return
            await self.handle(entries)

    async def _beat(self) -> None:
        await self._redis.set(self._keys.router_alive(self.consumer), "1", ex=HEARTBEAT_TTL_S)

    async def _take_over_the_dead(self) -> None:
        """Claim every entry held by a consumer whose heartbeat lapsed, and remove it from
        the group. (A consumer without a heartbeat key at all, a process of a version before
        heartbeats, is taken over too: handling is idempotent, so at worst done twice.)"""
        consumers = await self._redis.xinfo_consumers(self._keys.inbound, ROUTER_GROUP)
        holding = [c["name"] for c in consumers
                   if c["name"] != self.consumer and int(c.get("pending", 0)) > 0]
        for name in holding:
            if await self._redis.exists(self._keys.router_alive(name)):
                continue
            if not await self._redis.set(self._keys.router_takeover(name), self.consumer,
                                         nx=True, ex=HEARTBEAT_TTL_S):
                continue  # another live process is taking this one over right now
            await self._claim_from(name)

    async def _claim_from(self, dead: str) -> None:
        while True:
            pending = await self._redis.xpending_range(
                self._keys.inbound, ROUTER_GROUP, min="-", max="+", count=READ_COUNT,
                consumername=dead)
            if not pending:
                break
            ids: list[Any] = [p["message_id"] for p in pending]
            claimed = stream_entries(await self._redis.xclaim(
                self._keys.inbound, ROUTER_GROUP, self.consumer, min_idle_time=0,
                message_ids=ids))
            entries = [e for e in claimed if e and e[1]]
            if entries:
                self.reclaimed += len(entries)
                log.warning("router %s took over %d entries of %s, which stopped beating",
                            self.consumer, len(entries), dead)
                await self.handle(entries)
            # Entries deleted meanwhile come back empty or not at all: acknowledge them away.
            gone = set(ids) - {entry_id for entry_id, _ in entries}
            if gone:
                await self._redis.xack(self._keys.inbound, ROUTER_GROUP, *gone)
        with contextlib.suppress(RedisError):
            await self._redis.xgroup_delconsumer(self._keys.inbound, ROUTER_GROUP, dead)

    async def _reclaim(self) -> None:
        start = "0-0"
        while True:
            start, entries, *_ = await self._redis.xautoclaim(
                self._keys.inbound, ROUTER_GROUP, self.consumer,
                min_idle_time=self._reclaim_idle_ms, start_id=start, count=READ_COUNT,
            )
            entries = [e for e in entries if e and e[1]]
            if entries:
                self.reclaimed += len(entries)
                log.info("router %s took over %d abandoned entries", self.consumer,
                         len(entries))
                await self.handle(entries)
            if start == "0-0":
                return

    async def handle(self, entries: Sequence[Entry]) -> None:
        parsed: list[tuple[str, InboundEntry]] = []
        for entry_id, fields in entries:
            try:
                payload: InboundEntry = json.loads(fields["data"])
                uuid.UUID(payload["request_id"])
            except (KeyError, TypeError, ValueError):
                # Not ours to understand: acknowledged with no event, or every process
                # would take it over and fail on it forever.
                log.error("router %s: malformed inbound entry %s dropped", self.consumer,
                          entry_id)
                payload = {"request_id": str(uuid.UUID(int=0))}
            parsed.append((entry_id, payload))
        all_ids = [uuid.UUID(p["request_id"]) for _, p in parsed]
        async with self._db.read() as conn:
            current = await summaries_by_id(conn, all_ids)
        calls: list[ScriptCall] = []
        for entry_id, payload in parsed:
            summary = current.get(payload["request_id"])
            event = "" if summary is None else json.dumps({  # gone: acknowledge only
                "type": (EventType.REQUEST_QUEUED if payload.get("new_request")
                         else EventType.REQUEST_MESSAGE),
                "request": summary,
                "message_id": payload.get("message_id"),
            }, separators=(",", ":"))
            calls.append(([self._keys.published(f"routed:{entry_id}"), self._keys.events],
                          [PUBLISHED_MARK_TTL_S, self._events_maxlen, event]))
        await run_script_calls(self._redis, self._script, calls)
        if self._answer is not None:  # after the consoles heard, before the acknowledgement
            try:
                await self._answer([p for _, p in parsed])
            except (RedisError, SQLAlchemyError, OSError):
                raise  # unacknowledged: taken over and answered later, once
            except Exception:  # a bug in answering must not stop the queue
                log.exception("router %s: automatic answers failed; routed without them",
                              self.consumer)
        ids = [entry_id for entry_id, _ in parsed]
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.xack(self._keys.inbound, ROUTER_GROUP, *ids)
            pipe.xdel(self._keys.inbound, *ids)
            await pipe.execute()
        self.routed += len(parsed)
