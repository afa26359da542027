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
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

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

SIGTERM or SIGINT to the parent stops every worker gracefully and the parent exits 0
(a worker still running after {WORKER_STOP_TIMEOUT_S:.0f} s is killed). No worker is restarted
silently: if one exits on its own, the parent logs it, stops the others and exits 1, so
that the service manager (systemd Restart=on-failure, a container restart policy)
restarts the whole service. Under systemd, KillMode=mixed signals the parent only; a
worker whose parent is gone stops by itself.

Connections: on PostgreSQL each worker keeps at most 20 (a pool of 5 plus 5 overflow for
writes, another for reads: hub/database.py), so N workers take up to 20*N, plus one the
parent uses briefly to migrate before they start; on SQLite each worker opens at most 10 file
handles (one writer, one batch writer, up to 8 readers).
"""


def serve_workers(settings: Settings, config: Path | None, command: str, workers: int) -> int:
    """Run `workers` hub processes on one listening port; the exit status."""
    server_context(settings.http)  # a certificate the workers cannot load stops us here
    return asyncio.run(_supervise(settings, config, command, workers))


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
                     workers: int) -> int:
    from hub.redis_client import open_redis

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    sockets = listen_sockets(settings.http.host, settings.http.port, workers)
    port = sockets[0][0].getsockname()[1]
    children: list[asyncio.subprocess.Process] = []
    redis = None
    metrics: Path | None = None
    try:
        metrics = fresh_folder(settings.data_dir, port)
        # Started here, the embedded server is started once (workers starting together
        # could each start one on the same files) and outlives any single worker.
        redis = None if settings.redis.url else await open_redis(settings)
        await migrate(settings)
        for index, mine in enumerate(sockets):
            if stop.is_set():
                break
            fds = [s.fileno() for s in mine]
            children.append(await asyncio.create_subprocess_exec(
                *_worker_command(config, command, fds, index), pass_fds=fds,
                env=_worker_env(metrics)))
            for sock in mine:
                sock.close()  # the worker holds it now, and alone: it closes when it exits
        if not stop.is_set():
            supervisor_log.info("%d workers on port %d: pids %s", len(children), port,
                                ",".join(str(c.pid) for c in children))
            announce(settings.http.host, port, settings.http.scheme,
                     as_log=settings.log_format == "json")
        return await _watch(children, stop, metrics)
    finally:
        for sock in (s for mine in sockets for s in mine):
            sock.close()
        await _stop_children(children)
        if metrics is not None:
            remove_folder(metrics)
        if redis is not None:
            await redis.close()


async def _watch(children: list[asyncio.subprocess.Process], stop: asyncio.Event,
                 metrics: Path) -> int:
    """Wait for a stop signal or for a worker to exit; the service's exit status."""
    if not children:
        return 0

    async def exit_of(child: asyncio.subprocess.Process) -> int:
        status = await child.wait()
        worker_gone(metrics, child.pid)  # while the others still answer scrapes
        return status

    exits = [asyncio.ensure_future(exit_of(c)) for c in children]
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait([*exits, stopping], return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    status = 0
    if not stop.is_set():
        gone = next(c for c in children if c.returncode is not None)
        supervisor_log.critical("worker pid %d exited with status %s; stopping the others",
                                gone.pid, gone.returncode)
        status = 1
    await _stop_children(children)
    for child in children:
        if child.returncode not in (0, None) and status == 0:
            supervisor_log.error("worker pid %d stopped with status %s", child.pid,
                                 child.returncode)
            status = 1
    return status


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
        await db.migrate()
    finally:
        await db.close()
