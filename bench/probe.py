"""Run the hub with measuring hooks, for bench/ingest.py --probe (never in production).

    python bench/probe.py --out probe.jsonl [--switch-interval 0.0005] serve

The hooks wrap, without changing what they do:

- every aiosqlite call (one round trip: event loop -> SQLite thread -> event loop),
- each ingest batch (its length, contacts, and the round trips made inside it),
- each write transaction (how long it waited for the single writer connection),
- the event loop's lag (how late a 10 ms timer fires),
- the peaks of contacts waiting for a batch and of form POSTs inside their handler.

Once a second it appends the cumulative counters to --out as a JSON line; the bench takes
the difference over each phase.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextvars
import json
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

# Histogram bucket upper bounds in seconds: 50 µs .. 10 s, about 4 per factor of 10.
BUCKETS = [5e-5 * 10 ** (i / 4) for i in range(22)]
LAG_TICK_S = 0.01
WRITE_EVERY_S = 1.0

_in_batch: contextvars.ContextVar[bool] = contextvars.ContextVar("in_batch", default=False)


class Counters:
    def __init__(self) -> None:
        self.values: dict[str, float] = {
            "hops": 0, "hop_s": 0.0, "batches": 0, "batch_contacts": 0, "batch_s": 0.0,
            "batch_hops": 0, "writes": 0, "write_wait_s": 0.0, "write_hold_s": 0.0,
        }
        # Peaks since the last snapshot.
        self.peaks: dict[str, int] = {"waiting_peak": 0, "handling_peak": 0}
        self.handling = 0
        self.hop_hist = [0] * (len(BUCKETS) + 1)
        self.lag_hist = [0] * (len(BUCKETS) + 1)

    def add(self, **amounts: float) -> None:
        for name, amount in amounts.items():
            self.values[name] += amount

    def peak(self, name: str, value: int) -> None:
        self.peaks[name] = max(self.peaks[name], value)

    def snapshot(self) -> dict[str, Any]:
        peaks, self.peaks = self.peaks, dict.fromkeys(self.peaks, 0)
        return {"t": time.monotonic(), **self.values, **peaks,
                "hop_hist": list(self.hop_hist), "lag_hist": list(self.lag_hist)}


COUNTERS = Counters()


def _bucket(seconds: float) -> int:
    return bisect.bisect_left(BUCKETS, seconds)


def _hook_aiosqlite() -> None:
    import aiosqlite.core

    original = aiosqlite.core.Connection._execute

    async def _execute(self: Any, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        try:
            return await original(self, fn, *args, **kwargs)
        finally:
            took = time.perf_counter() - began
            COUNTERS.add(hops=1, hop_s=took, batch_hops=1 if _in_batch.get() else 0)
            COUNTERS.hop_hist[_bucket(took)] += 1

    aiosqlite.core.Connection._execute = _execute  # type: ignore[method-assign]


def _hook_ingest() -> None:
    from hub.ingest import Ingestor

    original = Ingestor._commit_batch

    async def _commit_batch(self: Ingestor, batch: list[Any]) -> None:
        COUNTERS.peak("waiting_peak", len(batch) + len(self._waiting))
        began = time.perf_counter()
        token = _in_batch.set(True)
        try:
            await original(self, batch)
        finally:
            _in_batch.reset(token)
            COUNTERS.add(batches=1, batch_contacts=len(batch),
                         batch_s=time.perf_counter() - began)

    Ingestor._commit_batch = _commit_batch  # type: ignore[method-assign]


def _hook_form() -> None:
    from aiohttp import web

    from channels.webform import WebFormChannel

    original = WebFormChannel.post_form

    async def post_form(self: WebFormChannel, request: web.Request) -> web.Response:
        COUNTERS.handling += 1
        COUNTERS.peak("handling_peak", COUNTERS.handling)
        try:
            return await original(self, request)
        finally:
            COUNTERS.handling -= 1

    WebFormChannel.post_form = post_form  # type: ignore[method-assign]


def _hook_writes() -> None:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from hub.database import Database

    original = Database.write

    @asynccontextmanager
    async def write(self: Database) -> AsyncIterator[AsyncConnection]:
        asked = time.perf_counter()
        async with original(self) as conn:
            got = time.perf_counter()
            try:
                yield conn
            finally:
                COUNTERS.add(writes=1, write_wait_s=got - asked,
                             write_hold_s=time.perf_counter() - got)

    Database.write = write  # type: ignore[method-assign]


async def _watch_lag() -> None:
    loop = asyncio.get_running_loop()
    while True:
        due = loop.time() + LAG_TICK_S
        await asyncio.sleep(LAG_TICK_S)
        COUNTERS.lag_hist[_bucket(max(0.0, loop.time() - due))] += 1


def _hook_app() -> None:
    from aiohttp import web

    import hub.app

    original = hub.app.create_app

    def create_app(settings: Any) -> web.Application:
        app = original(settings)

        async def lag(_: web.Application) -> AsyncIterator[None]:
            task = asyncio.create_task(_watch_lag())
            yield
            task.cancel()

        app.cleanup_ctx.append(lag)
        return app

    hub.app.create_app = create_app


def _write_forever(out: Path) -> None:
    with out.open("a") as file:
        while True:
            file.write(json.dumps(COUNTERS.snapshot()) + "\n")
            file.flush()
            time.sleep(WRITE_EVERY_S)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--switch-interval", type=float,
                        help="sys.setswitchinterval for the hub (CPython's default: 0.005)")
    args, rest = parser.parse_known_args()
    if args.switch_interval:
        sys.setswitchinterval(args.switch_interval)
    _hook_aiosqlite()
    _hook_ingest()
    _hook_form()
    _hook_writes()
    _hook_app()
    threading.Thread(target=_write_forever, args=(args.out,), daemon=True).start()
    from hub.cli import main as hub_main

    hub_main(rest)


def phase_figures(lines: list[dict[str, Any]], began: float, ended: float) -> dict[str, Any]:
    """The probe's figures between two moments, from the snapshots that bracket them."""
    before = max((s for s in lines if s["t"] <= began), key=lambda s: s["t"], default=None)
    after = min((s for s in lines if s["t"] >= ended), key=lambda s: s["t"], default=None)
    if before is None or after is None:
        return {}
    d = {k: after[k] - before[k] for k in before
         if k not in ("hop_hist", "lag_hist", "waiting_peak", "handling_peak")}
    inside = [s for s in lines if began < s["t"] <= after["t"]]
    hops = [a - b for a, b in zip(after["hop_hist"], before["hop_hist"], strict=True)]
    lags = [a - b for a, b in zip(after["lag_hist"], before["lag_hist"], strict=True)]
    batches = d["batches"] or 1
    return {
        "batches": int(d["batches"]),
        "contacts_per_batch": round(d["batch_contacts"] / batches, 1),
        "batch_ms": round(1000 * d["batch_s"] / batches, 1),
        "round_trips_per_batch": round(d["batch_hops"] / batches, 1),
        "round_trip_mean_ms": round(1000 * d["hop_s"] / (d["hops"] or 1), 2),
        "round_trip_p99_ms": _histogram_ms(hops, 99),
        "write_wait_mean_ms": round(1000 * d["write_wait_s"] / (d["writes"] or 1), 1),
        "writes_per_batch": round(d["writes"] / batches, 1),
        "loop_lag_p50_ms": _histogram_ms(lags, 50),
        "loop_lag_p99_ms": _histogram_ms(lags, 99),
        "waiting_peak": max((s["waiting_peak"] for s in inside), default=0),
        "in_handler_peak": max((s["handling_peak"] for s in inside), default=0),
    }


def _histogram_ms(counts: list[int], q: float) -> float | None:
    """Upper bound of the bucket that holds the q-th percentile."""
    total = sum(counts)
    if not total:
        return None
    running = 0
    for index, count in enumerate(counts):
        running += count
        if running >= q / 100 * total:
            bound = BUCKETS[index] if index < len(BUCKETS) else float("inf")
            return round(1000 * bound, 2)
    return None


def read_lines(path: Path) -> list[dict[str, Any]]:
    try:
        text = path.read_text()
    except OSError:
        return []
    return [json.loads(line) for line in text.splitlines() if line.endswith("}")]


if __name__ == "__main__":
    main()
