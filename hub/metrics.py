"""Prometheus metrics of one hub process, in a registry of its own (several apps share a test
process). Under `serve --workers N` each worker's registry answers for all the workers
(`share`, hub.metrics_shared).

Observing is cheap on the hot paths: a histogram's observe or a counter's inc, no query and
no await. What needs the database (queue depth and longest wait per lane) is read when
/metrics is scraped, at most once per `QUEUE_CACHE_S` however often it is scraped. The hub's
own counters (ingest, outbox, router, feed) stay on their objects and are read at scrape
time (under workers, copied to the shared files: hub.metrics_shared.LiveMirror). No label
carries personal data: only route patterns, adapter names and lane names. Observing under
workers writes to an mmap'ed file: a few microseconds, still no syscall and no await.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web
from aiohttp.typedefs import Middleware
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from hub import schema
from hub.clock import utcnow
from hub.metrics_shared import LiveMirror, WorkerProcesses
from hub.model import RequestStatus

if TYPE_CHECKING:
    from hub.database import Database

QUEUE_CACHE_S = 5.0  # a scrape storm reads the queue at most this often
NO_LANE = "none"  # the lane label of requests without a lane
# Inbound answers: POSTs a gateway, PBX or passenger's form waits on.
TIMED_PREFIXES = ("/form", "/api/v1/contact-requests", "/webhooks/")
FAST_BUCKETS = (.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1.0, 2.5, 5.0, 10.0)
SEND_BUCKETS = (.01, .025, .05, .1, .25, .5, 1.0, 2.5, 5.0, 10.0, 30.0)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Counters = Callable[[], list[tuple[str, str, float]]]  # (name, help, value) read at scrape


class Metrics:
    """The process's metrics: histograms and counters observed where things happen, and
    collectors that read the rest at scrape time."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._process = ProcessCollector(registry=self.registry)
        self._reads: list[tuple[Counters, _Live]] = []
        self.mirror: LiveMirror | None = None
        self.ingest_commit = Histogram(
            "taxiconnect_ingest_commit_seconds",
            "One ingest transaction (a batch of contacts), from its start to its commit",
            buckets=FAST_BUCKETS, registry=self.registry)
        self.answer = Histogram(
            "taxiconnect_http_answer_seconds",
            "An inbound POST (form, webhook) from its arrival to the answer, by route",
            ["route"], buckets=FAST_BUCKETS, registry=self.registry)
        self.fanout = Histogram(
            "taxiconnect_event_fanout_seconds",
            "A console event from its entry on the events stream to its write to a console",
            buckets=FAST_BUCKETS, registry=self.registry)
        self.outbound_send = Histogram(
            "taxiconnect_outbound_send_seconds",
            "One send of a reply through a channel adapter, by adapter",
            ["adapter"], buckets=SEND_BUCKETS, registry=self.registry)
        self.deliveries = Counter(
            "taxiconnect_deliveries",
            "Send attempts by adapter and outcome (sent, failed, retried)",
            ["adapter", "outcome"], registry=self.registry)
        self.queue = QueueGauges()
        self.registry.register(self.queue)

    def counters(self, read: Counters) -> None:
        """Counters kept on the hub's own objects, read at each scrape."""
        live = _Live(read)
        self._reads.append((read, live))
        self.registry.register(live)

    def share(self, folder: Path) -> LiveMirror:
        """Answer for every worker of `serve --workers N`: what this worker observes already
        goes to `folder` (prometheus-client saw PROMETHEUS_MULTIPROC_DIR when imported), so
        the registry reads the folder instead of this process's values. Collectors added
        later (read from the shared stores) stay direct. The mirror must be run
        (hub.metrics_shared.mirror_context) for the object counters to reach the folder."""
        for own in (self._process, self.ingest_commit, self.answer, self.fanout,
                    self.outbound_send, self.deliveries, *(live for _, live in self._reads)):
            self.registry.unregister(own)
        MultiProcessCollector(self.registry, str(folder))  # type: ignore[no-untyped-call]
        self.registry.register(WorkerProcesses(folder))
        self.mirror = LiveMirror(read for read, _ in self._reads)
        return self.mirror

    def exposition(self) -> bytes:
        if self.mirror is not None:
            self.mirror.sync()  # this worker's share exact; the others' within MIRROR_S
        return generate_latest(self.registry)


class _Live(Collector):
    def __init__(self, read: Counters) -> None:
        self._read = read

    def collect(self) -> Iterator[Metric]:
        for name, help_text, value in self._read():
            if name.endswith("_total"):
                counter = CounterMetricFamily(name.removesuffix("_total"), help_text)
                counter.add_metric([], value)
                yield counter
            else:
                gauge = GaugeMetricFamily(name, help_text)
                gauge.add_metric([], value)
                yield gauge


class QueueGauges(Collector):
    """Queued requests and the longest wait per lane, read from the database at most once
    per QUEUE_CACHE_S; the wait is counted from the oldest request to the scrape."""

    def __init__(self) -> None:
        self._lanes: dict[str, tuple[int, datetime]] = {}
        self._read_at = float("-inf")
        self._lock = asyncio.Lock()

    async def refresh(self, db: Database) -> None:
        if time.monotonic() - self._read_at < QUEUE_CACHE_S:
            return
        async with self._lock:  # concurrent scrapes share one read
            if time.monotonic() - self._read_at < QUEUE_CACHE_S:
                return
            r = schema.contact_requests
            async with db.read() as conn:
                rows = (await conn.execute(
                    select(r.c.lane, func.count(), func.min(r.c.queued_at))
                    .where(r.c.status == RequestStatus.QUEUED.value).group_by(r.c.lane))).all()
            self._lanes = {lane or NO_LANE: (count, oldest) for lane, count, oldest in rows}
            self._read_at = time.monotonic()

    def collect(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily("taxiconnect_queue_depth",
                                  "Requests waiting in the queue, by lane", labels=["lane"])
        wait = GaugeMetricFamily("taxiconnect_queue_longest_wait_seconds",
                                 "How long the longest-waiting queued request has waited, "
                                 "by lane", labels=["lane"])
        now = utcnow()
        for lane, (count, oldest) in sorted(self._lanes.items()):
            depth.add_metric([lane], count)
            wait.add_metric([lane], max(0.0, (now - oldest).total_seconds()))
        yield depth
        yield wait


def answer_timer(metrics: Metrics) -> Middleware:
    """Middleware timing inbound POSTs, labelled by the route's pattern (never the path
    itself, which may carry a token)."""

    @web.middleware
    async def timed(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method != "POST" or not request.path.startswith(TIMED_PREFIXES):
            return await handler(request)
        started = time.perf_counter()
        try:
            return await handler(request)
        finally:
            route = request.match_info.route.resource
            metrics.answer.labels(route.canonical if route is not None else "other").observe(
                time.perf_counter() - started)

    return timed


async def metrics_page(request: web.Request, metrics: Metrics, db: Database) -> web.Response:
    await metrics.queue.refresh(db)
    return web.Response(body=metrics.exposition(),
                        headers={"Content-Type": CONTENT_TYPE_LATEST})
