"""The hub on a real 3-master Redis Cluster: contacts reach the queue and the consoles,
claims stay exclusive, a console resumes from its last event id, and presence crosses
processes by pub/sub; all through HTTP and the console websocket, on two hub processes.
And the hub on Redis Sentinel, carrying on across a failover.

The cluster (tests.redis_cluster) is started once per xdist worker, on free loopback ports,
with the machine's redis-server; every test has its own key prefix (tests.conftest), which
the hub tags ("{t1a2b...}:") because the URL says cluster.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from redis.asyncio.cluster import RedisCluster

from dispatch.feed import parse_id
from hub.keys import Keys, has_hash_tag, hash_tagged
from hub.redis_client import parse_server_list
from hub.settings import RedisSettings, Secret, Settings, load_settings
from tests.conftest import DispatcherFactory, HubFactory, server_url
from tests.helpers import WAIT_S, Console, Dispatcher, eventually, http_session, submit
from tests.redis_cluster import LocalCluster, LocalSentinel, find_redis


def require_redis_server() -> None:
    """Cluster tests run wherever redis-server is; in CI its absence is a failure."""
    if find_redis() is not None:
        return
    if os.environ.get("CI"):
        pytest.fail("redis-server / redis-cli not found; CI must install redis-server")
    pytest.skip("redis-server / redis-cli not found (apt-get install redis-server)")


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[LocalCluster]:
    """One 3-master cluster per xdist worker (each worker is a session of its own)."""
    require_redis_server()
    with LocalCluster() as cluster:
        yield cluster


@pytest.fixture
def redis_url(redis_cluster: LocalCluster) -> str:
    """Points tests.conftest's `settings` (and so every hub of the test) at the cluster."""
    return redis_cluster.url


@pytest.fixture
async def cluster_client(redis_cluster: LocalCluster) -> AsyncIterator[RedisCluster]:
    """A plain cluster client, seeing what an operator's `redis-cli -c` would."""
    client = RedisCluster.from_url(redis_cluster.node_urls[0], decode_responses=True)
    yield client
    await client.aclose()


async def _form(base: str, token: str, phone: str) -> str:
    """A passenger's form-encoded order on the hosted form; its page names the reference."""
    async with http_session() as http, http.post(f"{base}/form", data={
        "name": "Aino", "phone": phone, "message": "Taksi Kamppiin",
        "submission_token": token, "language": "fi"}) as resp:
        assert resp.status == 201, await resp.text()
        return await resp.text()


async def _claim(agent: Dispatcher, base: str, request_id: str) -> tuple[int, Any]:
    async with agent.http.post(f"{base}/api/v1/requests/{request_id}/claim") as resp:
        return resp.status, await resp.json()


async def _collect(console: Console, count: int) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    while len(got) < count:
        got += await console.events()
    return got


def _ids(events: list[dict[str, Any]]) -> list[str]:
    return [e["id"] for e in events]


async def test_form_contact_reaches_the_queue_and_every_console(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings,
    cluster_client: RedisCluster,
) -> None:
    assert settings.redis.cluster and has_hash_tag(settings.redis.prefix)
    first, second = await hub(), await hub()
    anna, ben = await dispatcher(first), await dispatcher(second)
    consoles = [await anna.console(), await ben.console()]

    page = await _form(server_url(second), "tok-cluster-form-01", "040 765 4321")

    for console in consoles:
        events = await console.events()
        assert [e["type"] for e in events] == ["request.queued"], events
        request = events[0]["request"]
        assert request["contact"]["phones"] == ["+358407654321"]
        assert request["reference"] in page
    queued = await anna.wait_for_status(request["id"], "queued")
    assert queued["preview"] == "Taksi Kamppiin"
    assert [r["id"] for r in await ben.open_requests()] == [request["id"]]

    # The hub's keys live on the cluster, all in the slot of the prefix's tag.
    keys = Keys(settings.redis.prefix)
    slots = {cluster_client.keyslot(k) for k in (keys.inbound, keys.events, keys.outbound,
                                                   keys.consoles_online, keys.published("x"))}
    assert len(slots) == 1
    assert await cluster_client.xlen(keys.events) == 1
    # Routed, acknowledged and deleted: nothing left for another consumer.
    assert await cluster_client.xlen(keys.inbound) == 0


async def test_claim_by_two_dispatchers_has_one_winner(
    hub: HubFactory, dispatcher: DispatcherFactory
) -> None:
    first, second = await hub(), await hub()
    bases = [server_url(first), server_url(second)]
    anna, ben = await dispatcher(first, name="Anna"), await dispatcher(second, name="Ben")
    receipt = await submit(anna.http, bases[0], "tok-cluster-claim-01")
    await anna.wait_for_status(receipt["id"], "queued")

    answers = await asyncio.wait_for(asyncio.gather(
        _claim(anna, bases[0], receipt["id"]), _claim(ben, bases[1], receipt["id"])), WAIT_S)

    assert sorted(status for status, _ in answers) == [200, 409], answers
    winner = anna if answers[0][0] == 200 else ben
    holder = {"id": str(winner.agent.id), "name": winner.agent.name}
    lost = next(body for status, body in answers if status == 409)
    assert lost["held_by"] == holder and lost["status"] == "claimed"
    for base in bases:
        found = await anna.request(receipt["id"], base)
        assert found["assigned_agent"] == holder
        assert [h["action"] for h in found["history"]] == ["claim"]


async def test_console_resumes_from_its_last_event_id(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings,
    cluster_client: RedisCluster,
) -> None:
    first, second = await hub(), await hub()
    witness, leaver = await dispatcher(first), await dispatcher(first)
    watching, leaving = await witness.console(), await leaver.console()

    r1 = await submit(witness.http, witness.base, "tok-cluster-resume-1", phone="0401000001")
    before = await leaving.until(lambda e: e["request"]["id"] == r1["id"])
    await watching.until(lambda e: e["request"]["id"] == r1["id"])
    last_seen = before[-1]["id"]
    await leaving.close()

    # While the console is away: new requests and a claim, on both processes.
    missed_requests = [
        await submit(witness.http, server_url(second), f"tok-cluster-resume-{n}",
                     phone=f"040100000{n}")
        for n in (2, 3, 4)
    ]
    status, _ = await _claim(witness, server_url(second), r1["id"])
    assert status == 200
    missed = await _collect(watching, 4)
    assert sorted(e["type"] for e in missed) == ["request.claim"] + ["request.queued"] * 3
    assert {e["request"]["id"] for e in missed} == {r1["id"], *(r["id"] for r in
                                                                missed_requests)}

    back = await leaver.console(server_url(second), last_event_id=last_seen)
    assert back.hello["last_event_id"] == last_seen
    replayed = await _collect(back, 4)
    assert replayed == missed  # the same events in the same order: no gap, no repeat
    orders = [parse_id(i) for i in [last_seen, *_ids(replayed)]]
    assert orders == sorted(set(orders))
    stored = await cluster_client.xrange(Keys(settings.redis.prefix).events,
                                         min=f"({last_seen}")
    assert [entry_id for entry_id, _ in stored] == _ids(replayed)

    # Live again: the next event arrives once, after the replay, on both consoles.
    r5 = await submit(witness.http, witness.base, "tok-cluster-resume-5", phone="0401000005")
    live = await back.events()
    assert [(e["type"], e["request"]["id"]) for e in live] == [("request.queued", r5["id"])]
    assert parse_id(live[0]["id"]) > parse_id(replayed[-1]["id"])
    assert await watching.events() == live


async def test_presence_crosses_processes_by_pub_sub(
    hub: HubFactory, dispatcher: DispatcherFactory
) -> None:
    first, second = await hub(), await hub()
    ben, anna = await dispatcher(first, name="Ben"), await dispatcher(second, name="Anna")
    ws = await ben.http.ws_connect(f"{ben.base}/api/v1/console/ws",
                                   protocols=("taxiconnect.presence",))
    watcher = Console(ws, json.loads((await asyncio.wait_for(ws.receive(), WAIT_S)).data))
    ben.consoles.append(watcher)

    async def presence_of_anna(online: bool) -> dict[str, Any]:
        while True:
            frame = await watcher.frame()
            event = frame.get("event", {})
            if frame["type"] == "presence" and event["agent"]["id"] == str(anna.agent.id) \
                    and event["online"] is online:
                return dict(event)

    arriving = await anna.console(server_url(second))
    came = await asyncio.wait_for(presence_of_anna(True), WAIT_S)
    assert came["state"] == "available"
    await arriving.close()
    gone = await asyncio.wait_for(presence_of_anna(False), WAIT_S)
    assert gone["state"] == "offline"

    async def listed_offline() -> bool | None:
        async with ben.http.get(f"{ben.base}/api/v1/presence") as resp:
            entries = {e["agent"]["id"]: e for e in (await resp.json())["agents"]}
        return True if entries[str(anna.agent.id)]["online"] is False else None
    await eventually(listed_offline, what="Anna listed offline")


@pytest.fixture
def redis_sentinel() -> Iterator[LocalSentinel]:
    """A master, a replica and a Sentinel of this test's own (a failover changes them)."""
    require_redis_server()
    with LocalSentinel() as sentinel:
        yield sentinel


async def test_hub_on_sentinel_carries_on_after_a_failover(
    redis_sentinel: LocalSentinel,  # first: stopped after the hubs
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings,
) -> None:
    on_sentinel = dataclasses.replace(settings, redis=RedisSettings(
        url=Secret(redis_sentinel.url), prefix=settings.redis.prefix))
    first, second = await hub(on_sentinel), await hub(on_sentinel)
    anna, ben = await dispatcher(first), await dispatcher(second)
    console = await anna.console()
    before = await submit(ben.http, ben.base, "tok-sentinel-before", phone="0401000011")
    assert [e["request"]["id"] for e in await console.events()] == [before["id"]]

    old_master = redis_sentinel.master()
    assert await asyncio.to_thread(redis_sentinel.failover) != old_master

    # The same console, on the new master: a request made after the failover reaches it,
    # and a claim is still exclusive.
    async def accepted() -> dict[str, Any] | None:
        async with ben.http.post(f"{ben.base}/api/v1/contact-requests", json={
                "name": "Aino", "phone": "0401000012", "message": "Taksi Kamppiin",
                "submission_token": "tok-sentinel-after"}) as resp:
            return dict(await resp.json()) if resp.status in (200, 201) else None
    after = await eventually(accepted, what="a contact accepted after the failover")
    await console.until(lambda e: e["request"]["id"] == after["id"])
    answers = await asyncio.gather(_claim(anna, anna.base, after["id"]),
                                   _claim(ben, ben.base, after["id"]))
    assert sorted(status for status, _ in answers) == [200, 409], answers


def test_cluster_url_tags_the_prefix_and_names_every_node() -> None:
    url = "redis+cluster://:s%40cret@10.0.0.1:7000,10.0.0.2,[::1]:7002"
    redis = load_settings(None, environ={"TAXICONNECT_REDIS_URL": url}).redis
    assert (redis.cluster, redis.sentinel, redis.prefix) == (True, False, "{tc}:")
    tagged = load_settings(None, environ={"TAXICONNECT_REDIS_URL": url,
                                          "TAXICONNECT_REDIS_PREFIX": "{tc}[2]:"}).redis
    assert tagged.prefix == "{tc}[2]:"  # a tag of the operator's own is kept
    plain = load_settings(None, environ={"TAXICONNECT_REDIS_URL": "redis://10.0.0.1"}).redis
    assert (plain.cluster, plain.prefix) == (False, "tc:")
    assert hash_tagged("t1a2b:") == "{t1a2b}:" and hash_tagged("") == "{tc}:"
    assert not has_hash_tag("a{}b:") and has_hash_tag("a{b}:")

    parts = parse_server_list(url, 6379)
    assert parts.hosts == [("10.0.0.1", 7000), ("10.0.0.2", 6379), ("::1", 7002)]
    assert (parts.username, parts.password, parts.path, parts.tls) == (None, "s@cret", [],
                                                                       False)
    sentinel = parse_server_list("rediss+sentinel://u:p@s1,s2:26380/main/3", 26379)
    assert sentinel.hosts == [("s1", 26379), ("s2", 26380)]
    assert (sentinel.username, sentinel.path, sentinel.tls) == ("u", ["main", "3"], True)
