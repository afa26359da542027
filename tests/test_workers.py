"""Scale-out on one machine, through the command line and the public interfaces.

`taxiconnect serve --workers 2` serves from two processes on one port and stops cleanly on
SIGTERM; two `taxiconnect serve` on the same stores act as one hub: every console of
either process gets every event, and a request claimed at once on both has one holder.
The consoles are `websockets` clients, the claims raw HTTP/1.1 connections whose serving
process is known.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from websockets.asyncio.client import ClientConnection, connect

from hub.settings import Settings
from tests.conftest import PASSWORD, free_port
from tests.helpers import WAIT_S, http_session, order
from tests.hub_process import (
    EMBEDDED_REGISTRY,
    HubProcess,
    RawHttp,
    kill_leftovers,
    start_hub,
    worker_of,
)
from tests.services import TEST_REDIS_URL

MAX_CONNECTS = 60  # connections tried before concluding one worker never accepts any
CONTACTS = 6
CLAIM_ROUNDS = 3

StartHub = Callable[..., HubProcess]


@pytest.fixture
def start(tmp_path: Path, settings: Settings) -> Iterator[StartHub]:
    """Start `serve` processes; whatever a failed test leaves running is killed after it."""
    started: list[HubProcess] = []

    def start_(*args: str) -> HubProcess:
        hub = start_hub(settings, tmp_path, free_port(), *args)
        started.append(hub)
        return hub

    yield start_
    kill_leftovers(started, {tmp_path / "data"})


class Console:
    """A console websocket as any client opens it: the session cookie, then frames."""

    def __init__(self, ws: ClientConnection, worker: int | None) -> None:
        self.ws = ws
        self.worker = worker
        self.events: list[dict[str, Any]] = []

    @classmethod
    async def open(cls, hub: HubProcess, cookie: str) -> Console:
        ws = await connect(f"ws://127.0.0.1:{hub.port}/api/v1/console/ws",
                           additional_headers={"Cookie": cookie}, open_timeout=WAIT_S)
        hello = json.loads(await asyncio.wait_for(ws.recv(), WAIT_S))
        assert hello["type"] == "hello", hello
        return cls(ws, worker_of(hub.workers(), hub.port, ws.local_address))

    async def until_seen(self, kind: str, request_ids: list[str]) -> None:
        """Read frames until an event of `kind` has come for each of the requests."""
        async def read() -> None:
            while not all(self.seen(kind, i) for i in request_ids):
                frame = json.loads(await self.ws.recv())
                assert frame["type"] == "events", frame
                self.events += frame["events"]
        await asyncio.wait_for(read(), WAIT_S)

    def order(self, kind: str, request_ids: list[str]) -> list[str]:
        """The ids of the console's events of `kind` for those requests, as they came."""
        return [e["id"] for e in self.events
                if e["type"] == kind and e["request"]["id"] in request_ids]

    def seen(self, kind: str, request_id: str) -> int:
        return sum(1 for e in self.events
                   if e["type"] == kind and e["request"]["id"] == request_id)


@contextlib.asynccontextmanager
async def consoles() -> AsyncIterator[list[Console]]:
    opened: list[Console] = []
    try:
        yield opened
    finally:
        for console in opened:
            await console.ws.close()


async def _dispatcher(hub: HubProcess, name: str) -> str:
    """A dispatcher added with `taxiconnect user add`, logged in; their Cookie header."""
    login = f"{name}{uuid.uuid4().hex[:6]}"
    said = await hub.cli("user", "add", login, "--name", name.title(), stdin=PASSWORD + "\n")
    assert f"user {login}" in said, said
    async with http_session() as http, http.post(
            f"{hub.base}/api/v1/auth/login",
            json={"login": login, "password": PASSWORD}) as resp:
        assert resp.status == 200, await resp.text()
        return "; ".join(f"{k}={v.value}" for k, v in resp.cookies.items())


async def _submit(hub: HubProcess, token: str, phone: str) -> str:
    async with http_session() as http, http.post(
            f"{hub.base}/api/v1/contact-requests", json=order(token, phone=phone)) as resp:
        assert resp.status in (200, 201), await resp.text()
        request_id: str = (await resp.json())["id"]
        return request_id


async def _console_on_each_worker(hub: HubProcess, cookie: str,
                                  opened: list[Console]) -> None:
    """Open this dispatcher's consoles on the shared port until each worker has one."""
    workers = {w.pid for w in hub.workers()}
    mine: set[int | None] = set()
    for _ in range(MAX_CONNECTS):
        console = await Console.open(hub, cookie)
        opened.append(console)
        mine.add(console.worker)
        if mine >= workers:
            return
    raise AssertionError(f"{MAX_CONNECTS} consoles reached only workers {mine} of {workers}")


async def _connection_per_worker(hub: HubProcess, cookie: str) -> dict[int, RawHttp]:
    """A keep-alive connection to each worker (known once one request has been answered)."""
    found: dict[int, RawHttp] = {}
    workers = {w.pid for w in hub.workers()}
    for _ in range(MAX_CONNECTS):
        http = await RawHttp.open(hub.port)
        status, _ = await http.request("GET", "/api/v1/me", cookie)
        assert status == 200
        worker = worker_of(hub.workers(), hub.port, http.local)
        if worker is None or worker in found:
            await http.close()
        else:
            found[worker] = http
        if set(found) == workers:
            return found
    raise AssertionError(f"{MAX_CONNECTS} connections reached only workers {set(found)}")


async def _every_event_on_every_console(submit_to: list[HubProcess],
                                        opened: list[Console]) -> list[str]:
    """Post contacts alternately to each address; every console gets each one once, and
    all consoles the same events in the same order."""
    ids = [await _submit(submit_to[n % len(submit_to)], f"tok-workers-{uuid.uuid4().hex}",
                         f"+3584010{n:05d}") for n in range(CONTACTS)]
    await asyncio.gather(*(c.until_seen("request.queued", ids) for c in opened))
    for console in opened:
        assert [console.seen("request.queued", i) for i in ids] == [1] * CONTACTS
        assert console.order("request.queued", ids) == opened[0].order("request.queued", ids)
    return ids


async def _claim(http: RawHttp, cookie: str, request_id: str) -> tuple[int, dict[str, Any]]:
    status, body = await http.request("POST", f"/api/v1/requests/{request_id}/claim", cookie)
    answer: dict[str, Any] = json.loads(body)
    return status, answer


async def _exclusive_claims(first: RawHttp, second: RawHttp, cookies: tuple[str, str],
                            request_ids: list[str], opened: list[Console]) -> None:
    """Two dispatchers claim each request at once, on two processes: one holder each time,
    and one claim event on every console."""
    for request_id in request_ids:
        answers = await asyncio.gather(_claim(first, cookies[0], request_id),
                                       _claim(second, cookies[1], request_id))
        assert sorted(status for status, _ in answers) == [200, 409], answers
        won = next(body for status, body in answers if status == 200)
        lost = next(body for status, body in answers if status == 409)
        assert lost["held_by"] == won["request"]["assigned_agent"], answers
    await asyncio.gather(*(c.until_seen("request.claim", request_ids) for c in opened))
    for console in opened:
        assert [console.seen("request.claim", i) for i in request_ids] \
            == [1] * len(request_ids)
        assert console.order("request.claim", request_ids) \
            == opened[0].order("request.claim", request_ids)


def _gone(pids: list[int]) -> bool:
    def alive(pid: int) -> bool:
        with contextlib.suppress(psutil.NoSuchProcess):
            status: str = psutil.Process(pid).status()
            return bool(status != psutil.STATUS_ZOMBIE)
        return False
    return not any(alive(pid) for pid in pids)


async def test_two_workers_share_one_port_and_stop_on_sigterm(
    start: StartHub, tmp_path: Path
) -> None:
    hub = start("--workers", "2")
    await hub.ready()
    workers = [w.pid for w in hub.workers()]
    assert len(workers) == 2 and hub.process.pid not in workers, hub.tail()
    if not TEST_REDIS_URL:  # the parent started the data folder's Redis for both
        assert (tmp_path / "data" / EMBEDDED_REGISTRY).exists()
    cookies = (await _dispatcher(hub, "ulla"), await _dispatcher(hub, "veikko"))

    async with consoles() as opened:
        await _console_on_each_worker(hub, cookies[0], opened)
        await _console_on_each_worker(hub, cookies[1], opened)
        ids = await _every_event_on_every_console([hub], opened)
        connections = [await _connection_per_worker(hub, cookie) for cookie in cookies]
        try:
            first, second = workers
            await _exclusive_claims(connections[0][first], connections[1][second], cookies,
                                    ids[:CLAIM_ROUNDS], opened)
        finally:
            for found in connections:
                for http in found.values():
                    await http.close()

    assert await hub.stop() == 0, hub.tail()
    assert _gone(workers), hub.tail()
    assert "Traceback" not in hub.log.read_text(errors="replace"), hub.tail()
    if not TEST_REDIS_URL:  # the last one out stopped the embedded Redis
        assert not (tmp_path / "data" / EMBEDDED_REGISTRY).exists(), hub.tail()


async def test_two_serve_processes_on_the_same_stores_act_as_one_hub(
    start: StartHub, tmp_path: Path
) -> None:
    first = start()
    await first.ready()  # then the second: it finds the embedded Redis the first started
    second = start()
    await second.ready()
    cookies = (await _dispatcher(first, "aino"), await _dispatcher(second, "eino"))

    async with consoles() as opened:
        for hub in (first, second):
            for cookie in cookies:
                opened.append(await Console.open(hub, cookie))
        ids = await _every_event_on_every_console([first, second], opened)
        on_first, on_second = await RawHttp.open(first.port), await RawHttp.open(second.port)
        try:
            await _exclusive_claims(on_first, on_second, cookies, ids[:CLAIM_ROUNDS], opened)
        finally:
            await on_first.close()
            await on_second.close()

    assert await first.stop() == 0, first.tail()
    async with http_session() as http, http.get(f"{second.base}/readyz") as resp:
        assert resp.status == 200, await resp.text()  # the shared Redis outlives the first
    assert await second.stop() == 0, second.tail()
    if not TEST_REDIS_URL:  # the last one out stopped the embedded Redis
        assert not (tmp_path / "data" / EMBEDDED_REGISTRY).exists(), second.tail()
