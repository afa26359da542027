"""Do the console's reads stay flat as the data grows? Fills the hub's database with many
stored requests (default 100,000), starts the hub (`taxiconnect serve`) on it, and times over
HTTP, as a logged-in dispatcher, what the console asks for: the queue view, a passenger's
history, the request list (the first page and one deep in, by cursor) and passenger search,
beside a baseline of the same run (GET /readyz: a `SELECT 1` and a Redis PING over HTTP).

    .venv/bin/python bench/queries.py                     # 100,000 requests, SQLite
    .venv/bin/python bench/queries.py --quick             # 5,000 requests, a smoke
    .venv/bin/python bench/queries.py --database-url postgresql+asyncpg://.../empty_db

The rows are written before the hub starts, with SQLAlchemy Core through hub.schema: what
ingest writes for a contact (hub/ingest_store.py: the passenger, its identities, the
request numbered from the `request` counter, its messages) and what handling adds (claim,
reply, resolve). Most requests are resolved; OPEN_REQUESTS are queued or claimed, some of
them callbacks past their deadline. One regular passenger has REGULAR_REQUESTS requests.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from servers import add_user, free_port, hub_command, hub_env, start_hub
from sqlalchemy import insert, select, update

from hub import schema
from hub.clock import utcnow
from hub.database import Database
from hub.reference import format_reference
from hub.settings import load_settings

LOGIN, PASSWORD = "benchqueries", "bench-queries-password"
CHUNK = 5000  # requests per write transaction
OPEN_REQUESTS = 2000  # the busy evening: 2,000 open requests in the queue
CLAIMED_SHARE = 0.25  # of the open ones, held by a dispatcher
OVERDUE_CALLBACKS = 20  # open callbacks past their deadline: they rise to the top
REGULAR_REQUESTS = 500  # the regular passenger whose history is timed
REQUESTS_PER_PASSENGER = 3  # on average, for everybody else
HISTORY_DAYS = 365
CHANNELS = ("webform", "sms", "phone", "email", "chat")
PRIORITIES = (0, 0, 0, 0, 0, 0, 0, 0, 10, 20)  # most lanes alike, a few urgent
TARGET_MS = 50.0  # issue 11: each answered in at most 50 ms at 100,000 requests
QUEUE_PAGE = 500  # web/console/console.js loads the queue in pages of this size
LIST_PAGE = 100  # a page of the request list as a history browser would ask for it
DEEP_STEP = 2000  # the page size used to walk deep into the list


@dataclass(frozen=True, slots=True)
class Filled:
    regular_id: uuid.UUID
    regular_phone: str
    took_s: float


def _request(number: int, contact_id: uuid.UUID, status: str, started: datetime,
             agent_id: uuid.UUID, rng: random.Random, out: dict[str, list[dict[str, Any]]],
             now: datetime) -> None:
    channel = CHANNELS[number % len(CHANNELS)]
    request_id = uuid.uuid4()
    queued = started + timedelta(seconds=rng.uniform(0.01, 0.2))
    claimed = queued + timedelta(seconds=rng.uniform(5, 300))
    ended = claimed + timedelta(seconds=rng.uniform(30, 900))
    details: dict[str, Any] = {"pickup_address": f"Mannerheimintie {number % 200 + 1}"}
    callback: dict[str, Any] = {"callback": None, "callback_due_at": None}
    if status != "resolved" and number % (OPEN_REQUESTS // OVERDUE_CALLBACKS) == 0:
        callback = {"callback": "requested", "callback_due_at": now - timedelta(minutes=5)}
    body = f"Taksi Kamppiin {number}, kaksi matkustajaa"
    out["requests"].append({
        "id": request_id, "number": number, "reference": format_reference(number),
        "contact_id": contact_id, "channel": channel, "status": status, "lane": "default",
        "priority": rng.choice(PRIORITIES), "details": details, **callback,
        "case_started_at": started,
        "queued_at": queued,
        "service_started_at": claimed if status != "queued" else None,
        "first_response_at": claimed if status == "resolved" else None,
        "ended_at": ended if status == "resolved" else None, "last_message_at": started,
        "preview": body[:200], "assigned_agent_id": agent_id if status == "claimed" else None,
        "last_agent_id": agent_id if status != "queued" else None, "updated_at": started,
        "version": 1 if status == "queued" else 3})
    out["messages"].append({
        "id": uuid.uuid4(), "request_id": request_id, "channel": channel,
        "direction": "inbound", "idempotency_key": f"bench-queries-{request_id}",
        "subject": None, "body": body, "details": details, "agent_id": None,
        "created_at": started, "fingerprint": None})
    if status == "resolved":
        out["messages"].append({
            "id": uuid.uuid4(), "request_id": request_id, "channel": channel,
            "direction": "outbound", "idempotency_key": None, "subject": None,
            "body": "Auto tulossa, noin 5 min.", "details": {}, "agent_id": agent_id,
            "created_at": claimed, "fingerprint": None})
    if status != "queued":
        out["events"].append({"id": uuid.uuid4(), "request_id": request_id,
                              "agent_id": agent_id, "action": "claim",
                              "target_agent_id": None, "note": None, "at": claimed})
    if status == "resolved":
        out["events"].append({"id": uuid.uuid4(), "request_id": request_id,
                              "agent_id": agent_id, "action": "resolve",
                              "target_agent_id": None, "note": None, "at": ended})


def _chunk(first: int, size: int, total: int, agent_id: uuid.UUID, regular: uuid.UUID,
           now: datetime, rng: random.Random) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {
        "contacts": [], "identities": [], "requests": [], "messages": [], "events": []}
    contact_id = regular
    for number in range(first, first + size):
        index = number - 1
        # The newest OPEN_REQUESTS requests are open, the rest resolved, over HISTORY_DAYS.
        is_open = index >= total - OPEN_REQUESTS
        if is_open:
            status = "claimed" if rng.random() < CLAIMED_SHARE else "queued"
            started = now - timedelta(seconds=rng.uniform(10, 3600))
        else:
            status = "resolved"
            started = now - timedelta(seconds=rng.uniform(3600, HISTORY_DAYS * 86400))
        if index % (total // REGULAR_REQUESTS or 1) == 0:
            contact_id = regular
        elif index % REQUESTS_PER_PASSENGER == 0 or contact_id == regular:
            contact_id = uuid.uuid4()
            out["contacts"].append({"id": contact_id, "name": f"Matkustaja {number}",
                                    "created_at": started, "updated_at": started})
            out["identities"].append({"kind": "phone", "value": f"+3584{number:08d}",
                                      "contact_id": contact_id, "created_at": started})
            if number % 4 == 0:
                out["identities"].append({"kind": "email", "value": f"m{number}@example.fi",
                                          "contact_id": contact_id, "created_at": started})
        _request(number, contact_id, status, started, agent_id, rng, out, now)
    return out


async def fill(database_url: str, count: int, seed: int = 11) -> Filled:
    """Write `count` requests into the (migrated, otherwise empty) database."""
    db = Database(database_url)
    rng = random.Random(seed)
    began = time.monotonic()
    now = utcnow()
    regular, phone = uuid.uuid4(), "+358401112233"
    try:
        await db.migrate()
        a, k = schema.agents, schema.counters
        async with db.read() as conn:
            agent_id = (await conn.execute(select(a.c.id).where(a.c.login == LOGIN))).scalar()
            stored = await conn.scalar(select(schema.contact_requests.c.id).limit(1))
        if agent_id is None or stored is not None:
            raise RuntimeError("fill needs a fresh database holding the bench's agent only")
        async with db.write() as conn:
            await conn.execute(insert(schema.contacts), [{
                "id": regular, "name": "Kanta-asiakas Aino", "created_at": now,
                "updated_at": now}])
            await conn.execute(insert(schema.contact_identities), [{
                "kind": "phone", "value": phone, "contact_id": regular, "created_at": now}])
        done = 0
        while done < count:
            size = min(CHUNK, count - done)
            rows = _chunk(done + 1, size, count, agent_id, regular, now, rng)
            async with db.write() as conn:
                for table, key in ((schema.contacts, "contacts"),
                                   (schema.contact_identities, "identities"),
                                   (schema.contact_requests, "requests"),
                                   (schema.messages, "messages"),
                                   (schema.handling_events, "events")):
                    if rows[key]:
                        await conn.execute(insert(table), rows[key])
            done += size
        async with db.write() as conn:  # as ingest reserves numbers: the next one is count+1
            await conn.execute(update(k).where(k.c.name == "request").values(value=count))
            if not db.is_sqlite:
                await conn.exec_driver_sql("ANALYZE")
    finally:
        await db.close()
    return Filled(regular, phone, time.monotonic() - began)


@dataclass
class Timing:
    name: str
    path: str
    samples_ms: list[float]
    rows: int

    def quantile(self, q: float) -> float:
        ordered = sorted(self.samples_ms)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _timed(http: aiohttp.ClientSession, base: str, name: str, path: str, calls: int,
                 count: Callable[[Any], int]) -> Timing:
    """`calls` sequential GETs of `path` (and of each `next` it leads to when the name says
    "all pages", as the console loads its queue), after two to warm up."""
    samples, rows = [], 0
    for n in range(calls + 2):
        began, rows, url = time.perf_counter(), 0, base + path
        while url:
            async with http.get(url) as resp:
                body = await resp.json()
                if resp.status != 200:
                    raise RuntimeError(f"{url}: {resp.status} {body}")
            rows += count(body)
            url = base + body["next"] if "all pages" in name and body.get("next") else ""
        if n >= 2:
            samples.append((time.perf_counter() - began) * 1000)
    return Timing(name, path, samples, rows)


async def _walk(http: aiohttp.ClientSession, base: str, query: str, rows: int) -> tuple[str, int]:
    """A cursor about `rows` deep into the list (walked in big pages), and the rows seen."""
    cursor, seen = "", 0
    while seen < rows:
        suffix = f"&cursor={cursor}" if cursor else ""
        async with http.get(f"{base}/api/v1/requests?{query}&limit={DEEP_STEP}{suffix}") as r:
            body = await r.json()
        seen += len(body["requests"])
        if body["next_cursor"] is None:
            break
        cursor = body["next_cursor"]
    return cursor, seen


async def measure(base: str, filled: Filled, calls: int, count: int) -> list[Timing]:
    def items(key: str) -> Callable[[Any], int]:
        return lambda body: len(body[key])

    def one(_: Any) -> int:
        return 1

    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.post(base + "/api/v1/auth/login",
                             json={"login": LOGIN, "password": PASSWORD}) as resp:
            if resp.status != 200:
                raise RuntimeError(f"login: {resp.status} {await resp.text()}")
        every = "status=queued,claimed,resolved"
        deep_all, seen_all = await _walk(http, base, every, count // 2)
        deep_resolved, seen_resolved = await _walk(http, base, "status=resolved", count // 2)
        if min(seen_all, seen_resolved) < count // 2:
            raise RuntimeError(f"the request list stopped at {seen_all} rows")
        regular = f"/api/v1/contacts/{filled.regular_id}"
        plan: list[tuple[str, str, Callable[[Any], int]]] = [
            ("baseline: GET /readyz", "/readyz", one),
            ("queue view: first page (500)", f"/api/v1/requests?limit={QUEUE_PAGE}",
             items("requests")),
            ("queue view: all pages, as the console", f"/api/v1/requests?limit={QUEUE_PAGE}",
             items("requests")),
            ("queue view: one page of 2000", f"/api/v1/requests?limit={OPEN_REQUESTS}",
             items("requests")),
            ("passenger history: timeline", regular + "/timeline", items("items")),
            ("passenger history: card", regular, lambda body: body["contact"]["requests_total"]),
            ("request list, all: first page",
             f"/api/v1/requests?{every}&limit={LIST_PAGE}", items("requests")),
            ("request list, all: half-way in (cursor)",
             f"/api/v1/requests?{every}&limit={LIST_PAGE}&cursor={deep_all}", items("requests")),
            ("request list, resolved: first page",
             f"/api/v1/requests?status=resolved&limit={LIST_PAGE}", items("requests")),
            ("request list, resolved: half-way in (cursor)",
             f"/api/v1/requests?status=resolved&limit={LIST_PAGE}&cursor={deep_resolved}",
             items("requests")),
            ("passenger search: number", "/api/v1/contacts?q=040%20111%202233",
             items("contacts")),
            ("passenger search: name", "/api/v1/contacts?q=Kanta-asiakas", items("contacts")),
        ]
        return [await _timed(http, base, name, path, calls, counter)
                for name, path, counter in plan]


def _table(small: list[Timing] | None, big: list[Timing], counts: tuple[int, int],
           backend: str) -> str:
    lines = [f"{backend}: {counts[1]:,} stored requests ({OPEN_REQUESTS:,} open) beside "
             f"{counts[0]:,}, {len(big[0].samples_ms)} sequential calls each, one "
             f"logged-in dispatcher; target p50 <= {TARGET_MS:.0f} ms at {counts[1]:,}", "",
             f"| query | rows | p50 ms at {counts[0]:,} | p50 ms | p99 ms | target |",
             "|---|---|---|---|---|---|"]
    for n, t in enumerate(big):
        target = "" if t.name.startswith("baseline") else (
            "ok" if t.quantile(0.5) <= TARGET_MS else "over")
        before = f"{small[n].quantile(0.5):.1f}" if small else "-"
        lines.append(f"| {t.name} | {t.rows:,} | {before} | {t.quantile(0.5):.1f} | "
                     f"{t.quantile(0.99):.1f} | {target} |")
    return "\n".join(lines)


def _run(args: argparse.Namespace, data_dir: Path, count: int,
         database_url: str) -> list[Timing]:
    """Fill a fresh database with `count` requests, start the hub on it, time the queries."""
    data_dir.mkdir()
    env = hub_env(data_dir, free_port(), redis_url=args.redis_url, database_url=database_url,
                  redis_prefix=f"benchq{uuid.uuid4().hex[:6]}:")
    add_user(env, LOGIN, PASSWORD, role="team", name="Bench Queries")
    filled = asyncio.run(fill(load_settings(None, env).database_url, count))
    print(f"filled {count:,} requests in {filled.took_s:.1f} s", flush=True)
    hub = start_hub(env, data_dir / "hub.log", hub_command())
    try:
        return asyncio.run(measure(hub.base_url, filled, args.calls, count))
    finally:
        hub.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100_000, help="stored requests")
    parser.add_argument("--calls", type=int, default=50, help="timed calls per query")
    parser.add_argument("--quick", action="store_true", help="5,000 requests, 20 calls")
    parser.add_argument("--baseline-count", type=int, default=5000,
                        help="the same queries on this many requests first (0: skip)")
    parser.add_argument("--database-url", default="",
                        help="an empty PostgreSQL database (default: SQLite in a temp folder)")
    parser.add_argument("--baseline-database-url", default="",
                        help="another empty one for the baseline run (with --database-url)")
    parser.add_argument("--redis-url", default="", help="default: the embedded Redis")
    args = parser.parse_args(argv)
    if args.quick:
        args.count, args.calls, args.baseline_count = 5000, 20, 0
    for count in (args.count, args.baseline_count):
        if count and count < OPEN_REQUESTS * 2:
            parser.error(f"counts must be at least {OPEN_REQUESTS * 2}")
    if args.database_url and args.baseline_count and not args.baseline_database_url:
        parser.error("--database-url needs --baseline-database-url (or --baseline-count 0)")
    backend = "PostgreSQL" if args.database_url else "SQLite (embedded defaults)"
    with tempfile.TemporaryDirectory(prefix="bench-queries-") as folder:
        small = None
        if args.baseline_count:
            small = _run(args, Path(folder) / "small", args.baseline_count,
                         args.baseline_database_url)
        big = _run(args, Path(folder) / "big", args.count, args.database_url)
    print(_table(small, big, (args.baseline_count, args.count), backend), flush=True)


if __name__ == "__main__":
    main()
