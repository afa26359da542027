"""Nothing stranded: a request committed by a hub process that died before publishing it
still reaches the queue, published by the next process to start."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import aiohttp
import pytest
from redis.asyncio import Redis
from sqlalchemy import func, select

from hub import schema
from hub.appkeys import DATABASE
from hub.keys import Keys
from hub.settings import Settings
from tests.conftest import DispatcherFactory, HubFactory
from tests.helpers import WAIT_S, eventually, http_session, order, submit
from tests.proxy import StallingProxy

REPO = Path(__file__).resolve().parents[2]
START_S = 30.0  # a cold interpreter importing the hub and migrating a fresh database
REFERENCE = re.compile(r'<strong class="reference">([^<]+)</strong>')

# Start a hub process whose Redis is at the given URL: (process, base URL, log file).
Serve = Callable[[str], tuple["subprocess.Popen[bytes]", str, Path]]


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-4000:]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
async def proxy(settings: Settings) -> AsyncIterator[StallingProxy]:
    running = StallingProxy(settings.redis.url.reveal())
    yield running
    await running.close()


@pytest.fixture
def serve(tmp_path: Path, settings: Settings) -> Iterator[Serve]:
    """Start `python -m hub.cli serve` as a real process; killed at the end of the test."""
    started: list[subprocess.Popen[bytes]] = []

    def start(redis_url: str) -> tuple[subprocess.Popen[bytes], str, Path]:
        port = _free_port()
        log = tmp_path / f"hub-{port}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("TAXICONNECT_")}
        env.update({
            "PYTHONPATH": str(REPO),
            "TAXICONNECT_DATA_DIR": str(tmp_path / f"data-{port}"),
            "TAXICONNECT_DATABASE_URL": settings.database.url.reveal(),
            "TAXICONNECT_REDIS_URL": redis_url,
            "TAXICONNECT_REDIS_PREFIX": settings.redis.prefix,
            "TAXICONNECT_HTTP_HOST": "127.0.0.1",
            "TAXICONNECT_HTTP_PORT": str(port),
        })
        with log.open("wb") as out:
            process = subprocess.Popen([sys.executable, "-m", "hub.cli", "serve"], cwd=tmp_path,
                                       env=env, stdout=out, stderr=subprocess.STDOUT)
        started.append(process)
        return process, f"http://127.0.0.1:{port}", log

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


async def _ready(process: subprocess.Popen[bytes], base: str, log: Path) -> None:
    async with http_session() as http:
        async def probe() -> bool | None:
            if process.poll() is not None:
                raise AssertionError(f"the hub exited with {process.returncode}:\n"
                                     f"{_tail(log)}")
            try:
                async with http.get(f"{base}/readyz") as resp:
                    return True if resp.status == 200 else None
            except aiohttp.ClientConnectionError:
                return None
        await eventually(probe, START_S, f"ready hub at {base}")


async def test_request_committed_before_a_crash_is_published_after_restart(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings,
    proxy: StallingProxy, serve: Serve, raw_redis: Redis
) -> None:
    keys = Keys(settings.redis.prefix)
    process, base, log = serve(await proxy.start())
    await _ready(process, base, log)

    proxy.stall()  # Redis stops answering this process: whatever it publishes now hangs
    async with http_session() as http, \
            http.post(f"{base}/form", data=order("tok-crash-000001", language="en")) as resp:
        assert resp.status == 201, await resp.text()  # committed: the answer says so
        reference = REFERENCE.search(await resp.text())
    assert reference is not None
    process.send_signal(signal.SIGKILL)
    await asyncio.wait_for(asyncio.to_thread(process.wait), WAIT_S)
    assert await raw_redis.xlen(keys.inbound) == 0, "published before the crash after all"
    assert await raw_redis.xlen(keys.events) == 0

    client = await hub()  # the next process on the same database and Redis
    agent = await dispatcher(client)
    console = await agent.console(last_event_id="0-0")
    events = await console.until(lambda e: e["request"]["reference"] == reference.group(1))
    assert [e["type"] for e in events] == ["request.queued"]
    request = events[0]["request"]
    assert request["status"] == "queued"
    found = await agent.wait_for_status(request["id"], "queued")
    assert found["reference"] == reference.group(1)
    assert [m["body"] for m in found["messages"]] == ["Taksi Kamppiin"]
    assert [r["id"] for r in await agent.open_requests()] == [request["id"]]

    async def acknowledged() -> bool | None:  # just after the event is published
        return (await raw_redis.xpending(keys.inbound, "router"))["pending"] == 0 or None
    await eventually(acknowledged, what="the router's entry acknowledged")


async def test_published_rows_leave_the_outbox(
    hub: HubFactory, dispatcher: DispatcherFactory
) -> None:
    """Published rows are deleted, by the next ingest transaction or by the relay alone."""
    client = await hub()
    agent = await dispatcher(client)
    for n in range(10):
        await submit(agent.http, agent.base, f"outbox-empties-{n:02d}",
                     phone=f"+3584000000{n:02d}")
    receipt = await submit(agent.http, agent.base, "outbox-empties-last")
    await agent.console()
    await agent.http.post(f"{agent.base}/api/v1/requests/{receipt['id']}/claim")

    async def empty() -> bool | None:
        async with client.app[DATABASE].read() as conn:
            left = await conn.scalar(select(func.count()).select_from(schema.outbox))
        return True if left == 0 else None

    await eventually(empty, what="an empty outbox")


async def test_a_redis_that_forgot_the_hubs_scripts_still_gets_every_contact_once(
    hub: HubFactory, dispatcher: DispatcherFactory, raw_redis: Redis
) -> None:
    """A restart or a failover empties Redis's script cache: the outbox and the router run
    their publish-once scripts by hash alone, and must load them again when Redis answers
    NOSCRIPT, with each contact still queued once."""
    client = await hub()
    agent = await dispatcher(client)
    console = await agent.console()
    await submit(agent.http, agent.base, "scripts-known")
    await console.until(lambda e: e.get("type") == "request.queued")
    await raw_redis.script_flush()
    receipt = await submit(agent.http, agent.base, "scripts-forgotten", phone="+358401112223")
    queued = await console.until(
        lambda e: e.get("type") == "request.queued" and e["request"]["id"] == receipt["id"])
    assert [e["request"]["id"] for e in queued
            if e.get("type") == "request.queued"].count(receipt["id"]) == 1
    again = await submit(agent.http, agent.base, "scripts-forgotten", phone="+358401112223")
    assert again["id"] == receipt["id"]
