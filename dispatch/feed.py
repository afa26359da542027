"""The live event feed: one reader of the Redis events stream per process, fanned out to every
console connected to this process.

Event ids are the stream's entry ids. A console that reconnects with the last id it saw gets
the events after it replayed from the stream, then the live ones, with no gap and no repeat:
it subscribes before the replay is read, and each console only ever sends ids beyond its
cursor.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError

from dispatch.ws_wire import text_frame
from hub.events import ConsoleFrameType
from hub.keys import Keys
from hub.redis_client import stream_entries, stream_reply
from hub.tasks import pause

log = logging.getLogger(__name__)

READ_COUNT = 500
BLOCK_MS = 250  # also how long a stop waits for the loop to notice
REPLAY_PAGE = 1000
REPLAY_MAX = 5000  # missed more than this: reloading the list is cheaper than the replay
SUBSCRIBER_BACKLOG = 256  # batches; a console further behind is told to resync
ERROR_BACKOFF_S = 1.0
CLOSE_CONSOLES_AFTER_S = 3.0  # Redis out this long: consoles are told (closed)


def parse_id(event_id: str) -> tuple[int, int]:
    ms, _, seq = event_id.partition("-")
    return int(ms), int(seq or 0)


@dataclass(frozen=True, slots=True)
class Event:
    id: str
    json: str  # the event object with its id, ready to send
    assigned_agent: str | None  # whom the request is assigned to after this event
    order: tuple[int, int]  # the id as numbers, compared once per console per batch


# Events are written compactly by the hub itself (separators without spaces), so the assigned
# agent can be found without decoding every event for every console.
ASSIGNED_AGENT = re.compile(r'"assigned_agent":\{"id":"([0-9a-f-]{36})"')


def _event(entry_id: str, data: str) -> Event:
    # `data` is a JSON object; put the id in front of its first key without re-encoding it.
    assigned = ASSIGNED_AGENT.search(data)
    return Event(entry_id, f'{{"id":"{entry_id}",{data[1:]}',
                 assigned.group(1) if assigned else None, parse_id(entry_id))


@dataclass(frozen=True, slots=True)
class Batch:
    """Events read together, with their frame encoded once for every console."""

    events: Sequence[Event]
    frame: bytes  # UTF-8, encoded once for every console
    wire: bytes  # the whole websocket frame, header and all, as every console's socket sends it


def batch_of(events: Sequence[Event]) -> Batch:
    encoded = frame(events).encode()
    return Batch(events, encoded, text_frame(encoded))


# Hands a batch straight to a console's socket; False when it cannot take it now.
DirectWrite = Callable[[Batch], bool]


class Subscriber:
    """One console's place in the feed; `only_for` limits it to one agent's requests.

    A console that is up to date takes each batch straight onto its socket (`direct`), in
    the feed's own loop: fifty consoles cost fifty writes of the same bytes, not fifty tasks
    woken to await a send each. Batches go through the queue instead, to the console's own
    sender task, whenever anything is queued already (order), the socket's buffer is full
    (a slow console, which then falls behind and is told to resync) or the console is
    limited to some requests."""

    def __init__(self, only_for: str | None = None) -> None:
        self.only_for = only_for
        self.batches: asyncio.Queue[Batch | None] = asyncio.Queue(SUBSCRIBER_BACKLOG)
        self.overflowed = False
        self.direct: DirectWrite | None = None

    def offer(self, batch: Batch) -> None:
        if self.direct is not None and self.batches.empty() and self.direct(batch):
            return
        try:
            self.batches.put_nowait(batch)
        except asyncio.QueueFull:
            self.overflowed = True


class EventFeed:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._stopping = asyncio.Event()
        self._keys = keys
        self._subscribers: set[Subscriber] = set()
        self.last_id = "0-0"
        self.delivered = 0

    def __repr__(self) -> str:
        return (f"<EventFeed subscribers={len(self._subscribers)} last_id={self.last_id} "
                f"delivered={self.delivered}>")

    def subscribe(self, only_for: str | None = None) -> Subscriber:
        subscriber = Subscriber(only_for)
        self._subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.discard(subscriber)

    async def newest_id(self) -> str:
        newest = stream_entries(await self._redis.xrevrange(self._keys.events, count=1))
        return newest[0][0] if newest else "0-0"

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        started = False
        failing_since: float | None = None
        while not self._stopping.is_set():
            try:
                if not started:
                    self.last_id = await self.newest_id()
                    started = True
                response = await self._redis.xread(
                    {self._keys.events: self.last_id}, count=READ_COUNT, block=BLOCK_MS
                )
            except (RedisError, OSError) as exc:
                log.warning("event feed: %s; retrying", exc)
                now = time.monotonic()
                failing_since = now if failing_since is None else failing_since
                if now - failing_since >= CLOSE_CONSOLES_AFTER_S and self._subscribers:
                    # A console that hears nothing must not look live: closed, it shows
                    # the connection as lost and resumes from its last event once it can.
                    log.warning("event feed out for %.0f s: closing %d consoles",
                                now - failing_since, len(self._subscribers))
                    self.close_all()
                await pause(self._stopping, ERROR_BACKOFF_S)
                continue
            failing_since = None
            for _stream, entries in stream_reply(response):
                events = [_event(entry_id, fields["data"]) for entry_id, fields in entries]
                self.last_id = events[-1].id
                batch = batch_of(events)
                for subscriber in list(self._subscribers):
                    subscriber.offer(batch)
                self.delivered += len(events)

    async def replay(self, after_id: str) -> list[Event] | None:
        """The events after `after_id`, or None when the console had better reload: some
        are no longer kept, or more than REPLAY_MAX are missing."""
        after = parse_id(after_id)
        oldest = stream_entries(await self._redis.xrange(self._keys.events, count=1))
        newest = await self.newest_id()
        if not oldest:
            return [] if after == (0, 0) else None
        if after < parse_id(oldest[0][0]) and after != (0, 0):
            return None  # trimmed: the console must reload
        if after > parse_id(newest):
            return None  # the stream was reset under the console
        events: list[Event] = []
        start = f"({after_id}"
        while True:
            page = stream_entries(
                await self._redis.xrange(self._keys.events, min=start, count=REPLAY_PAGE))
            events.extend(_event(entry_id, fields["data"]) for entry_id, fields in page)
            if len(events) > REPLAY_MAX:
                return None
            if len(page) < REPLAY_PAGE:
                return events
            start = f"({page[-1][0]}"

    def close_all(self) -> None:
        for subscriber in list(self._subscribers):
            with contextlib.suppress(asyncio.QueueFull):
                subscriber.batches.put_nowait(None)


def frame(events: Sequence[Event]) -> str:
    return '{"type":"events","events":[' + ",".join(e.json for e in events) + "]}"


def hello(last_id: str) -> str:
    return json.dumps({"type": ConsoleFrameType.HELLO, "last_event_id": last_id})
