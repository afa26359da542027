"""Outbound webhooks: the hub's request events, signed and POSTed to the endpoints the
operator configured (`[webhooks]`), e.g. the company's taxi dispatch system.

Each endpoint reads the events stream through a consumer group of its own (`webhooks:<name>`),
so every hub process shares its work and each endpoint keeps its own place. A stream entry
is acknowledged only once each webhook event it gives (hub.webhook_body) has been answered
with a 2xx, or has failed for good; until then it stays pending in the group, and the
process holding it keeps trying it (a database or Redis error only pauses it).

Whether the holder of an entry is alive is told by a heartbeat, not guessed from how long
the entry was left alone: each process keeps a key per endpoint alive (HEARTBEAT_TTL_S)
while it delivers. About once a second every process
 - resumes any entry it holds and has no delivery under way for (whatever ended one), and
 - takes over, at once, every entry held by a consumer without a heartbeat: a process that
   died, or stopped (a stop deletes its heartbeat as its last step, so the next process,
   or this one restarted, resumes its events within a second).
The claim is atomic (only what that consumer still holds), so two processes taking over
the same dead one never take an entry from each other. Entries untouched for
`reclaim_idle_ms` are also taken over (XAUTOCLAIM): a live process touches the entries it
works on well within that time, and checks before each attempt that an entry is still its
own, so two live processes never send the same event. The delivery log (hub.webhook_log)
carries the attempts across processes and restarts, and tells a process taking over an
entry what was delivered already. What is left is the instant between a receiver's 2xx and
the log's commit (or a process frozen past its heartbeat in the middle of a POST): the event
is sent again, with the same id, which the receiver de-duplicates (Idempotency-Key).
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
from sqlalchemy.exc import SQLAlchemyError

from dispatch.webhook_attempt import backoff_s, post
from hub.clock import utcnow
from hub.keys import Keys, webhook_group
from hub.settings import WebhookEndpoint, WebhooksSettings
from hub.tasks import pause
from hub.webhook_body import WebhookEvent, webhook_events
from hub.webhook_log import Attempt, WebhookLog, WebhookState

log = logging.getLogger(__name__)

BLOCK_MS = 250  # also how long a stop waits for a reading loop to notice
ERROR_BACKOFF_S = 1.0  # the loop's pause after an error; a delivery's first (it doubles)
HEARTBEAT_EVERY_S = 1.0  # also how often held and abandoned entries are looked over
HEARTBEAT_TTL_S = 3  # missed for this long, a process counts as gone
PAGE = 100  # pending entries looked at per command

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

# Take up to ARGV[4] of the entries a gone consumer still holds, in one step: an entry
# another process took meanwhile stays with it. KEYS: stream. ARGV: group, gone, me, count.
CLAIM_FROM = """
local p = redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', ARGV[4], ARGV[2])
if not p[1] then return {} end
local claim = {'XCLAIM', KEYS[1], ARGV[1], ARGV[3], 0}
for _, e in ipairs(p) do claim[#claim + 1] = e[1] end
claim[#claim + 1] = 'JUSTID'
return redis.call(unpack(claim))
"""

# Remove a consumer from the group only if it holds nothing, in one step: deleting one
# that holds entries would drop them from the group unacknowledged, never to be sent.
# KEYS: stream. ARGV: group, consumer.
FORGET_IF_EMPTY = """
local p = redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2])
if p[1] then return 0 end
return redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
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
        self._keys = keys
        self._stream = keys.events
        self._group = webhook_group(endpoint.name)
        self._log = webhook_log
        self._session = session
        self.consumer = consumer
        self._touch = redis.register_script(TOUCH_IF_MINE)
        self._claim_from = redis.register_script(CLAIM_FROM)
        self._forget_if_empty = redis.register_script(FORGET_IF_EMPTY)
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
            tasks = [keeper, *self._tasks.values()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._leave()

    async def ensure_group(self) -> None:
        # "$": an endpoint gets the events from the moment it is first configured.
        try:
            await self._redis.xgroup_create(self._stream, self._group, id="$", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _read_until_stopped(self) -> None:
        loop = asyncio.get_running_loop()
        reclaim_at = beat_at = 0.0
        grouped = False
        while not self._stopping.is_set():
            try:
                if not grouped:
                    await self.ensure_group()
                    grouped = True
                if loop.time() >= beat_at:  # before the first read: a reader always beats
                    await self._beat()
                    beat_at = loop.time() + HEARTBEAT_EVERY_S
                room = self._settings.in_flight - len(self._tasks)
                if room <= 0:
                    await asyncio.wait(list(self._tasks.values()), timeout=BLOCK_MS / 1000,
                                       return_when=asyncio.FIRST_COMPLETED)
                    continue
                if loop.time() >= reclaim_at:
                    self._start(await self._reclaim(room))
                    reclaim_at = loop.time() + self._settings.reclaim_idle_ms / 1000 / 2
                    continue
                response: Any = await self._redis.xreadgroup(
                    self._group, self.consumer, {self._stream: ">"}, count=room,
                    block=BLOCK_MS)
                for _stream, entries in response or []:
                    self._start(entries)
                continue
            except (RedisError, OSError) as exc:
                log.warning("webhooks %s: %s; retrying", self.endpoint.name, exc)
            except Exception as exc:
                # A fault of ours: the loop goes on (its entries are held, and resumed).
                log.error("webhooks %s: unexpected %s; retrying", self.endpoint.name,
                          type(exc).__name__)
            # Never longer: a process that does not beat has its events taken over.
            grouped = False
            beat_at = 0.0  # beat, and resume what is held, as soon as Redis answers
            await pause(self._stopping, ERROR_BACKOFF_S)

    def _error_backoff_s(self, errors: int) -> float:
        doubled: float = ERROR_BACKOFF_S * 2.0 ** min(errors - 1, 16)
        return min(self._settings.backoff_max_s, doubled)

    async def _beat(self) -> None:
        """Say this process is alive, take over what gone ones hold, and resume what it
        holds itself with no delivery under way (a delivery that ended without finishing,
        or an entry taken over): each within HEARTBEAT_EVERY_S, not reclaim_idle_ms."""
        await self._redis.set(self._alive(self.consumer), "1", ex=HEARTBEAT_TTL_S)
        await self._take_over_the_gone()
        self._start(await self._held_and_idle())

    def _alive(self, consumer: str) -> str:
        return self._keys.webhooks_alive(self.endpoint.name, consumer)

    async def _take_over_the_gone(self) -> None:
        """Claim the entries of every consumer without a heartbeat (as many as there is
        room for; the rest at the next beat), and forget those holding nothing."""
        room = self._settings.in_flight - len(self._tasks)
        consumers = await self._redis.xinfo_consumers(self._stream, self._group)
        for consumer in consumers:
            name = str(consumer["name"])
            if name == self.consumer or await self._redis.exists(self._alive(name)):
                continue
            if int(consumer["pending"]) == 0:
                await self._forget_if_empty(keys=[self._stream], args=[self._group, name])
                continue
            if room <= 0:
                continue
            claimed = await self._claim_from(keys=[self._stream],
                                             args=[self._group, name, self.consumer, room])
            if claimed:
                room -= len(claimed)
                self.reclaimed += len(claimed)
                log.info("webhooks %s: %s took over %d events of %s, which is gone",
                         self.endpoint.name, self.consumer, len(claimed), name)

    async def _held_and_idle(self) -> list[Entry]:
        """Entries this consumer holds with no delivery under way, up to the room there is
        (those deleted from the stream meanwhile are acknowledged away)."""
        room = self._settings.in_flight - len(self._tasks)
        found: list[Entry] = []
        after = "0-0"
        while len(found) < room:
            response: Any = await self._redis.xreadgroup(
                self._group, self.consumer, {self._stream: after}, count=PAGE)
            page: list[Entry] = [e for _stream, entries in response or [] for e in entries]
            if not page:
                break
            gone = [entry_id for entry_id, fields in page if not fields]
            if gone:
                await self._redis.xack(self._stream, self._group, *gone)
            found += [e for e in page if e[1] and e[0] not in self._tasks]
            after = page[-1][0]
        return found[:max(room, 0)]

    async def _reclaim(self, room: int) -> list[Entry]:
        """Entries left untouched for reclaim_idle_ms (and those trimmed away, acknowledged)."""
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
        return found

    def _start(self, entries: Sequence[Entry]) -> None:
        for entry_id, fields in entries:
            if entry_id in self._tasks or not fields:
                continue
            task = asyncio.create_task(self._deliver_entry(entry_id, fields.get("data", "")))
            self._tasks[entry_id] = task
            task.add_done_callback(partial(self._done, entry_id))

    def _done(self, entry_id: str, task: asyncio.Task[None]) -> None:
        if self._tasks.get(entry_id) is task:
            del self._tasks[entry_id]

    async def _deliver_entry(self, entry_id: str, data: str) -> None:
        """Deliver what one entry gives, then acknowledge it; until then it is retried here
        (a database or Redis error pauses it, never ends it), unless another process holds
        the entry now."""
        try:
            events = webhook_events(data)
        except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as exc:
            log.warning("webhooks %s: event %s is not readable, skipped: %s",
                        self.endpoint.name, entry_id, type(exc).__name__)
            events = []
        errors = 0
        while True:
            try:
                for event in events:
                    if event.type.value in self.endpoint.events and \
                            not await self._deliver(entry_id, event):
                        log.info("webhooks %s: event %s is no longer this process's (another "
                                 "took it over)", self.endpoint.name, entry_id)
                        return
                await self._redis.xack(self._stream, self._group, entry_id)
                return
            except (RedisError, SQLAlchemyError, OSError) as exc:
                # The log has its attempts so far: the next try goes on from them.
                errors += 1
                log.warning("webhooks %s: event %s set aside for %.1f s: %s",
                            self.endpoint.name, entry_id, self._error_backoff_s(errors),
                            type(exc).__name__)
            except Exception as exc:
                # A fault of ours: tried again later all the same, the loop and the other
                # events go on. Only the exception's type is logged: its message could
                # quote the body or the URL.
                errors += 1
                log.error("webhooks %s: event %s set aside for %.1f s after an unexpected "
                          "%s", self.endpoint.name, entry_id, self._error_backoff_s(errors),
                          type(exc).__name__)
            await asyncio.sleep(self._error_backoff_s(errors))

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

    async def _leave(self) -> None:
        """The last step of a stop: remove this consumer if it holds nothing, and end its
        heartbeat, so that another process, or this one restarted, takes over at once
        whatever it still holds (its attempts so far are in the log)."""
        try:
            await self._forget_if_empty(keys=[self._stream], args=[self._group, self.consumer])
        except (RedisError, OSError) as exc:
            log.info("webhooks %s: could not leave the group: %s", self.endpoint.name, exc)
        try:
            await self._redis.delete(self._alive(self.consumer))
        except (RedisError, OSError) as exc:
            log.info("webhooks %s: could not end the heartbeat (it runs out in %d s): %s",
                     self.endpoint.name, HEARTBEAT_TTL_S, exc)


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
