"""Text no database can hold is refused at the door with a reason, never a 500; pages carry
a content security policy."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from hub.keys import ROUTER_GROUP, Keys
from hub.settings import Settings
from tests.conftest import DispatcherFactory, HubFactory
from tests.helpers import eventually, submit


async def test_note_with_a_nul_is_refused_and_the_request_still_takes_notes(
    hub: HubFactory, dispatcher: DispatcherFactory
) -> None:
    client = await hub()
    agent = await dispatcher(client)
    receipt = await submit(agent.http, agent.base, "edge-note-0001")
    url = f"{agent.base}/api/v1/requests/{receipt['id']}/notes"
    async with agent.http.post(url, json={"text": "bad\u0000note"}) as response:
        assert response.status == 422
        body: dict[str, Any] = await response.json()
        assert body["fields"] == {"text": "invalid_characters"}
    async with agent.http.post(url, json={"text": "Soitettu takaisin"}) as response:
        assert response.status == 200
    history = (await agent.request(receipt["id"]))["history"]
    assert [event["note"] for event in history] == ["Soitettu takaisin"]


async def test_login_with_a_lone_surrogate_is_a_plain_401(
    hub: HubFactory, dispatcher: DispatcherFactory
) -> None:
    client = await hub()
    response = await client.post(
        "/api/v1/auth/login", data=b'{"login": "aino\\ud800", "password": "x"}',
        headers={"Content-Type": "application/json"})
    assert response.status == 401
    assert (await client.get("/readyz")).status == 200


async def test_console_and_form_pages_forbid_foreign_scripts(hub: HubFactory) -> None:
    client = await hub()
    for path in ("/console", "/form"):
        response = await client.get(path)
        assert response.status == 200
        policy = response.headers["Content-Security-Policy"]
        assert "default-src 'self'" in policy
        assert "object-src 'none'" in policy
    assert "frame-ancestors 'none'" in (await client.get("/console")).headers[
        "Content-Security-Policy"]


async def test_a_change_from_a_foreign_page_is_refused(
    hub: HubFactory, dispatcher: DispatcherFactory
) -> None:
    client = await hub()
    agent = await dispatcher(client)
    receipt = await submit(agent.http, agent.base, "edge-csrf-0001")
    claim = f"{agent.base}/api/v1/requests/{receipt['id']}/claim"
    async with agent.http.post(claim, headers={"Origin": "https://evil.example"}) as response:
        assert response.status == 403
    assert (await agent.request(receipt["id"]))["status"] == "queued"
    async with agent.http.post(claim, headers={"Origin": agent.base}) as response:
        assert response.status == 200


async def test_a_malformed_inbound_entry_is_dropped_and_routing_goes_on(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings, raw_redis: Redis
) -> None:
    keys = Keys(settings.redis.prefix)
    client = await hub()
    agent = await dispatcher(client)
    console = await agent.console()
    await raw_redis.xadd(keys.inbound, {"data": "not json"})
    await raw_redis.xadd(keys.inbound, {"data": '{"request_id": "nope"}'})
    receipt = await submit(agent.http, agent.base, "edge-router-0001")
    events = await console.until(lambda e: e["request"]["id"] == receipt["id"])
    assert [e["type"] for e in events] == ["request.queued"]

    async def acknowledged() -> bool | None:  # just after the event is published
        return (await raw_redis.xpending(keys.inbound, ROUTER_GROUP))["pending"] == 0 or None
    await eventually(acknowledged, what="every entry acknowledged")
