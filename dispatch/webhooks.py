"""Outbound webhooks: the hub's request events, signed and POSTed to the endpoints the
operator configured (`[webhooks]`), e.g. the company's taxi dispatch system.

Each endpoint reads the events stream through a consumer group of its own (`webhooks:<name>`),
so every hub process shares its work and each endpoint keeps its own place. A stream entry
is acknowledged only once each webhook event it gives (hub.webhook_body) has been answered
with a 2xx, or has failed for good; until then it stays pending in the group. If its process
dies, another takes it over (XAUTOCLAIM) once it has been left untouched for
`reclaim_idle_ms`; a process that stops cleanly hands its entries back, to be taken over at
once. A live process touches the entries it works on well within that time, and checks
before each attempt that an entry is still its own, so two live processes never send the
same event. The delivery log (hub.webhook_log) carries the attempts across processes and
restarts, and tells a process taking over an entry what was delivered already. What is left
is the instant between a receiver's 2xx and the log's commit: a crash there sends the event
again, with the same id, which the receiver de-duplicates (Idempotency-Key).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from datetime import timedelta
from functools import partial
from typing import Any

import msgspec
from aiohttp import ClientSession, ClientTimeout
from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError
from redis.typing import StreamIdT
from sqlalchemy.exc import SQLAlchemyError

from dispatch.webhook_attempt import backoff_s, post
from hub.clock import utcnow
from hub.keys import Keys, webhook_group
from hub.settings import WebhookEndpoint, WebhooksSettings
from hub.webhook_body import WebhookEvent, webhook_events
from hub.webhook_log import Attempt, WebhookLog, WebhookState

log = logging.getLogger(__name__)

BLOCK_MS = 250  # also how long a stop waits for a reading loop to notice
ERROR_BACKOFF_S = 1.0
# A consumer holding nothing and silent for this many reclaim_idle_ms is a dead process's
# (a live one reads every BLOCK_MS).
DEAD_CONSUMER_IDLES = 10

# Touch an entry (reset its idle time) only while this consumer still holds it.
# KEYS: stream. ARGV: group, consumer, entry id.
TOUCH_IF_MINE = """
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1)
if p[1] and p[1][2] == ARGV[2] then
  redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'JUSTID')
  return 1
end
return 0
"""

Entry = tuple[str, dict[str, str] | None]


class EndpointWorker:
    """This process's deliverer for one endpoint."""

    def __init__(self, endpoint: WebhookEndpoint, settings: WebhooksSettings, redis: Redis,
                 keys: Keys, webhook_log: WebhookLog, session: ClientSession,
                 consumer: str) -> None:
        self.endpoint = endpoint
        self._settings = settings
        self._redis = redis
        self._stream = keys.events
        self._group = webhook_group(endpoint.name)
        self._log = webhook_log
        self._session = session
        self.consumer = consumer
        self._touch = redis.register_script(TOUCH_IF_MINE)
        self._stopping = asyncio.Event()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._cursor = "0-0"  # where the next XAUTOCLAIM goes on looking
        self.delivered = 0
        self.failed = 0
        self.retried = 0
        self.reclaimed = 0

    def __repr__(self) -> str:
        return (f"<EndpointWorker {self.endpoint.name} in_flight={len(self._tasks)} "
                f"delivered={self.delivered} retried={self.retried} failed={self.failed} "
                f"reclaimed={self.reclaimed}>")

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        keeper = asyncio.create_task(self._keep_alive(), name=f"webhooks-{self.endpoint.name}")
        try:
            await self._read_until_stopped()
        finally:
            keeper.cancel()
            in_hand = list(self._tasks)
            tasks = [keeper, *self._tasks.values()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._hand_back(in_hand)
            await self._leave_group()

    async def ensure_group(self) -> None:
        # "$": an endpoint gets the events from the moment it is first configured.
        try:
            await self._redis.xgroup_create(self._stream, self._group, id="$", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _read_until_stopped(self) -> None:
        loop = asyncio.get_running_loop()
        reclaim_at = 0.0
        grouped = False
        while not self._stopping.is_set():
            try:
                if not grouped:
                    await self.ensure_group()
                    grouped = True
                room = self._settings.in_flight - len(self._tasks)
                if room <= 0:
                    await asyncio.wait(list(self._tasks.values()), timeout=BLOCK_MS / 1000,
                                       return_when=asyncio.FIRST_COMPLETED)
                    continue
                if loop.time() >= reclaim_at:
                    reclaim_at = loop.time() + self._settings.reclaim_idle_ms / 1000 / 2
                    self._start(await self._reclaim(room))
                    continue
                response: Any = await self._redis.xreadgroup(
                    self._group, self.consumer, {self._stream: ">"}, count=room,
                    block=BLOCK_MS)
                for _stream, entries in response or []:
                    self._start(entries)
            except (RedisError, OSError) as exc:
                log.warning("webhooks %s: %s; retrying", self.endpoint.name, exc)
                grouped = False
                await asyncio.sleep(ERROR_BACKOFF_S)

    async def _reclaim(self, room: int) -> list[Entry]:
        """Entries a dead process left pending (and those trimmed away, acknowledged)."""
        self._cursor, entries, *rest = await self._redis.xautoclaim(
            self._stream, self._group, self.consumer,
            min_idle_time=self._settings.reclaim_idle_ms, start_id=self._cursor, count=room)
        trimmed = [e[0] for e in entries if not (e and e[1])]
        if rest and rest[0]:
            trimmed += list(rest[0])
        if trimmed:
            log.warning("webhooks %s: %d events were trimmed from the stream before they "
                        "were delivered", self.endpoint.name, len(trimmed))
            await self._redis.xack(self._stream, self._group, *trimmed)
        found = [e for e in entries if e and e[1]]
        if found:
            self.reclaimed += len(found)
            log.info("webhooks %s: %s took over %d abandoned events", self.endpoint.name,
                     self.consumer, len(found))
        if self._cursor == "0-0":  # a whole pass over the pending entries is done
            await self._forget_dead_consumers()
        return found

    async def _forget_dead_consumers(self) -> None:
        """Remove consumers of processes that died holding entries, once those entries were
        taken over: without it every crash would leave one behind in the group."""
        dead_after_ms = DEAD_CONSUMER_IDLES * self._settings.reclaim_idle_ms
        for consumer in await self._redis.xinfo_consumers(self._stream, self._group):
            if consumer["name"] != self.consumer and consumer["pending"] == 0 \
                    and consumer["idle"] > dead_after_ms:
                await self._redis.xgroup_delconsumer(self._stream, self._group,
                                                     consumer["name"])

    def _start(self, entries: Sequence[Entry]) -> None:
        for entry_id, fields in entries:
            if entry_id in self._tasks or not fields:
                continue
            task = asyncio.create_task(self._deliver_entry(entry_id, fields.get("data", "")))
            self._tasks[entry_id] = task
            task.add_done_callback(partial(self._done, entry_id))

    def _done(self, entry_id: str, _task: asyncio.Task[None]) -> None:
        self._tasks.pop(entry_id, None)

    async def _deliver_entry(self, entry_id: str, data: str) -> None:
        try:
            events = webhook_events(data)
        except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as exc:
            log.warning("webhooks %s: event %s is not readable, skipped: %s",
                        self.endpoint.name, entry_id, type(exc).__name__)
            events = []
        try:
            for event in events:
                if event.type.value in self.endpoint.events and \
                        not await self._deliver(entry_id, event):
                    return  # another process holds the entry now
            await self._redis.xack(self._stream, self._group, entry_id)
        except (RedisError, SQLAlchemyError, OSError) as exc:
            # Left pending: reclaimed and resumed (its attempts are in the log) after
            # reclaim_idle_ms, here or in another process.
            log.warning("webhooks %s: event %s set aside: %s", self.endpoint.name, entry_id,
                        type(exc).__name__)
        except Exception as exc:
            # A fault of ours: the entry stays pending and is retried after reclaim_idle_ms;
            # the loop and the other events go on. Only the exception's type is logged: its
            # message could quote the body or the URL.
            log.error("webhooks %s: event %s set aside after an unexpected %s",
                      self.endpoint.name, entry_id, type(exc).__name__)

    async def _deliver(self, entry_id: str, event: WebhookEvent) -> bool:
        """Send until a 2xx, a refusal or the last attempt; False when the entry was taken
        over by another process meanwhile."""
        name = self.endpoint.name
        progress = await self._log.start(name, event.id, event.type.value, event.request_id,
                                         utcnow())
        attempts = progress.attempts
        state = progress.state
        while state is WebhookState.PENDING:
            if not await self._mine(entry_id):
                return False
            answer = await post(self._session, self.endpoint, event, now=time.time(),
                                timeout_s=self._settings.timeout_s)
            attempts += 1
            if answer.ok:
                state = WebhookState.DELIVERED
            elif answer.retry and attempts < self._settings.max_attempts:
                state = WebhookState.PENDING
            else:
                state = WebhookState.FAILED
            wait = 0.0
            if state is WebhookState.PENDING:
                wait = backoff_s(attempts, base_s=self._settings.backoff_base_s,
                                 max_s=self._settings.backoff_max_s,
                                 retry_after_s=answer.retry_after_s)
            at = utcnow()
            next_at = at + timedelta(seconds=wait) if state is WebhookState.PENDING else None
            await self._log.record(name, event.id, Attempt(at, answer.status, answer.error,
                                                           state, next_at))
            if state is WebhookState.DELIVERED:
                self.delivered += 1
                log.info("webhook %s %s delivered to %s (attempt %d)", event.type.value,
                         event.id, name, attempts)
            elif state is WebhookState.FAILED:
                self.failed += 1
                log.warning("webhook %s %s to %s failed after %d attempts: %s",
                            event.type.value, event.id, name, attempts, answer.error)
            else:
                self.retried += 1
                log.info("webhook %s %s to %s: %s; attempt %d in %.1f s", event.type.value,
                         event.id, name, answer.error, attempts + 1, wait)
                await asyncio.sleep(wait)
        return True

    async def _mine(self, entry_id: str) -> bool:
        touched = await self._touch(keys=[self._stream],
                                    args=[self._group, self.consumer, entry_id])
        return bool(touched)

    async def _keep_alive(self) -> None:
        """Touch every entry in hand often enough that no other process thinks it
        abandoned, however long its backoff or its receiver's answer takes."""
        every = self._settings.reclaim_idle_ms / 1000 / 3
        while True:
            await asyncio.sleep(every)
            for entry_id in list(self._tasks):
                with contextlib.suppress(RedisError, OSError):
                    await self._mine(entry_id)

    async def _hand_back(self, entry_ids: list[str]) -> None:
        """On a stop, make the entries in hand look abandoned at once (their idle time set
        past reclaim_idle_ms), so that the next process, or this one restarted, resumes them
        without waiting; their attempts so far are in the log."""
        if not entry_ids:
            return
        try:
            ids: list[StreamIdT] = list(entry_ids)
            await self._redis.xclaim(self._stream, self._group, self.consumer, 0, ids,
                                     idle=self._settings.reclaim_idle_ms, justid=True)
        except (RedisError, OSError) as exc:
            log.info("webhooks %s: could not hand back %d events: %s", self.endpoint.name,
                     len(entry_ids), exc)

    async def _leave_group(self) -> None:
        """Remove this consumer unless it still holds entries (another process takes those
        over first): restarts must not pile up dead consumers."""
        try:
            pending = await self._redis.xpending_range(
                self._stream, self._group, min="-", max="+", count=1,
                consumername=self.consumer)
            if not pending:
                await self._redis.xgroup_delconsumer(self._stream, self._group, self.consumer)
        except (RedisError, OSError) as exc:
            log.info("webhooks %s: could not leave the group: %s", self.endpoint.name, exc)


class Webhooks:
    """Every configured endpoint's worker in this process, on one HTTP client of their own."""

    def __init__(self, settings: WebhooksSettings, redis: Redis, keys: Keys,
                 webhook_log: WebhookLog, consumer: str) -> None:
        self._settings = settings
        self._redis = redis
        self._keys = keys
        self._log = webhook_log
        self.consumer = consumer
        self.workers: list[EndpointWorker] = []

    def __repr__(self) -> str:
        return f"<Webhooks {self.workers!r}>"

    def total(self, counter: str) -> int:
        """A counter of every endpoint's worker added up (delivered, retried, failed)."""
        return sum(int(getattr(worker, counter)) for worker in self.workers)

    @property
    def in_flight(self) -> int:
        return sum(worker.in_flight for worker in self.workers)

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()

    async def run(self) -> None:
        # No proxy from the environment: events go only where the operator pointed them.
        async with ClientSession(trust_env=False,
                                 timeout=ClientTimeout(total=self._settings.timeout_s)
                                 ) as session:
            self.workers = [
                EndpointWorker(endpoint, self._settings, self._redis, self._keys, self._log,
                               session, self.consumer)
                for endpoint in self._settings.endpoints]
            log.info("webhooks to %d endpoint(s): %s", len(self.workers),
                     ", ".join(e.name for e in self._settings.endpoints))
            results: list[Any] = await asyncio.gather(
                *(worker.run() for worker in self.workers), return_exceptions=True)
            for worker, result in zip(self.workers, results, strict=True):
                if isinstance(result, BaseException) and \
                        not isinstance(result, asyncio.CancelledError):
                    log.error("webhooks %s stopped", worker.endpoint.name, exc_info=result)
