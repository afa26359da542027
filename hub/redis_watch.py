"""Watches the hub's Redis: restarts the embedded server when it dies, and says how long
Redis has been out, for /healthz.

The embedded redis-server (the newcomer's default) is a child the hub started: when it dies,
nothing else would start it again, and the hub would go on taking contacts that reach no
console until someone restarted it by hand. Several hub processes may share one embedded
server (`serve --workers N`): the restart happens under a file lock, and a process that
gets the lock after another restarted the server finds it running and does nothing.
Redis by URL is the operator's: it is watched, never started.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import time
from pathlib import Path

from redis.exceptions import RedisError

from hub.redis_client import RedisConnection

log = logging.getLogger(__name__)

CHECK_EVERY_S = 1.0
PING_TIMEOUT_S = 2.0
RESTART_LOCK = "redis.restart.lock"


class RedisWatch:
    def __init__(self, connection: RedisConnection, data_dir: Path, *,
                 unhealthy_after_s: float, every_s: float = CHECK_EVERY_S) -> None:
        """`unhealthy_after_s`: out longer than this, the hub cannot do its job (an embedded
        server that could not be restarted, a Redis by URL that stays away): `healthy` turns
        False, /healthz fails, and a supervisor's liveness probe restarts the hub."""
        self._connection = connection
        self._unhealthy_after_s = unhealthy_after_s
        self._lock_file = data_dir / RESTART_LOCK
        self._every_s = every_s
        self._stopping = asyncio.Event()
        self._down_since: float | None = None
        self.restarts = 0

    def __repr__(self) -> str:
        return f"<RedisWatch {self._connection.where} down_for={self.down_for_s():.1f}s>"

    def down_for_s(self) -> float:
        """How long Redis has not answered (0 while it does)."""
        if self._down_since is None:
            return 0.0
        return time.monotonic() - self._down_since

    @property
    def healthy(self) -> bool:
        return self.down_for_s() < self._unhealthy_after_s

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        while not self._stopping.is_set():
            await self.check()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._every_s)

    async def check(self) -> None:
        if await self._answers():
            if self._down_since is not None:
                log.warning("Redis at %s answers again after %.1f s",
                            self._connection.where, self.down_for_s())
            self._down_since = None
            return
        if self._down_since is None:
            self._down_since = time.monotonic()
            log.error("Redis at %s does not answer", self._connection.where)
        if self._connection.embedded_gone():
            await self._restart_embedded()

    async def _answers(self) -> bool:
        try:
            await asyncio.wait_for(self._connection.client.ping(), PING_TIMEOUT_S)
        except (RedisError, OSError, TimeoutError):
            return False
        return True

    async def _restart_embedded(self) -> None:
        try:
            restarted = await asyncio.to_thread(self._restart_under_lock)
        except Exception:  # a failed start is retried at the next check; /healthz tells
            log.exception("the embedded redis-server could not be restarted")
            return
        if restarted:
            self.restarts += 1
            log.warning("the embedded redis-server had stopped; restarted it (%s)",
                        self._connection.where)

    def _restart_under_lock(self) -> bool:
        self._lock_file.parent.mkdir(parents=True, exist_ok=True)
        with self._lock_file.open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                if not self._connection.embedded_gone():
                    return False  # another hub process restarted it first
                self._connection.restart_embedded()
                return True
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
