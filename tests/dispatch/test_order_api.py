"""A dispatcher's "Send order", through POST /api/v1/requests/{id}/order: the order reaches a
local receiver once, signed, as the webhook order.ready; the request's history and the audit
trail say who sent it; GET .../order tells whether it was delivered. Refused with a reason
when nothing could be sent (no endpoint takes orders, or the request has no order)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import jsonschema
import pytest

from hub.model import Role
from hub.settings import Settings
from tests.conftest import DispatcherFactory, HubFactory, server_url
from tests.helpers import Dispatcher, eventually
from tests.hub.test_webhooks import (
    SECRET,
    SETTLE_S,
    Receiver,
    form_post,
    hooked,
    pickup_time,
    signed_by,
)


@pytest.fixture
async def sink() -> AsyncIterator[Receiver]:
    found = Receiver()
    await found.start()
    yield found
    await found.stop()


async def _call(agent: Dispatcher, method: str, request_id: str) -> tuple[int, Any]:
    async with agent.http.request(method, f"{agent.base}/api/v1/requests/{request_id}/order"
                                  ) as resp:
        return resp.status, await resp.json()


async def _arrivals(sink: Receiver, count: int) -> None:
    async def probe() -> int | None:
        return len(sink.arrivals) if len(sink.arrivals) >= count else None
    await eventually(probe, what=f"{count} webhook arrivals")


async def _fits(agent: Dispatcher, method: str, status: int, body: Any) -> None:
    """`body` fits what the served OpenAPI documents for this answer."""
    async with agent.http.get(f"{agent.base}/api/openapi.json") as resp:
        spec = await resp.json()
    answer = spec["paths"]["/api/v1/requests/{request_id}/order"][method]["responses"]
    schema = answer[str(status)]["content"]["application/json"]["schema"]
    jsonschema.validate(body, {**schema, "components": spec["components"]},
                        cls=jsonschema.Draft202012Validator)


async def _newest(agent: Dispatcher) -> dict[str, Any]:
    async with agent.http.get(f"{agent.base}/api/v1/requests?status=queued&order=newest"
                              "&limit=1") as resp:
        found: dict[str, Any] = (await resp.json())["requests"][0]
        return found


async def test_send_order_delivers_it_once_signed_and_the_console_can_see_it_delivered(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings, sink: Receiver
) -> None:
    client = await hub(hooked(settings, sink.url, events=("order.ready",)))
    agent = await dispatcher(client, name="Aino Välittäjä")
    admin = await dispatcher(client, role=Role.ADMIN)
    await form_post(client, "order-send-1", pickup_address="Mannerheimintie 1, Helsinki",
                    pickup_time=pickup_time(), destination="Lentoasema", passengers="2")
    request_id = (await _newest(agent))["id"]
    await _arrivals(sink, 1)  # the new request's own order.ready

    status, sent = await _call(agent, "POST", request_id)
    assert status == 202, sent
    assert sent["endpoints"] == ["dispatch"] and sent["request"]["id"] == request_id
    await _fits(agent, "post", 202, sent)
    await _arrivals(sink, 2)
    await asyncio.sleep(SETTLE_S)
    assert len(sink.arrivals) == 2  # exactly once
    arrival = sink.arrivals[1]
    assert signed_by(SECRET, arrival.body, arrival.headers["X-TaxiConnect-Signature"])
    assert arrival.headers["Idempotency-Key"] == sent["event_id"]
    event = arrival.event
    assert (event["type"], event["id"]) == ("order.ready", sent["event_id"])
    assert event["id"] != sink.arrivals[0].event["id"]  # a press is an event of its own
    assert event["order"]["pickup_address"] == "Mannerheimintie 1, Helsinki"
    assert event["order"]["passengers"] == 2
    assert event["request"]["version"] == sent["request"]["version"]

    async def delivered() -> list[dict[str, Any]] | None:
        status, answer = await _call(agent, "GET", request_id)
        assert status == 200, answer
        assert answer["endpoints"] == ["dispatch"]
        rows: list[dict[str, Any]] = answer["deliveries"]
        return rows if rows and rows[0]["state"] == "delivered" else None
    rows = await eventually(delivered, what="the order delivered in the log")
    await _fits(agent, "get", 200, (await _call(agent, "GET", request_id))[1])
    assert [row["event_id"] for row in rows] == [sent["event_id"],
                                                 sink.arrivals[0].event["id"]]
    assert rows[0]["reference"] == sent["request"]["reference"]
    assert (rows[0]["attempts"], rows[0]["last_status"]) == (1, 200)

    history = (await agent.request(request_id))["history"]
    assert [(h["action"], h["agent"]["name"]) for h in history] == [
        ("order", "Aino Välittäjä")]
    async with admin.http.get(f"{admin.base}/api/v1/admin/audit?action=request.order"
                              ) as resp:
        entries = (await resp.json())["entries"]
    assert [(e["subject"], e["agent_id"]) for e in entries] == [
        (request_id, str(agent.agent.id))]
    assert entries[0]["detail"] == {"event_id": sent["event_id"], "endpoints": ["dispatch"]}


async def test_send_order_is_refused_with_a_reason_when_nothing_can_be_sent(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings, sink: Receiver
) -> None:
    client = await hub(hooked(settings, sink.url, events=("order.ready",)))
    agent = await dispatcher(client)
    external = await dispatcher(client, role=Role.EXTERNAL)
    await form_post(client, "order-none-1", message="Unohdin laukun autoon")
    plain = (await _newest(agent))["id"]

    status, answer = await _call(agent, "POST", plain)
    assert status == 409 and answer["code"] == "no_order", answer
    await _fits(agent, "post", 409, answer)
    assert "pickup address" in answer["error"]
    for unknown in (str(uuid.uuid4()), "not-an-id"):
        assert (await _call(agent, "POST", unknown))[0] == 404
        assert (await _call(agent, "GET", unknown))[0] == 404
    # An external user sees only the requests they hold.
    assert (await _call(external, "POST", plain))[0] == 404
    async with aiohttp.ClientSession() as stranger, stranger.post(
            f"{server_url(client)}/api/v1/requests/{plain}/order") as refused:
        assert refused.status == 401
    assert (await agent.request(plain))["history"] == []
    await asyncio.sleep(SETTLE_S)
    assert sink.arrivals == []


async def test_send_order_without_an_endpoint_taking_orders_is_refused(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings, sink: Receiver
) -> None:
    client = await hub(hooked(settings, sink.url, events=("request.created",)))
    agent = await dispatcher(client)
    await form_post(client, "order-noend-1", pickup_address="Kampinkuja 2, Helsinki",
                    pickup_time=pickup_time())
    request_id = (await _newest(agent))["id"]
    status, answer = await _call(agent, "POST", request_id)
    assert status == 409 and answer["code"] == "no_endpoint", answer
    assert "order.ready" in answer["error"]
    assert await _call(agent, "GET", request_id) == (200, {"endpoints": [], "deliveries": []})
    assert (await agent.request(request_id))["history"] == []
