"""A value read from the stores and kept for a few seconds, reloaded without holding anyone up.

The hot paths (ingest, the form's answer, automatic answers) read lanes, notices and answer
templates for every contact. They get the value in hand at once; a value older than
`max_age_s` is reloaded by one background task while callers go on with the one they have.
Only a value nobody has yet, or one `invalidate`d by a change on this process (which must be
in force at once), is waited for, and then by awaiting that one load, never by holding a
lock or a connection while another is awaited.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from sqlalchemy.exc import SQLAlchemyError

log = logging.getLogger(__name__)

T = TypeVar("T")


class Refreshing(Generic[T]):
    def __init__(self, name: str, load: Callable[[], Awaitable[T]], initial: T, *,
                 max_age_s: float) -> None:
        self._name = name
        self._load = load
        self._value = initial
        self._max_age_s = max_age_s
        self._loaded_at = float("-inf")
        self._invalidated_at = float("-inf")
        self._fresh_needed = True  # nothing loaded yet, or changed here: wait for the load
        self._loading: asyncio.Task[None] | None = None
        self.loads = 0

    def __repr__(self) -> str:
        return f"<Refreshing {self._name} loads={self.loads}>"

    @property
    def value(self) -> T:
        """What is in hand now, without looking at its age."""
        return self._value

    def invalidate(self) -> None:
        """Changed on this process: the next `get` waits for a load that starts after now."""
        self._fresh_needed = True
        self._invalidated_at = time.monotonic()
        if self._loading is not None and not self._loading.done():
            self._loading = None  # it may have read before the change; start another

    async def close(self) -> None:
        """Stop a load still running, before the database it reads from is closed: a
        connection left checked out at shutdown is only closed by the garbage collector."""
        loading, self._loading = self._loading, None
        if loading is not None and not loading.done():
            loading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await loading

    async def get(self) -> T:
        if not self._fresh_needed and time.monotonic() - self._loaded_at < self._max_age_s:
            return self._value
        task = self._start_load()
        if self._fresh_needed:
            await asyncio.shield(task)
        return self._value

    def _start_load(self) -> asyncio.Task[None]:
        if self._loading is None or self._loading.done():
            self._loading = asyncio.get_running_loop().create_task(
                self._reload(), name=f"reload {self._name}")
        return self._loading

    async def _reload(self) -> None:
        started = time.monotonic()
        try:
            value = await self._load()
        except (SQLAlchemyError, OSError) as exc:
            # Keep serving what we have; the next load is due in max_age_s, not at once.
            log.warning("%s could not be reloaded: %s", self._name, exc)
        else:
            if started >= self._loaded_at:  # an older load finishing late changes nothing
                self._value = value
            self.loads += 1
        self._loaded_at = max(self._loaded_at, started)
        if started > self._invalidated_at:
            self._fresh_needed = False
