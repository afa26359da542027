"""Live fan-out to passengers' widgets across hub processes: Redis pub/sub, one channel per
visitor, one pattern subscription per process.

What travels is a wake-up ("your conversation changed: read it") or a typing flag, never the
message itself: each socket reads new lines from the database after its own cursor, so what
it sends is in order and once, and a wake-up lost while Redis was away costs nothing but a
delay. Pub/sub rather than a stream per visitor: nothing to trim or expire per passenger,
and the database already is the durable history. After every (re)subscription the process
wakes all of its sockets, which covers any gap.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from typing import Any, Literal, Required, TypedDict

from redis.asyncio import Redis
from redis.exceptions import RedisError

from hub.keys import Keys

log = logging.getLogger(__name__)


class VisitorNews(TypedDict, total=False):
    """What one process tells a visitor's sockets on every process: `wake` (read the
    conversation), `typing` (on, name), `closed` (by the socket's slot, at unix seconds)."""

    kind: Required[Literal["wake", "typing", "closed"]]
    on: bool
    name: str
    by: str
    at: float


Listener = Callable[[VisitorNews], None]
READ_TIMEOUT_S = 0.25  # also how long a stop waits for the loop to notice
RETRY_S = 1.0
WAKE: VisitorNews = {"kind": "wake"}


class ChatFanout:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys
        self._prefix = keys.chat_visitor("")
        self._listeners: dict[str, set[Listener]] = {}
        self._stopping = asyncio.Event()
        self.ready = asyncio.Event()
        self.received = 0
        self.published = 0

    def __repr__(self) -> str:
        return (f"<ChatFanout visitors={len(self._listeners)} ready={self.ready.is_set()} "
                f"published={self.published} received={self.received}>")

    def join(self, visitor: str, listener: Listener) -> None:
        self._listeners.setdefault(visitor, set()).add(listener)

    def leave(self, visitor: str, listener: Listener) -> None:
        found = self._listeners.get(visitor)
        if found is not None:
            found.discard(listener)
            if not found:
                del self._listeners[visitor]

    async def publish(self, visitor: str, payload: VisitorNews | None = None) -> None:
        """Tell the visitor's sockets on every process; a wake-up when no payload is given."""
        await self._redis.publish(self._keys.chat_visitor(visitor),
                                  json.dumps(payload or WAKE, separators=(",", ":")))
        self.published += 1

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        while not self._stopping.is_set():
            pubsub = self._redis.pubsub()
            try:
                await pubsub.psubscribe(self._keys.chat_visitor_pattern)
                while not self._stopping.is_set():
                    message = await pubsub.get_message(timeout=READ_TIMEOUT_S)
                    if message is not None:
                        self._dispatch(message)
            except (RedisError, OSError) as exc:
                self.ready.clear()
                log.warning("chat fan-out lost its subscription: %s; resubscribing", exc)
                await asyncio.sleep(RETRY_S)
            finally:
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()
        self.ready.clear()

    def _dispatch(self, message: dict[str, Any]) -> None:
        if message["type"] == "psubscribe":
            # Subscribed, or subscribed again after redis-py reconnected on its own: anything
            # published meanwhile was missed, so every socket here reads its conversation.
            self.ready.set()
            self._tell_all(WAKE)
            return
        if message["type"] != "pmessage":
            return
        self.received += 1
        visitor = str(message["channel"])[len(self._prefix):]
        listeners = self._listeners.get(visitor)
        if not listeners:
            return
        try:
            # Only this class publishes on these channels: the news is its own.
            payload: VisitorNews = json.loads(message["data"])
        except (TypeError, ValueError):
            return
        for listener in list(listeners):
            listener(payload)

    def _tell_all(self, payload: VisitorNews) -> None:
        for listeners in list(self._listeners.values()):
            for listener in list(listeners):
                listener(payload)
