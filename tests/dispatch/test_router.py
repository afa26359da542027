"""The router takes over an inbound entry whose consumer died before acknowledging it, and
handles it once."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from typing import Any

from redis.asyncio import Redis

from dispatch.router import HEARTBEAT_TTL_S
from hub.keys import ROUTER_GROUP, Keys
from hub.settings import Settings
from tests.conftest import DispatcherFactory, HubFactory
from tests.helpers import eventually, submit

# The group's last-delivered id is set beyond any real entry id, so that the hub's own
# consumers are handed nothing new until the test has given the entry to "dead".
FAR_FUTURE_ID = "99999999999999-0"


async def _entries(redis: Redis, stream: str) -> list[tuple[str, dict[str, str]]]:
    found: list[tuple[str, dict[str, str]]] = await redis.xrange(stream)
    return found


async def _only_entry(redis: Redis, stream: str) -> tuple[str, dict[str, Any]]:
    async def probe() -> list[tuple[str, dict[str, str]]] | None:
        return await _entries(redis, stream) or None
    entries = await eventually(probe, what=f"entry in {stream}")
    assert len(entries) == 1, entries
    entry_id, fields = entries[0]
    return entry_id, json.loads(fields["data"])


async def test_an_entry_held_by_a_dead_consumer_is_taken_over_and_handled_once(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings, raw_redis: Redis
) -> None:
    redis, keys = raw_redis, Keys(settings.redis.prefix)
    await redis.xgroup_create(keys.inbound, ROUTER_GROUP, id=FAR_FUTURE_ID, mkstream=True)
    client = await hub()
    agent = await dispatcher(client)
    console = await agent.console()

    receipt = await submit(agent.http, agent.base, "tok-dead-consumer-01")
    entry_id, payload = await _only_entry(redis, keys.inbound)
    assert payload["request_id"] == receipt["id"] and payload["new_request"] is True
    # Durable and queued, but no router has announced it yet.
    assert (await agent.request(receipt["id"]))["status"] == "queued"
    assert not [fields for _, fields in await _entries(redis, keys.events)
                if receipt["id"] in fields["data"]]

    # The consumer "dead" reads the entry and dies. One transaction: no other consumer can
    # read between the rewind and the read.
    async with redis.pipeline(transaction=True) as pipe:
        pipe.xgroup_setid(keys.inbound, ROUTER_GROUP, id="0")
        pipe.xreadgroup(ROUTER_GROUP, "dead", {keys.inbound: ">"}, count=1)
        pipe.xpending(keys.inbound, ROUTER_GROUP)
        _, delivered, pending = await pipe.execute()
    assert delivered[0][1][0][0] == entry_id
    assert pending["pending"] == 1
    assert pending["consumers"] == [{"name": "dead", "pending": 1}]

    # Taken over once idle for reclaim_idle_ms: the console hears of the request.
    events = await console.until(lambda e: e["request"]["id"] == receipt["id"])
    queued = await agent.request(receipt["id"])
    assert queued["lane"] and queued["timings"]["queued_at"]

    # A second passenger's request, routed the ordinary way, marks the end of the events.
    later = await submit(agent.http, agent.base, "tok-dead-consumer-02", phone="0401112222")
    events += await console.until(lambda e: e["request"]["id"] == later["id"])
    mine = [e for e in events if e["request"]["id"] == receipt["id"]]
    assert [e["type"] for e in mine] == ["request.queued"], events
    assert mine[0]["request"]["status"] == "queued"
    assert mine[0]["message_id"] == receipt["message_id"]

    # Acknowledged and deleted just after the event (the automatic answers come between).
    async def settled() -> bool | None:
        pending = (await redis.xpending(keys.inbound, ROUTER_GROUP))["pending"]
        return True if pending == 0 and await _entries(redis, keys.inbound) == [] else None
    await eventually(settled, what="the entries acknowledged and deleted")
    published = [json.loads(fields["data"]) for _, fields in
                 await _entries(redis, keys.events)]
    assert [e["type"] for e in published if e["request"]["id"] == receipt["id"]] == [
        "request.queued"]
    async with agent.http.get(f"{agent.base}/metrics") as resp:
        metrics = await resp.text()
    reclaimed = next(line for line in metrics.splitlines()
                     if line.startswith("taxiconnect_router_reclaimed_total "))
    assert float(reclaimed.split()[1]) == 1


async def test_a_stopped_hub_leaves_the_router_group(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings, raw_redis: Redis
) -> None:
    keys = Keys(settings.redis.prefix)
    client = await hub()
    agent = await dispatcher(client)
    console = await agent.console()
    receipt = await submit(agent.http, agent.base, "tok-leave-group-01")
    await console.until(lambda e: e["request"]["id"] == receipt["id"])  # routed by it
    assert len(await raw_redis.xinfo_consumers(keys.inbound, ROUTER_GROUP)) == 1
    await console.close()
    await client.close()
    assert await raw_redis.xinfo_consumers(keys.inbound, ROUTER_GROUP) == []


async def test_a_dead_consumers_entry_is_taken_over_at_once_but_a_live_ones_is_left(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings, raw_redis: Redis
) -> None:
    """With a heartbeat, a process that dies hands its entries over within seconds, not after
    `reclaim_idle_ms` (here a minute); one that beats keeps its slow work."""
    redis, keys = raw_redis, Keys(settings.redis.prefix)
    await redis.xgroup_create(keys.inbound, ROUTER_GROUP, id=FAR_FUTURE_ID, mkstream=True)
    client = await hub(dataclasses.replace(
        settings, queue=dataclasses.replace(settings.queue, reclaim_idle_ms=60_000)))
    agent = await dispatcher(client)
    console = await agent.console()
    receipt = await submit(agent.http, agent.base, "tok-slow-consumer-01")
    entry_id, _ = await _only_entry(redis, keys.inbound)

    # "slow" reads the entry and keeps beating, as a live process does while it works.
    async with redis.pipeline(transaction=True) as pipe:
        pipe.xgroup_setid(keys.inbound, ROUTER_GROUP, id="0")
        pipe.xreadgroup(ROUTER_GROUP, "slow", {keys.inbound: ">"}, count=1)
        _, delivered = await pipe.execute()
    assert delivered[0][1][0][0] == entry_id
    beating_until = time.monotonic() + 2 * HEARTBEAT_TTL_S
    while time.monotonic() < beating_until:
        await redis.set(keys.router_alive("slow"), "1", ex=HEARTBEAT_TTL_S)
        await asyncio.sleep(0.5)
    pending = await redis.xpending(keys.inbound, ROUTER_GROUP)
    assert pending["consumers"] == [{"name": "slow", "pending": 1}], pending

    # It dies: no more beats. Taken over once its heartbeat lapses, a minute early.
    died = time.monotonic()
    await console.until(lambda e: e["request"]["id"] == receipt["id"],
                        wait_s=HEARTBEAT_TTL_S + 5)
    taken_over_after_s = time.monotonic() - died
    assert taken_over_after_s < HEARTBEAT_TTL_S + 5
    print(f"taken over {taken_over_after_s:.1f} s after the last heartbeat")

    async def left_the_group() -> bool | None:
        names = [c["name"] for c in await redis.xinfo_consumers(keys.inbound, ROUTER_GROUP)]
        return True if "slow" not in names else None
    await eventually(left_the_group, what="the dead consumer removed from the group")
