"""One /metrics for all the workers of `serve --workers N`, in prometheus-client's
multiprocess mode.

The parent gives its workers a fresh private folder in `PROMETHEUS_MULTIPROC_DIR` before they
start, so every histogram and counter a worker observes is written (an mmap'ed file per
process and kind) where any worker can read it; a scrape of the shared port, whichever worker
answers it, sums them all. Counters keep counting through a worker's death (its files stay);
the live gauges of a dead worker are dropped by the parent (`mark_process_dead`).

The hub's own counters live on its objects (ingest, outbox, router, feed, webhooks), read at
scrape time in a single process. Under workers a `LiveMirror` copies them into file-backed
counters and gauges every `MIRROR_S` and on each scrape of its own worker: the other workers'
share is at most that old. What is read from the shared stores (queue depth, alerts) stays a
direct collector: every worker reads the same values. Process metrics are per process: each
scrape gives every live worker's, labelled by `pid`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from functools import partial
from pathlib import Path

import psutil
from aiohttp import web
from prometheus_client import Counter, Gauge, ProcessCollector
from prometheus_client.core import Metric
from prometheus_client.multiprocess import mark_process_dead
from prometheus_client.registry import Collector

from hub.errors import OperatorMustAct

log = logging.getLogger(__name__)

FOLDER_ENV = "PROMETHEUS_MULTIPROC_DIR"  # read by prometheus-client when it is imported
MIRROR_S = 1.0  # how stale another worker's object counters may be in a scrape
FOLDER = "metrics"  # under the data folder: one subfolder per port a `--workers` hub serves

Reading = list[tuple[str, str, float]]  # (name, help, value), as hub.metrics.Counters gives


def fresh_folder(data_dir: Path, port: int) -> Path:
    """The workers' metrics folder for a hub on `port`: created private (0700) and emptied.

    Files a previous run left (a crash, a SIGKILL) would be summed with the new workers' and
    double every count. Keyed by port, since only one hub can serve a port at a time while
    two hubs on other ports may share the data folder.
    """
    parent = data_dir / FOLDER
    folder = parent / str(port)
    try:
        parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        parent.chmod(0o700)
        if folder.exists() or folder.is_symlink():
            shutil.rmtree(folder)
        folder.mkdir(mode=0o700)
    except OSError as exc:
        raise OperatorMustAct(f"cannot prepare the workers' metrics folder {folder}: {exc}") \
            from exc
    return folder.resolve()


def remove_folder(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)


def worker_gone(folder: Path, pid: int) -> None:
    """A worker exited: its live gauges (consoles, webhooks in flight) no longer count; its
    counters and histograms stay, so that the hub's totals never go back."""
    with contextlib.suppress(OSError):
        mark_process_dead(pid, str(folder))  # type: ignore[no-untyped-call]


class LiveMirror:
    """Copies the counters kept on the hub's objects into file-backed metrics: a counter
    grows by what its object counted since the last copy, a gauge (a per-process amount such
    as consoles connected) is set and summed over the live workers."""

    def __init__(self, reads: Iterable[Callable[[], Reading]]) -> None:
        self._reads = list(reads)
        self._counters: dict[str, tuple[Counter, float]] = {}
        self._gauges: dict[str, Gauge] = {}

    def sync(self) -> None:
        for read in self._reads:
            for name, help_text, value in read():
                if name.endswith("_total"):
                    self._count(name, help_text, value)
                else:
                    gauge = self._gauges.get(name)
                    if gauge is None:
                        gauge = self._gauges[name] = Gauge(
                            name, help_text, multiprocess_mode="livesum", registry=None)
                    gauge.set(value)

    def _count(self, name: str, help_text: str, value: float) -> None:
        found = self._counters.get(name)
        if found is None:
            counter = Counter(name.removesuffix("_total"), help_text, registry=None)
            copied = 0.0
        else:
            counter, copied = found
        # An object started again (an app restarted in-process) counts from 0 once more.
        grown = value - copied if value >= copied else value
        if grown:
            counter.inc(grown)
        self._counters[name] = (counter, value)


def mirror_context(mirror: LiveMirror) -> Callable[[web.Application], AsyncIterator[None]]:
    """Copies the object counters every MIRROR_S while the worker runs, and once more as it
    stops, so that its last counts outlive it."""
    async def context(app: web.Application) -> AsyncIterator[None]:
        async def copy() -> None:
            while True:
                try:
                    mirror.sync()
                except Exception:  # a metric must never stop the worker
                    log.exception("copying the live counters to the metrics folder failed")
                await asyncio.sleep(MIRROR_S)

        task = asyncio.create_task(copy(), name="metrics-mirror")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        mirror.sync()

    return context


class WorkerProcesses(Collector):
    """`process_*` of every live worker, each sample labelled with its `pid`: a sum of
    memory or open files over workers would hide the one that grows. The workers are the
    processes with files in the folder that are still children of this worker's parent."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder

    def collect(self) -> Iterator[Metric]:
        families: dict[str, Metric] = {}
        for pid in sorted(self._workers()):
            for family in ProcessCollector(pid=partial(int, pid), registry=None).collect():
                merged = families.setdefault(
                    family.name, Metric(family.name, family.documentation, family.type))
                for sample in family.samples:
                    merged.add_sample(sample.name, {**sample.labels, "pid": str(pid)},
                                      sample.value)
        yield from families.values()

    def _workers(self) -> set[int]:
        pids = set()
        for path in self._folder.glob("*.db"):
            with contextlib.suppress(ValueError):
                pids.add(int(path.stem.rsplit("_", 1)[-1]))
        parent = os.getppid()
        alive = set()
        for pid in pids:
            with contextlib.suppress(psutil.Error):
                if psutil.Process(pid).ppid() == parent:
                    alive.add(pid)
        return alive
