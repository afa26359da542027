"""`taxiconnect serve --workers 2` replaces a worker that dies, in place: a worker killed with
SIGKILL is started again on its listening sockets while the other keeps serving, so that
every passenger's POST on the shared port is answered, those the kernel handed to the dead
worker's socket by its replacement; /metrics counts the restart. A crash loop (here more than
one restart, --max-restarts 1) still stops the service with status 1 for the service manager,
and SIGTERM while a replacement is pending stops everything cleanly, starting nothing more.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass
from pathlib import Path

import psutil
from prometheus_client.parser import text_string_to_metric_families

from hub.settings import Settings
from tests.conftest import free_port
from tests.helpers import eventually, order
from tests.hub_process import (
    EMBEDDED_REGISTRY,
    START_S,
    STOP_S,
    HubProcess,
    RawHttp,
    kill_leftovers,
    start_hub,
    worker_of,
)
from tests.services import TEST_REDIS_URL

BURST = 16  # POSTs on connections of their own at once: the kernel gives each worker some
ROUTE = "/api/v1/contact-requests"
RESTARTS = "taxiconnect_worker_restarts_total"


@dataclass
class Answer:
    status: int
    worker: int | None  # the pid that answered
    workers: set[int]  # the processes serving when the answer came


async def _post(hub: HubProcess, n: int) -> Answer:
    """A passenger's POST on a new connection, as the kernel routes it."""
    http = await RawHttp.open(hub.port)
    try:
        body = json.dumps(order(f"tok-wr-{uuid.uuid4().hex}", phone=f"+3584012{n:05d}"))
        # A connection waiting in a dead worker's backlog is answered once the replacement
        # has started: bounded by a cold start, not by a request's usual time.
        status, _ = await asyncio.wait_for(http.request("POST", ROUTE, body=body.encode()),
                                           START_S)
        workers = {w.pid for w in hub.workers()}
        return Answer(status, worker_of(hub.workers(), hub.port, http.local), workers)
    finally:
        await http.close()


async def _restarts(hub: HubProcess) -> float:
    http = await RawHttp.open(hub.port)
    try:
        status, body = await asyncio.wait_for(http.request("GET", "/metrics"), START_S)
    finally:
        await http.close()
    assert status == 200, body
    found = [s.value for family in text_string_to_metric_families(body.decode())
             for s in family.samples if s.name == RESTARTS]
    assert len(found) == 1, found
    return found[0]


async def _exit_status(hub: HubProcess) -> int:
    return await asyncio.wait_for(asyncio.to_thread(hub.process.wait), STOP_S)


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


async def test_a_killed_worker_is_replaced_while_the_other_serves_until_a_crash_loop(
    tmp_path: Path, settings: Settings
) -> None:
    port, data = free_port(), tmp_path / "data"
    hub = start_hub(settings, tmp_path, port, "--workers", "2", "--max-restarts", "1",
                    "--restart-window", "600")
    try:
        await hub.ready()
        assert await _restarts(hub) == 0  # the series is there before any restart
        victim, survivor = (w.pid for w in hub.workers())

        psutil.Process(victim).kill()
        answers = await asyncio.gather(*(_post(hub, n) for n in range(BURST)))
        assert [a.status for a in answers] == [201] * BURST, hub.tail()
        replacement = {a.worker for a in answers} - {survivor}
        assert len(replacement) == 1 and victim not in replacement, (answers, hub.tail())
        new = replacement.pop()
        assert new is not None and {w.pid for w in hub.workers()} == {survivor, new}
        # The other worker answered while the dead one had no replacement yet.
        assert any(a.worker == survivor and new not in a.workers for a in answers), answers
        log = hub.tail()
        assert f"pid {victim} was ended by signal 9 (SIGKILL)" in log, log
        assert f"started again: pid {new}" in log, log
        assert await _restarts(hub) == 1
        assert (await _post(hub, BURST)).status == 201

        psutil.Process(new).kill()  # a second restart within the window: a crash loop
        assert await _exit_status(hub) == 1, hub.tail()
        assert "a crash loop" in hub.tail(), hub.tail()
        assert not _alive(survivor), hub.tail()
        assert not (data / "metrics" / str(port)).exists(), hub.tail()
        if not TEST_REDIS_URL:  # the embedded Redis stopped with the service
            assert not (data / EMBEDDED_REGISTRY).exists(), hub.tail()
    finally:
        kill_leftovers([hub], {data})


async def test_sigterm_while_a_worker_is_being_replaced_stops_everything(
    tmp_path: Path, settings: Settings
) -> None:
    hub = start_hub(settings, tmp_path, free_port(), "--workers", "2")
    try:
        await hub.ready()
        before = [w.pid for w in hub.workers()]
        psutil.Process(before[0]).kill()

        async def noticed() -> bool | None:
            return True if "starting it again in" in hub.tail() else None
        await eventually(noticed, START_S, "the exit noticed")
        assert await hub.stop() == 0, hub.tail()
        assert "stopped with status" not in hub.tail(), hub.tail()
        # A replacement started before the signal came (a slow machine) is stopped too.
        started = [int(line.rsplit("pid ", 1)[1].split()[0]) for line in
                   hub.tail().splitlines() if "started again: pid" in line]
        assert not any(_alive(pid) for pid in [*before, *started]), hub.tail()
    finally:
        kill_leftovers([hub], {tmp_path / "data"})
