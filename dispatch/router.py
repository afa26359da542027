"""The router: the consumer group that takes committed contacts off the inbound stream and
announces them to the consoles (and, with the dispatching strategies, offers them to agents).

Every hub process runs one consumer. An entry read by a consumer that dies is taken over
(XAUTOCLAIM) once it has been idle for `reclaim_idle_ms`. Handling is idempotent: a Lua
script emits the console event once (guarded by a marker); then the automatic answers are
written (dispatch.auto_answers, once by their keys); only then is the entry acknowledged
and deleted. A retried entry has one effect, and the consoles never wait for the answers.
"""

from __future__ import annotations

import asyncio
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
from hub.keys import PUBLISHED_MARK_TTL_S, ROUTER_GROUP, Keys
from hub.read_models import summaries_by_id
from hub.redis_client import queue_script, stream_reply

log = logging.getLogger(__name__)

READ_COUNT = 256
BLOCK_MS = 250  # also how long a stop waits for the loop to notice
ERROR_BACKOFF_S = 1.0

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
                 answer: Callable[[list[dict[str, Any]]], Awaitable[None]] | None = None
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
        except (RedisError, OSError) as exc:
            log.info("router %s could not leave the group: %s", self.consumer, exc)

    async def _route_until_stopped(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.ensure_group()
                await self._reclaim()
                await self._read_new()
            except (RedisError, SQLAlchemyError, OSError) as exc:
                log.warning("router %s: %s; retrying", self.consumer, exc)
                await asyncio.sleep(ERROR_BACKOFF_S)

    async def _read_new(self) -> None:
        """Handle new entries until reclaiming is due again."""
        loop = asyncio.get_running_loop()
        reclaim_at = loop.time() + self._reclaim_idle_ms / 1000 / 2
        while loop.time() < reclaim_at and not self._stopping.is_set():
            response = await self._redis.xreadgroup(
                ROUTER_GROUP, self.consumer, {self._keys.inbound: ">"},
                count=READ_COUNT, block=BLOCK_MS,
            )
            for _stream, entries in stream_reply(response):
                await self.handle(entries)

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
        parsed: list[tuple[str, dict[str, Any]]] = []
        for entry_id, fields in entries:
            try:
                payload = json.loads(fields["data"])
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
        async with self._redis.pipeline(transaction=False) as pipe:
            for entry_id, payload in parsed:
                summary = current.get(payload["request_id"])
                event = "" if summary is None else json.dumps({  # gone: acknowledge only
                    "type": (EventType.REQUEST_QUEUED if payload.get("new_request")
                             else EventType.REQUEST_MESSAGE),
                    "request": summary,
                    "message_id": payload.get("message_id"),
                }, separators=(",", ":"))
                await queue_script(
                    pipe, self._script,
                    [self._keys.published(f"routed:{entry_id}"), self._keys.events],
                    [PUBLISHED_MARK_TTL_S, self._events_maxlen, event])
            await pipe.execute()
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
