"""`taxiconnect serve --workers N`: N hub processes on one machine and one listening port,
started and watched by a parent process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import ssl
import sys
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client.mmap_dict import MmapedDict, mmap_key

from hub.errors import OperatorMustAct
from hub.event_loop import new_event_loop
from hub.log_privacy import PrivateAccessLogger
from hub.metrics_shared import FOLDER_ENV, fresh_folder, mirror_context, remove_folder, worker_gone
from hub.settings import Settings
from hub.tls import server_context

LISTEN_BACKLOG = 128  # aiohttp's own default for the port it binds
WORKER_STOP_TIMEOUT_S = 30.0  # a worker's graceful stop: open requests, then every store
PARENT_CHECK_S = 1.0  # how often a worker looks whether its parent is still there
WORKER_LEFTOVER_S = 5.0  # for tasks still running after a worker's clean-up
MAX_RESTARTS = 5  # restarts of the workers allowed within RESTART_WINDOW_S...
RESTART_WINDOW_S = 60.0  # ...before the parent calls it a crash loop and stops the service
FIRST_RESTART_DELAY_S = 0.5  # a dead worker's replacement starts after this, doubling with
MAX_RESTART_DELAY_S = 10.0  # each restart already in the window, up to this
RESTARTS_METRIC = "taxiconnect_worker_restarts"

supervisor_log = logging.getLogger("hub.workers")
access_log = logging.getLogger("hub.access")

WORKERS_HELP = f"""\
--workers N runs N hub processes on this machine on one listening port. The parent binds
the HTTP port (once per worker, with SO_REUSEPORT, so that the kernel spreads new
connections evenly over them), brings the database schema up to date once (PostgreSQL:
under the advisory lock), starts the embedded Redis once when no Redis URL is configured,
then starts N workers (`python -m hub.cli serve`), each serving on its socket. Every
worker runs the whole hub, background loops included; they share the work through Redis
consumer groups, leases and locks, and a console on any worker sees every event.
/metrics on the port answers for all the workers, whichever one takes the scrape: they
write their metrics to files in DATA_DIR/metrics/PORT (prometheus-client's multiprocess
mode), a private folder the parent empties at start and removes at exit.

SIGTERM or SIGINT to the parent stops every worker gracefully and the parent exits 0 (a
worker still running after {WORKER_STOP_TIMEOUT_S:.0f} s is killed); no worker is started during
the stop. A worker that exits on its own (a crash, an out-of-memory kill, kill -9) is
replaced in place while the others keep serving: the parent logs its pid and exit status or
signal and starts a new worker on the same listening sockets, which it keeps open, so that
the connections the kernel hands to them wait in their backlog for the replacement instead
of being refused. The first restart waits {FIRST_RESTART_DELAY_S} s, each further one in
the window twice as long (at most {MAX_RESTART_DELAY_S:.0f} s). More than --max-restarts
restarts (default {MAX_RESTARTS}) within --restart-window seconds (default {RESTART_WINDOW_S:.0f})
is a crash loop: the parent stops the others and exits 1, so that the service manager
(systemd Restart=on-failure, a container restart policy) restarts the whole service;
--max-restarts 0 stops it at the first exit. taxiconnect_worker_restarts_total on /metrics
counts the restarts. Under systemd, KillMode=mixed signals the parent only; a worker whose
parent is gone stops by itself.

Connections: on PostgreSQL each worker keeps at most 20 (a pool of 5 plus 5 overflow for
writes, another for reads: hub/database.py), so N workers take up to 20*N, plus one the
parent uses briefly to migrate before they start; on SQLite each worker opens at most 10 file
handles (one writer, one batch writer, up to 8 readers).
"""


@dataclass(frozen=True)
class RestartPolicy:
    """When a worker that exited on its own is started again, and when not."""

    max_restarts: int = MAX_RESTARTS  # within window_s; one more is a crash loop
    window_s: float = RESTART_WINDOW_S
    first_delay_s: float = FIRST_RESTART_DELAY_S
    max_delay_s: float = MAX_RESTART_DELAY_S

    def delay(self, recent: int) -> float:
        """The wait before a restart when `recent` restarts are already in the window."""
        return float(min(self.first_delay_s * 2 ** recent, self.max_delay_s))


def serve_workers(settings: Settings, config: Path | None, command: str, workers: int,
                  policy: RestartPolicy | None = None) -> int:
    """Run `workers` hub processes on one listening port; the exit status."""
    server_context(settings.http)  # a certificate the workers cannot load stops us here
    return asyncio.run(_supervise(settings, config, command, workers,
                                  policy or RestartPolicy()))


def listen_sockets(host: str, port: int, workers: int) -> list[list[socket.socket]]:
    """The listening sockets of each worker: the HTTP port bound `workers` times with
    SO_REUSEPORT, on every address the host resolves to (as aiohttp would bind it once).

    One socket per worker lets the kernel spread new connections evenly; with one shared
    socket whichever worker wakes first takes nearly all of them, websockets included.
    """
    addresses: list[tuple[socket.AddressFamily, socket.SocketKind, int, tuple[Any, ...]]] = []
    for info in socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE):
        found = (info[0], info[1], info[2], info[4])
        if found not in addresses:
            addresses.append(found)
    bound: list[list[socket.socket]] = [[] for _ in range(workers)]
    try:
        for family, kind, proto, address in addresses:
            if port:
                # SO_REUSEPORT would also join another hub's (or a stale run's) sockets on
                # the port: bind once without it first, so that a port in use is an error.
                with socket.socket(family, kind, proto) as probe:
                    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    probe.bind((address[0], port, *address[2:]))
            for mine in bound:
                sock = socket.socket(family, kind, proto)
                mine.append(sock)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                sock.bind((address[0], port, *address[2:]))
                port = port or sock.getsockname()[1]  # port 0: every socket on the one picked
                sock.listen(LISTEN_BACKLOG)
                sock.set_inheritable(True)
    except OSError as exc:
        for sock in (s for mine in bound for s in mine):
            sock.close()
        raise OperatorMustAct(f"cannot listen for HTTP on {host}:{port}: {exc}") from exc
    return bound


def _worker_env(metrics: Path) -> dict[str, str]:
    return {**os.environ, FOLDER_ENV: str(metrics)}


def _worker_command(config: Path | None, command: str, fds: list[int], index: int) -> list[str]:
    line = [sys.executable, "-m", "hub.cli"]
    if config is not None:
        line += ["--config", str(config.resolve())]
    return [*line, command, *(f"--listen-fd={fd}" for fd in fds), f"--worker={index}"]


async def _supervise(settings: Settings, config: Path | None, command: str,
                     workers: int, policy: RestartPolicy) -> int:
    from hub.redis_client import open_redis

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    sockets = listen_sockets(settings.http.host, settings.http.port, workers)
    port = sockets[0][0].getsockname()[1]
    pool: _Pool | None = None
    redis = None
    metrics: Path | None = None
    try:
        metrics = fresh_folder(settings.data_dir, port)
        # Started here, the embedded server is started once (workers starting together
        # could each start one on the same files) and outlives any single worker.
        redis = None if settings.redis.url else await open_redis(settings)
        await migrate(settings)
        pool = _Pool(config, command, sockets, metrics, policy, stop)
        for index in range(workers):
            if stop.is_set():
                break
            await pool.start(index)
        if not stop.is_set():
            supervisor_log.info("%d workers on port %d: pids %s", len(pool.children), port,
                                ",".join(str(c.pid) for c in pool.children.values()))
            announce(settings.http.host, port, settings.http.scheme,
                     as_log=settings.log_format == "json")
        return await pool.watch()
    finally:
        _close(sockets)
        if pool is not None:
            await _stop_children(list(pool.children.values()))
            pool.close()
        if metrics is not None:
            remove_folder(metrics)
        if redis is not None:
            await redis.close()


def _close(sockets: list[list[socket.socket]]) -> None:
    for sock in (s for mine in sockets for s in mine):
        sock.close()


class RestartCount:
    """taxiconnect_worker_restarts_total, kept by the parent in the workers' metrics folder
    (a counter file of its own pid, as prometheus-client's multiprocess mode writes them), so
    that a scrape of any worker sums it with theirs. The parent's own prometheus-client was
    imported without the folder, so it writes the file itself."""

    def __init__(self, folder: Path) -> None:
        self._file = MmapedDict(str(folder / f"counter_{os.getpid()}.db"))  # type: ignore[no-untyped-call]
        self._key = mmap_key(RESTARTS_METRIC, RESTARTS_METRIC + "_total", [], [],
                             "Workers of serve --workers N started again after exiting")
        self.value = 0
        self._write()  # 0 from the start: a rate over it needs the series before any restart

    def inc(self) -> None:
        self.value += 1
        self._write()

    def _write(self) -> None:
        self._file.write_value(self._key, float(self.value), 0.0)  # type: ignore[no-untyped-call]

    def close(self) -> None:
        self._file.close()  # type: ignore[no-untyped-call]


def _exit_status(returncode: int) -> str:
    """A worker's exit as the log says it: its status, or the signal that ended it."""
    if returncode >= 0:
        return f"exited with status {returncode}"
    try:
        name = signal.Signals(-returncode).name
    except ValueError:
        name = "an unknown signal"
    return f"was ended by signal {-returncode} ({name})"


class _Pool:
    """The running workers by index, each started again in place when it exits on its own,
    on the sockets the parent keeps for its index, until a stop or a crash loop."""

    def __init__(self, config: Path | None, command: str, sockets: list[list[socket.socket]],
                 metrics: Path, policy: RestartPolicy, stop: asyncio.Event) -> None:
        self._config, self._command, self._sockets = config, command, sockets
        self._metrics, self._policy, self._stop = metrics, policy, stop
        self.children: dict[int, asyncio.subprocess.Process] = {}
        self._restarts: deque[float] = deque()  # when each recent restart was decided
        self._count = RestartCount(metrics)
        self._failed = False

    async def start(self, index: int) -> asyncio.subprocess.Process:
        fds = [s.fileno() for s in self._sockets[index]]
        # The parent keeps its copy of the sockets: a dead worker's queued connections wait
        # for its replacement instead of being reset with the socket's last descriptor.
        child = await asyncio.create_subprocess_exec(
            *_worker_command(self._config, self._command, fds, index), pass_fds=fds,
            env=_worker_env(self._metrics))
        self.children[index] = child
        return child

    async def watch(self) -> int:
        """Keep every worker running until a stop signal or a crash loop; the exit status
        once the workers are stopped."""
        if not self.children:
            return 0
        keepers = [asyncio.ensure_future(self._keep(index)) for index in self.children]
        try:
            await self._stop.wait()
        finally:
            # Each keeper returns at the stop (one starting a worker first finishes that,
            # so the worker is among those stopped below).
            await asyncio.gather(*keepers, return_exceptions=True)
        running = [c for c in self.children.values() if c.returncode is None]
        _close(self._sockets)  # new connections now go to no stopping worker
        await _stop_children(running)
        status = 1 if self._failed else 0
        for child in running:
            if child.returncode not in (0, -signal.SIGTERM):
                supervisor_log.error("worker pid %d stopped with status %s", child.pid,
                                     child.returncode)
                status = 1
        return status

    async def _keep(self, index: int) -> None:
        try:
            while not self._stop.is_set():
                child = self.children[index]
                if not await _exits_before(child, self._stop):
                    return
                worker_gone(self._metrics, child.pid)  # while the others answer scrapes
                assert child.returncode is not None
                gone = f"worker {index} pid {child.pid} {_exit_status(child.returncode)}"
                delay = self._restart_delay()
                if delay is None:
                    supervisor_log.critical(
                        "%s; a crash loop (more than --max-restarts %d within %.0f s): "
                        "stopping the service", gone, self._policy.max_restarts,
                        self._policy.window_s)
                    self._fail()
                    return
                supervisor_log.error("%s; starting it again in %.1f s", gone, delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), delay)
                if self._stop.is_set():
                    return
                new = await self.start(index)
                self._count.inc()
                supervisor_log.warning("worker %d started again: pid %d (restart %d of this run)",
                                       index, new.pid, self._count.value)
        except Exception:
            supervisor_log.exception("watching worker %d failed; stopping the service", index)
            self._fail()

    def _restart_delay(self) -> float | None:
        """The wait before the next restart, noted as one; None for a crash loop."""
        now = time.monotonic()
        while self._restarts and now - self._restarts[0] > self._policy.window_s:
            self._restarts.popleft()
        if len(self._restarts) >= self._policy.max_restarts:
            return None
        delay = self._policy.delay(len(self._restarts))
        self._restarts.append(now)
        return delay

    def _fail(self) -> None:
        self._failed = True
        self._stop.set()

    def close(self) -> None:
        self._count.close()


async def _exits_before(child: asyncio.subprocess.Process, stop: asyncio.Event) -> bool:
    """Wait for the worker to exit (True) or for the stop (False)."""
    exited = asyncio.ensure_future(child.wait())
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait([exited, stopping], return_when=asyncio.FIRST_COMPLETED)
    finally:
        exited.cancel()
        stopping.cancel()
    return not stop.is_set()


async def _stop_children(children: list[asyncio.subprocess.Process]) -> None:
    """SIGTERM to every running worker, then SIGKILL to any still there after the timeout."""
    for child in children:
        if child.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signal.SIGTERM)
    waiting = [asyncio.ensure_future(c.wait()) for c in children if c.returncode is None]
    if not waiting:
        return
    _, late = await asyncio.wait(waiting, timeout=WORKER_STOP_TIMEOUT_S)
    if late:
        for child in children:
            if child.returncode is None:
                supervisor_log.error("worker pid %d did not stop in %.0f s; killing it",
                                     child.pid, WORKER_STOP_TIMEOUT_S)
                with contextlib.suppress(ProcessLookupError):
                    child.kill()
        await asyncio.wait(late)


def serve_worker(settings: Settings, fds: list[int], index: int, *, demo: bool) -> None:
    """One worker of `serve --workers N`: the hub on the sockets the parent bound for it."""
    from hub.app import create_app
    from hub.appkeys import METRICS
    from hub.heap import settle_heap

    app = create_app(settings)
    shared = os.environ.get(FOLDER_ENV)
    if shared:  # the parent's folder: this worker's /metrics answers for all of them
        app.cleanup_ctx.append(mirror_context(app[METRICS].share(Path(shared))))
    if demo and index == 0:  # one worker seeds, the others would only race it
        from hub.demo import seed_demo

        app.on_startup.append(seed_demo)
    app.cleanup_ctx.append(_exit_with(os.getppid()))
    app.on_startup.append(settle_heap)
    runner = web.AppRunner(app, shutdown_timeout=5,
                           keepalive_timeout=settings.http.idle_timeout_s,
                           access_log=access_log if settings.http.access_log else None,
                           access_log_class=PrivateAccessLogger)
    socks = [socket.socket(fileno=fd) for fd in fds]
    tls = server_context(settings.http)
    loop = new_event_loop(settings.http.event_loop)
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(_run_worker(runner, socks, tls))
    finally:
        _cancel_leftovers(loop)
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
        asyncio.set_event_loop(None)
        loop.close()


async def _run_worker(runner: web.AppRunner, socks: list[socket.socket],
                      tls: ssl.SSLContext | None) -> None:
    # Not web.run_app: it leaves the cleanup contexts that did start running when a later
    # one fails, then waits for their tasks without bound, so a worker that cannot start
    # would hang instead of exiting and being noticed by the parent.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        # Idempotent: the service manager may signal the whole group as well as the parent,
        # and a second signal must not cut the first one's clean stop short.
        loop.add_signal_handler(signum, stop.set)
    try:
        await runner.setup()
        for sock in socks:
            await web.SockSite(runner, sock, ssl_context=tls).start()
        await stop.wait()
    finally:
        await runner.cleanup()


def _cancel_leftovers(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel what is still running after the clean-up, waiting a bounded time for it."""
    tasks = asyncio.all_tasks(loop)
    if not tasks:
        return
    for task in tasks:
        task.cancel()
    _, late = loop.run_until_complete(asyncio.wait(tasks, timeout=WORKER_LEFTOVER_S))
    for task in late:
        supervisor_log.warning("task %s did not end when cancelled", task.get_name())


def _exit_with(parent: int) -> Callable[[web.Application], AsyncIterator[None]]:
    """A worker whose parent died (SIGKILL, a crash) stops itself instead of lingering."""
    async def context(app: web.Application) -> AsyncIterator[None]:
        async def watch() -> None:
            while True:
                if os.getppid() != parent:
                    break
                await asyncio.sleep(PARENT_CHECK_S)
            supervisor_log.error("the parent process %d is gone; stopping", parent)
            os.kill(os.getpid(), signal.SIGTERM)

        task = asyncio.create_task(watch(), name="parent-watch")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return context


def announce(host: str, port: int, scheme: str = "http", *, as_log: bool = False) -> None:
    """Where the console and the form are; a log line (`as_log`) when every line written
    must be one of the log's JSON objects."""
    shown = "localhost" if host in {"127.0.0.1", "0.0.0.0", "::"} else host
    lines = (f"TaxiConnect console: {scheme}://{shown}:{port}/console",
             f"Passenger form:      {scheme}://{shown}:{port}/form")
    for line in lines:
        if as_log:
            supervisor_log.info("%s", line)
        else:
            print(line, flush=True)


async def migrate(settings: Settings) -> None:
    from hub.database import Database

    db = Database(settings.database_url)
    try:
        await db.migrate(data_dir=settings.data_dir)
    finally:
        await db.close()
