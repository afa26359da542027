"""A console that reconnects with the last event id it saw gets exactly the events it
missed, from any hub process, then the live ones."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import websockets
from redis.asyncio import Redis

from dispatch.feed import parse_id
from hub.keys import Keys
from hub.sessions import COOKIE_NAME
from hub.settings import Settings
from tests.conftest import DispatcherFactory, HubFactory, server_url
from tests.helpers import WAIT_S, Console, submit


def _ids(events: list[dict[str, Any]]) -> list[str]:
    return [e["id"] for e in events]


async def _collect(console: Console, count: int) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    while len(got) < count:
        got += await console.events()
    return got


async def test_reconnecting_console_gets_exactly_the_missed_events(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings, raw_redis: Redis
) -> None:
    first, second = await hub(), await hub()
    witness = await dispatcher(first)
    dispatcher_b = await dispatcher(first)
    watching = await witness.console()
    leaving = await dispatcher_b.console()

    r1 = await submit(witness.http, witness.base, "tok-resume-00001", phone="0401000001")
    before = await leaving.until(lambda e: e["request"]["id"] == r1["id"])
    await watching.until(lambda e: e["request"]["id"] == r1["id"])
    last_seen = before[-1]["id"]
    await leaving.close()

    # While the console is away: three new requests and two claims, on both processes.
    missed_requests = [
        await submit(witness.http, server_url(second), f"tok-resume-0000{n}",
                     phone=f"040100000{n}")
        for n in (2, 3, 4)
    ]
    async with witness.http.post(
            f"{server_url(second)}/api/v1/requests/{r1['id']}/claim") as resp:
        assert resp.status == 200
    async with dispatcher_b.http.post(
            f"{witness.base}/api/v1/requests/{missed_requests[0]['id']}/claim") as resp:
        assert resp.status == 200
    missed = await _collect(watching, 5)
    assert len(missed) == 5, missed
    assert sorted(e["type"] for e in missed) == ["request.claim"] * 2 + ["request.queued"] * 3

    back = await dispatcher_b.console(server_url(second), last_event_id=last_seen)
    assert back.hello["last_event_id"] == last_seen
    replayed = await _collect(back, 5)
    assert _ids(replayed) == _ids(missed)
    assert replayed == missed  # the same events, byte for byte after decoding
    orders = [parse_id(i) for i in [last_seen, *_ids(replayed)]]
    assert orders == sorted(set(orders))  # strictly increasing: no repeat, nothing older

    keys = Keys(settings.redis.prefix)
    stored = await raw_redis.xrange(keys.events, min=f"({last_seen}")
    assert [entry_id for entry_id, _ in stored] == _ids(replayed)
    assert [json.loads(f["data"])["type"] for _, f in stored] == [e["type"] for e in replayed]

    # Live again: the next event comes once, right after the replay.
    r5 = await submit(witness.http, witness.base, "tok-resume-00005", phone="0401000005")
    live = await back.events()
    assert [(e["type"], e["request"]["id"]) for e in live] == [("request.queued", r5["id"])]
    assert parse_id(live[0]["id"]) > parse_id(replayed[-1]["id"])
    assert await watching.events() == live


async def test_console_resuming_from_an_unknown_future_id_is_told_to_resync(
    hub: HubFactory, dispatcher: DispatcherFactory
) -> None:
    client = await hub()
    agent = await dispatcher(client)
    live = await agent.console()
    await submit(agent.http, agent.base, "tok-resync-00001")
    newest = (await live.events())[0]["id"]
    ws = await agent.http.ws_connect(
        f"{agent.base}/api/v1/console/ws?last_event_id=99999999999999-0")
    try:
        frame = json.loads((await ws.receive(timeout=10)).data)
    finally:
        await ws.close()
    assert frame == {"type": "resync", "last_event_id": newest}


async def test_console_refuses_a_malformed_last_event_id(
    hub: HubFactory, dispatcher: DispatcherFactory
) -> None:
    agent = await dispatcher(await hub())
    async with agent.http.get(f"{agent.base}/api/v1/console/ws",
                              params={"last_event_id": "x;DROP"}) as resp:
        assert resp.status == 400
        assert "last_event_id" in (await resp.json())["error"]


async def test_every_console_gets_every_event_once_in_order_through_a_burst(
    hub: HubFactory, dispatcher: DispatcherFactory
) -> None:
    """The feed writes a batch's frame straight onto each up-to-date console's socket and
    queues it for one that is busy (replaying, or slow): through a burst of concurrent
    contacts, and a console joining in the middle of it from an event id, every console
    (read by aiohttp and by the `websockets` library alike) has each event once, in order."""
    client = await hub()
    agent = await dispatcher(client)
    consoles = [await agent.console() for _ in range(3)]
    cookie = next(c for c in agent.http.cookie_jar if c.key == COOKIE_NAME)
    url = agent.base.replace("http://", "ws://") + "/api/v1/console/ws"
    async with websockets.connect(url, additional_headers={
            "Cookie": f"{COOKIE_NAME}={cookie.value}"}) as independent:
        assert json.loads(await independent.recv())["type"] == "hello"
        first = await submit(agent.http, agent.base, "tok-burst-000", phone="0402000000")
        seen = await consoles[0].until(lambda e: e["request"]["id"] == first["id"])
        burst = [asyncio.create_task(submit(agent.http, agent.base, f"tok-burst-{n:03d}",
                                            phone=f"0402000{n:03d}")) for n in range(1, 41)]
        await asyncio.sleep(0.05)
        joining = await agent.console(last_event_id=seen[-1]["id"])
        wanted = {first["id"], *[r["id"] for r in await asyncio.gather(*burst)]}

        async def queued_by(console: Console, got: list[dict[str, Any]],
                            want: set[str]) -> list[dict[str, Any]]:
            while {e["request"]["id"] for e in got} < want:
                got += await console.events()
            return got

        async def queued_by_independent() -> list[dict[str, Any]]:
            got: list[dict[str, Any]] = []
            while {e["request"]["id"] for e in got} < wanted:
                decoded = json.loads(await asyncio.wait_for(independent.recv(), WAIT_S))
                assert decoded["type"] == "events", decoded
                got += decoded["events"]
            return got

        everyone = [*await asyncio.gather(queued_by(consoles[0], list(seen), wanted),
                                          *(queued_by(c, [], wanted) for c in consoles[1:])),
                    await queued_by_independent()]
        joined = await queued_by(joining, [], wanted - {first["id"]})
    for events in everyone:
        assert _ids(events) == _ids(everyone[0])  # the same events, in the same order
        orders = [parse_id(i) for i in _ids(events)]
        assert orders == sorted(set(orders))
        assert sorted(e["request"]["id"] for e in events) == sorted(wanted)
    after_first = [e for e in everyone[0] if parse_id(e["id"]) > parse_id(seen[-1]["id"])]
    assert _ids(joined) == _ids(after_first)
    assert len(after_first) == len(wanted) - 1
