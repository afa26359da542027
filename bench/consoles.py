"""Console websockets for the bench, in a process of their own: each logs in like a dispatcher
(its own session cookie), connects to /api/v1/console/ws and counts the events it receives.

A few "measured" consoles also note when each request reference first arrived; the others
only count, which costs little CPU (the hub sends every event to every console).

The bench drives the process through a pipe (`Consoles`): "snapshot" answers with the
counters and the arrivals noted since the last snapshot, "stop" closes everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import resource
import signal
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnContext
from typing import Any

import aiohttp
from servers import die_with_parent

HOST = "127.0.0.1"
LOGIN_CONCURRENCY = 4  # password hashing runs in the hub's threads; do not queue 50 at once
SETUP_TIMEOUT_S = 120.0
ANSWER_TIMEOUT_S = 30.0
EVENT_MARK = '"type":"request.'  # once per event in an events frame
REFERENCE = re.compile(r'"reference":"([^"]+)"')
MAX_FRAME = 64 * 1024 * 1024  # a replay frame holds up to 500 events


@dataclass(frozen=True, slots=True)
class ConsoleSpec:
    port: int
    login: str
    password: str
    count: int = 50
    measured: int = 3
    compress: bool = True  # permessage-deflate, as browsers negotiate it
    # Console i logs in as logins[i] when given (one dispatcher each), else as login.
    logins: tuple[tuple[str, str], ...] = ()
    presence: str = ""  # once connected, each sets its presence to this (e.g. "available")

    def account(self, index: int) -> tuple[str, str]:
        return self.logins[index % len(self.logins)] if self.logins else (
            self.login, self.password)


@dataclass
class Console:
    index: int
    measured: bool
    events: int = 0
    frames: int = 0
    resyncs: int = 0
    closed: bool = False
    arrivals: dict[str, float] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"<Console {self.index} events={self.events} closed={self.closed}>"

    def take(self, data: str) -> None:
        now = time.monotonic()
        if data.startswith('{"type":"events"'):
            self.frames += 1
            self.events += data.count(EVENT_MARK)
            if self.measured:
                for reference in REFERENCE.findall(data):
                    self.arrivals.setdefault(reference, now)
        elif data.startswith('{"type":"resync"'):
            self.resyncs += 1


async def _log_in(session: aiohttp.ClientSession, spec: ConsoleSpec, index: int,
                  limit: asyncio.Semaphore) -> None:
    login, password = spec.account(index)
    async with limit, session.post(f"http://{HOST}:{spec.port}/api/v1/auth/login",
                                   json={"login": login, "password": password}) as r:
        if r.status != 200:
            raise RuntimeError(f"login answered {r.status}: {await r.text()}")


async def _set_presence(session: aiohttp.ClientSession, spec: ConsoleSpec) -> None:
    async with session.put(f"http://{HOST}:{spec.port}/api/v1/me/presence",
                           json={"state": spec.presence}) as r:
        if r.status != 200:
            raise RuntimeError(f"presence answered {r.status}: {await r.text()}")


async def _connect(console: Console, spec: ConsoleSpec, limit: asyncio.Semaphore,
                   ) -> tuple[aiohttp.ClientSession, aiohttp.ClientWebSocketResponse]:
    # unsafe: accept cookies from an IP address host (127.0.0.1)
    session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    try:
        await _log_in(session, spec, console.index, limit)
        ws = await session.ws_connect(f"http://{HOST}:{spec.port}/api/v1/console/ws",
                                      compress=15 if spec.compress else 0,
                                      max_msg_size=MAX_FRAME)
        hello = await ws.receive_json(timeout=30)
        if hello.get("type") != "hello":
            raise RuntimeError(f"console {console.index}: expected hello, got {hello}")
        if spec.presence:
            await _set_presence(session, spec)
    except BaseException:
        await session.close()
        raise
    return session, ws


async def _listen(console: Console, ws: aiohttp.ClientWebSocketResponse) -> None:
    async for message in ws:
        if message.type == aiohttp.WSMsgType.TEXT:
            console.take(message.data)
    console.closed = True


def _snapshot(consoles: list[Console]) -> dict[str, Any]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    snapshot = {
        "events": [c.events for c in consoles],
        "frames": [c.frames for c in consoles],
        "resyncs": sum(c.resyncs for c in consoles),
        "closed": sum(c.closed for c in consoles),
        "arrivals": [c.arrivals for c in consoles if c.measured],
        "cpu_s": usage.ru_utime + usage.ru_stime,
    }
    for console in consoles:
        console.arrivals = {}
    return snapshot


async def _serve(conn: Connection, spec: ConsoleSpec) -> None:
    consoles = [Console(i, i < spec.measured) for i in range(spec.count)]
    limit = asyncio.Semaphore(LOGIN_CONCURRENCY)
    async with asyncio.timeout(SETUP_TIMEOUT_S):
        opened = await asyncio.gather(*(_connect(c, spec, limit) for c in consoles),
                                      return_exceptions=True)
    failures = [o for o in opened if isinstance(o, BaseException)]
    pairs = [(c, o) for c, o in zip(consoles, opened, strict=True)
             if not isinstance(o, BaseException)]
    connections = [connection for _console, connection in pairs]
    listeners = [asyncio.create_task(_listen(c, ws)) for c, (_session, ws) in pairs]
    try:
        if failures:
            conn.send(("error", f"{len(failures)} consoles failed: {failures[0]!r}"))
            return
        conn.send(("ready", len(connections)))
        await _obey(conn, consoles)
    finally:
        for task in listeners:
            task.cancel()
        for session, ws in connections:
            with contextlib.suppress(Exception):
                await ws.close()
            await session.close()


async def _obey(conn: Connection, consoles: list[Console]) -> None:
    loop = asyncio.get_running_loop()
    commands: asyncio.Queue[str] = asyncio.Queue()

    def readable() -> None:
        try:
            commands.put_nowait(conn.recv())
        except EOFError:
            commands.put_nowait("stop")
            loop.remove_reader(conn.fileno())

    loop.add_reader(conn.fileno(), readable)
    try:
        while (command := await commands.get()) != "stop":
            if command == "snapshot":
                conn.send(_snapshot(consoles))
    finally:
        with contextlib.suppress(ValueError, OSError):
            loop.remove_reader(conn.fileno())


def console_main(conn: Connection, spec: ConsoleSpec) -> None:
    """Process entry: connect the consoles, then answer the bench until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the bench stops us in order
    die_with_parent()
    try:
        asyncio.run(_serve(conn, spec))
    except Exception as exc:
        with contextlib.suppress(OSError):
            conn.send(("error", repr(exc)))


class Consoles:
    """The console process, seen from the bench."""

    def __init__(self, ctx: SpawnContext, spec: ConsoleSpec) -> None:
        self._pipe, theirs = ctx.Pipe()
        self.process = ctx.Process(target=console_main, args=(theirs, spec), daemon=True)
        self.process.start()
        theirs.close()
        self.connected = 0
        self.cpu_s = 0.0

    def __repr__(self) -> str:
        return f"<Consoles pid={self.process.pid} connected={self.connected}>"

    def wait_connected(self, timeout: float = SETUP_TIMEOUT_S + 30) -> int:
        if not self._pipe.poll(timeout):
            raise RuntimeError("the consoles did not connect in time")
        kind, detail = self._pipe.recv()
        if kind != "ready":
            raise RuntimeError(f"consoles: {detail}")
        self.connected = int(detail)
        return self.connected

    def snapshot(self) -> dict[str, Any]:
        self._pipe.send("snapshot")
        if not self._pipe.poll(ANSWER_TIMEOUT_S):
            raise RuntimeError("the console process stopped answering")
        answer = self._pipe.recv()
        if isinstance(answer, tuple):
            raise RuntimeError(f"consoles: {answer[1]}")
        self.cpu_s = answer["cpu_s"]
        return answer

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self._pipe.send("stop")
        self.process.join(10)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(5)
