"""Store many handled requests straight into the hub's database, before the hub starts, for
bench/ingest.py --preload N (cost must stay flat as the data grows).

    python bench/preload.py --count 100000 --agent benchadmin

Run with the interpreter of the checkout under test and the hub's environment (the bench
does this): it reads the hub's own settings, brings the schema up to date, and writes with
SQLAlchemy Core through the hub's own tables (hub.schema) the rows ingest and handling would
have written: for each request a new passenger (contact) with a phone identity, the request
itself (resolved, numbered from the request counter, as ingest reserves numbers), its
inbound message, and the claim and resolve of `--agent` (handling events, last agent). No
outbox rows: these requests were routed and announced long ago, so nothing is published when
the hub starts, and its caches are filled from the database like after any restart.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub import schema
from hub.clock import utcnow
from hub.database import Database
from hub.epoch import timing_copies
from hub.reference import format_reference
from hub.settings import load_settings

CHUNK = 5000  # requests per transaction: few round trips, bounded memory
REQUEST_COUNTER = "request"  # hub.ingest_store's counter row
HISTORY_DAYS = 180  # the preloaded requests started over this many days before now
CHANNELS = ("webform", "sms", "phone", "email")


async def _reserve(conn: AsyncConnection, count: int) -> int:
    """Request numbers, reserved as ingest does; returns the first."""
    c = schema.counters
    last = (await conn.execute(update(c).where(c.c.name == REQUEST_COUNTER)
                               .values(value=c.c.value + count).returning(c.c.value))).scalar()
    if last is None:
        raise RuntimeError("the request counter is missing: the schema is not migrated")
    return int(last) - count + 1


def _rows(first: int, count: int, agent_id: uuid.UUID, now: datetime, phone_base: int,
          rng: random.Random) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {
        "contacts": [], "identities": [], "requests": [], "messages": [], "events": []}
    for number in range(first, first + count):
        started = now - timedelta(seconds=rng.uniform(3600, HISTORY_DAYS * 86400))
        queued = started + timedelta(seconds=rng.uniform(0.01, 0.2))
        claimed = queued + timedelta(seconds=rng.uniform(5, 300))
        ended = claimed + timedelta(seconds=rng.uniform(30, 900))
        channel = CHANNELS[number % len(CHANNELS)]
        contact_id, request_id = uuid.uuid4(), uuid.uuid4()
        body = f"Taksi Kamppiin, vanha tilaus {number}"
        out["contacts"].append({"id": contact_id, "name": f"Passenger {number}",
                                "created_at": started, "updated_at": ended})
        out["identities"].append({"kind": "phone", "value": f"+3586{phone_base + number:09d}",
                                  "contact_id": contact_id, "created_at": started})
        out["requests"].append({
            "id": request_id, "number": number, "reference": format_reference(number),
            "contact_id": contact_id, "channel": channel, "status": "resolved",
            "lane": "default", "priority": 0, "details": {}, "case_started_at": started,
            "queued_at": queued, "service_started_at": claimed, "first_response_at": claimed,
            "ended_at": ended, "last_message_at": started, "preview": body,
            "assigned_agent_id": None, "last_agent_id": agent_id, "updated_at": ended,
            "version": 3})
        out["messages"].append({
            "id": uuid.uuid4(), "request_id": request_id, "channel": channel,
            "direction": "inbound", "idempotency_key": f"preload-{request_id}",
            "subject": None, "body": body, "details": {}, "agent_id": None,
            "created_at": started, "fingerprint": None})
        for action, at in (("claim", claimed), ("resolve", ended)):
            out["events"].append({"id": uuid.uuid4(), "request_id": request_id,
                                  "agent_id": agent_id, "action": action,
                                  "target_agent_id": None, "note": None, "at": at})
    return out


async def preload(count: int, agent_login: str, seed: int) -> float:
    settings = load_settings(None)
    db = Database(settings.database_url)
    began = time.monotonic()
    rng = random.Random(seed)
    phone_base = rng.randrange(10**8)
    try:
        await db.migrate()
        a = schema.agents
        async with db.read() as conn:
            agent_id = (await conn.execute(select(a.c.id).where(a.c.login == agent_login))
                        ).scalar()
        if agent_id is None:
            raise RuntimeError(f"no agent {agent_login!r}: add it first")
        now = utcnow()
        done = 0
        while done < count:
            size = min(CHUNK, count - done)
            async with db.write() as conn:
                first = await _reserve(conn, size)
                rows = _rows(first, size, agent_id, now, phone_base, rng)
                await conn.execute(insert(schema.contacts), rows["contacts"])
                await conn.execute(insert(schema.contact_identities), rows["identities"])
                await conn.execute(insert(schema.contact_requests),
                                   [row | timing_copies(row) for row in rows["requests"]])
                await conn.execute(insert(schema.messages), rows["messages"])
                await conn.execute(insert(schema.handling_events), rows["events"])
            done += size
    finally:
        await db.close()
    return time.monotonic() - began


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--agent", required=True, help="login of the handling dispatcher")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args(argv)
    if not 0 < args.count <= 10_000_000:
        parser.error("--count must be in 1..10000000")
    took = asyncio.run(preload(args.count, args.agent, args.seed))
    print(f"preloaded {args.count} requests in {took:.1f} s", flush=True)


if __name__ == "__main__":
    main()
