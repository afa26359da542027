"""Stopping background tasks without ever hanging the hub's shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

log = logging.getLogger(__name__)


async def stop_task(task: asyncio.Task[Any] | None, timeout_s: float = 2.0) -> bool:
    """Cancel `task` and wait for it at most `timeout_s`; True when it ended.

    A task blocked inside a client library (redis-py, asyncpg) does not always honour its
    cancellation at once; waiting for it unbounded has hung a shutdown. Such a task is left
    behind, named in the log.
    """
    if task is None or task.done():
        return True
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=timeout_s)
    if not done:
        log.warning("task %s did not stop within %.1f s; left behind", task.get_name(),
                    timeout_s)
        return False
    return True


async def pause(stopping: asyncio.Event, seconds: float) -> None:
    """Sleep `seconds`, or less when `stopping` is set meanwhile: a worker backing off from
    an outage still stops at once (SIGTERM with Redis down took seconds per worker)."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), seconds)
