"""/metrics of `taxiconnect serve --workers 2` answers for the whole hub (issue 16): contacts
posted on new connections land on either worker, and every scrape, whichever worker answers
it, counts all of them, the histograms too, with each worker's process metrics under its pid.
A hub that crashed leaves its workers' metric files behind; the next start on the port
clears them, so the old run's counts are not added to the new one's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from hub.settings import Settings
from tests.conftest import free_port
from tests.helpers import eventually, order
from tests.hub_process import HubProcess, RawHttp, kill_leftovers, start_hub, worker_of

MAX_CONNECTS = 40  # connections tried before concluding one worker never accepts any
CONTACTS = 6
SCRAPES_EACH = 2  # scrapes answered by each worker
ROUTE = "/api/v1/contact-requests"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def _post_on_new_connections(hub: HubProcess, count: int, *, spread: bool) -> int:
    """At least `count` contacts, each on a connection of its own (with `spread`, until every
    worker has taken some); how many were posted."""
    took: set[int] = set()
    workers = {w.pid for w in hub.workers()}
    posted = 0
    while posted < count or (spread and took != workers):
        assert posted < MAX_CONNECTS, f"{posted} contacts reached only workers {took}"
        http = await RawHttp.open(hub.port)
        try:
            body = json.dumps(order(f"tok-wm-{uuid.uuid4().hex}",
                                    phone=f"+3584011{posted:05d}")).encode()
            status, answer = await http.request("POST", ROUTE, body=body)
            assert status == 201, answer
            took.add(worker_of(hub.workers(), hub.port, http.local) or 0)
        finally:
            await http.close()
        posted += 1
    return posted


async def _scrape(hub: HubProcess) -> tuple[int | None, Samples]:
    """One scrape on a new connection: the worker that answered it, and its samples."""
    http = await RawHttp.open(hub.port)
    try:
        status, body = await http.request("GET", "/metrics")
        worker = worker_of(hub.workers(), hub.port, http.local)
    finally:
        await http.close()
    assert status == 200, body
    return worker, {(s.name, frozenset(s.labels.items())): s.value
                    for family in text_string_to_metric_families(body.decode())
                    for s in family.samples}


def _value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def _every_scrape_counts(hub: HubProcess, contacts: int) -> None:
    """Scrapes on new connections until each worker has answered SCRAPES_EACH: every one
    counts all the contacts, whichever worker took them."""
    async def settled() -> bool | None:
        # The workers copy their object counters to the shared files every second.
        _, samples = await _scrape(hub)
        return True if _value(samples, "taxiconnect_ingest_committed_total") == contacts \
            else None
    await eventually(settled, what=f"{contacts} contacts counted")
    workers = {w.pid for w in hub.workers()}
    answered = dict.fromkeys(workers, 0)
    for _ in range(MAX_CONNECTS):
        worker, samples = await _scrape(hub)
        assert worker in workers, (worker, workers)
        answered[worker] += 1
        seen = {name: _value(samples, name) for name in (
            "taxiconnect_ingest_committed_total", "taxiconnect_ingest_batches_total",
            "taxiconnect_ingest_commit_seconds_count")}
        assert seen["taxiconnect_ingest_committed_total"] == contacts, (worker, seen)
        assert _value(samples, "taxiconnect_http_answer_seconds_count", route=ROUTE) \
            == contacts, worker
        assert 1 <= seen["taxiconnect_ingest_batches_total"] \
            == seen["taxiconnect_ingest_commit_seconds_count"] <= contacts, (worker, seen)
        memory = {dict(labels)["pid"] for (name, labels), _ in samples.items()
                  if name == "process_resident_memory_bytes"}
        assert memory == {str(pid) for pid in workers}, (memory, workers)
        if min(answered.values()) >= SCRAPES_EACH:
            return
    raise AssertionError(f"{MAX_CONNECTS} scrapes reached the workers {answered}")


def _leave_stale_counts(folder: Path, contacts: int) -> None:
    """What a worker of a crashed run leaves in the folder: its ingest counter's file."""
    folder.mkdir(mode=0o700, parents=True)
    subprocess.run([sys.executable, "-c", (
        "import sys; from prometheus_client import Counter; "
        "Counter('taxiconnect_ingest_committed', 'Contacts committed by ingest')"
        ".inc(int(sys.argv[1]))"), str(contacts)],
        env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder)}, check=True)
    assert list(folder.glob("counter_*.db"))


async def test_every_scrape_of_the_shared_port_counts_every_worker(
    tmp_path: Path, settings: Settings
) -> None:
    port, data = free_port(), tmp_path / "data"
    folder = data / "metrics" / str(port)
    _leave_stale_counts(folder, 1000)
    hub = start_hub(settings, tmp_path, port, "--workers", "2")
    try:
        await hub.ready()
        assert folder.stat().st_mode & 0o777 == 0o700
        # Cleared: only the workers' files, and the parent's restart counter.
        pids = {str(w.pid) for w in hub.workers()} | {str(hub.process.pid)}
        assert {p.stem.rsplit("_", 1)[-1] for p in folder.glob("*.db")} <= pids
        posted = await _post_on_new_connections(hub, CONTACTS, spread=True)
        await _every_scrape_counts(hub, posted)
        assert await hub.stop() == 0, hub.tail()
        assert not folder.exists(), hub.tail()
    finally:
        kill_leftovers([hub], {data})
