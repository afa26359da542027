"""Outbound webhooks, end to end: requests made through the real web form, claimed and
resolved through the dispatcher API, delivered to a local receiver over HTTP; the delivery
log read through the admin API. The signature is checked here by code written apart from
the hub's, and the worked example receiver (examples/webhook_receiver.py) is run as a
receiver of its own across a hub restart.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import importlib.util
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import jsonschema
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis

from hub.model import Role
from hub.settings import (
    ChannelsSettings,
    HttpSettings,
    Secret,
    Settings,
    SmsSettings,
    TwilioSettings,
    WebhookEndpoint,
    WebhooksSettings,
)
from tests.conftest import DispatcherFactory, HubFactory, free_port
from tests.gateways import TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, FakeTwilio
from tests.helpers import Dispatcher, eventually

SECRET = "whsec-test-receiver-secret"
SETTLE_S = 1.0  # after the expected events arrived, how long a repeat would have to show
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "webhook_receiver.py"


def signed_by(secret: str, body: bytes, header: str) -> bool:
    """The X-TaxiConnect-Signature check, written out apart from hub.signature."""
    parts = dict(item.split("=", 1) for item in header.split(","))
    if abs(time.time() - int(parts["t"])) > 300:
        return False
    expected = hmac.new(secret.encode(), parts["t"].encode() + b"." + body,
                        hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["v1"])


@dataclasses.dataclass
class Arrival:
    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> dict[str, Any]:
        found: dict[str, Any] = json.loads(self.body)
        return found


class Receiver:
    """A local HTTP receiver: records every POST, answers each in turn from `script` (a
    status), then 200."""

    def __init__(self, script: list[int] | None = None) -> None:
        self.script = list(script or [])
        self.arrivals: list[Arrival] = []
        self.port = free_port()
        self._server: TestServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks?token=secret-in-query"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hooks", self._post)
        self._server = TestServer(app, host="127.0.0.1", port=self.port)
        await self._server.start_server()

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.close()
            self._server = None

    async def _post(self, request: web.Request) -> web.Response:
        self.arrivals.append(Arrival(dict(request.headers), await request.read()))
        return web.Response(status=self.script.pop(0) if self.script else 200)


@pytest.fixture
async def receiver() -> AsyncIterator[Callable[..., Awaitable[Receiver]]]:
    made: list[Receiver] = []

    async def make(script: list[int] | None = None) -> Receiver:
        found = Receiver(script)
        made.append(found)
        await found.start()
        return found

    yield make
    for found in made:
        await found.stop()


def hooked(settings: Settings, url: str, events: tuple[str, ...] | None = None, *,
           reclaim_idle_ms: int = 1000) -> Settings:
    endpoint = WebhookEndpoint(name="dispatch", url=url, secret=Secret(SECRET),
                               **({"events": events} if events else {}))
    return dataclasses.replace(settings, webhooks=WebhooksSettings(
        endpoints=(endpoint,), max_attempts=50, backoff_base_s=0.05, backoff_max_s=0.3,
        timeout_s=5.0, reclaim_idle_ms=reclaim_idle_ms))


def pickup_time() -> str:
    return (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0).isoformat()


async def form_post(client: TestClient[Any, Any], token: str, **fields: str) -> None:
    async with client.post("/form", data={
            "name": "Aino Virtanen", "phone": "040 765 4321", "message": "Taksi Kamppiin",
            "submission_token": token, **fields}) as response:
        assert response.status == 201, await response.text()


async def act(agent: Dispatcher, request_id: str, action: str) -> None:
    async with agent.http.post(f"{agent.base}/api/v1/requests/{request_id}/{action}") as resp:
        assert resp.status == 200, await resp.text()


def by_type(events: list[dict[str, Any]], request_id: str) -> dict[str, dict[str, Any]]:
    return {e["type"]: e for e in events if e["request"]["id"] == request_id}


async def arrived(receiver: Receiver, count: int) -> list[Arrival]:
    async def probe() -> list[Arrival] | None:
        return list(receiver.arrivals) if len(receiver.arrivals) >= count else None
    found = await eventually(probe, what=f"{count} webhook arrivals")
    await asyncio.sleep(SETTLE_S)
    return found


async def deliveries(agent: Dispatcher, **query: str) -> tuple[int, dict[str, Any]]:
    async with agent.http.get(f"{agent.base}/api/v1/admin/webhooks/deliveries",
                              params=query) as resp:
        return resp.status, await resp.json()


async def documented(client: TestClient[Any, Any], name: str) -> Callable[[Any], None]:
    """A check that a document fits the served OpenAPI's schema `name`."""
    async with client.get("/api/openapi.json") as resp:
        spec = await resp.json()

    def check(document: Any) -> None:
        jsonschema.validate(document, {"$ref": f"#/components/schemas/{name}",
                                       "components": spec["components"]},
                            cls=jsonschema.Draft202012Validator)
    return check


def assert_logs_keep_it_private(caplog: pytest.LogCaptureFixture) -> None:
    """The hub's log lines name no secret, no URL query and no passenger's data (the
    receivers' own access log lines, which show their URL, are not the hub's)."""
    hub_lines = "\n".join(r.getMessage() for r in caplog.records if r.name != "aiohttp.access")
    assert "webhook" in hub_lines
    for private in (SECRET, "secret-in-query", "Virtanen", "Heino", "Mannerheimintie",
                    "4321"):
        assert private not in hub_lines


async def test_each_event_arrives_once_signed_with_the_order_only_in_order_ready(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings,
    receiver: Callable[..., Awaitable[Receiver]], caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    sink = await receiver()
    client = await hub(hooked(settings, sink.url))
    agent = await dispatcher(client)
    await form_post(client, "hooks-order-1", pickup_address="Mannerheimintie 1, Helsinki",
                    pickup_time=pickup_time(), destination="Lentoasema", passengers="2")
    await form_post(client, "hooks-plain-1", message="Unohdin laukun autoon",
                    name="Eero Heino", phone="050 111 2233")
    first = await arrived(sink, 3)
    ordered = next(a.event["request"]["id"] for a in first if a.event["type"] == "order.ready")
    await act(agent, ordered, "claim")
    await act(agent, ordered, "resolve")
    arrivals = await arrived(sink, 5)

    assert len(arrivals) == 5, [a.event["type"] for a in arrivals]
    ids = [a.event["id"] for a in arrivals]
    assert len(set(ids)) == 5
    for arrival in arrivals:
        headers = arrival.headers
        assert signed_by(SECRET, arrival.body, headers["X-TaxiConnect-Signature"])
        assert headers["Idempotency-Key"] == headers["X-TaxiConnect-Event-Id"] \
            == arrival.event["id"]
        assert headers["Content-Type"] == "application/json"
        assert arrival.event["version"] == 1
    events = [a.event for a in arrivals]
    mine = by_type(events, ordered)
    assert set(mine) == {"request.created", "order.ready", "request.claimed",
                         "request.resolved"}
    ready = mine["order.ready"]
    assert ready["passenger"] == {"name": "Aino Virtanen", "phone": "+358407654321"}
    assert ready["order"]["pickup_address"] == "Mannerheimintie 1, Helsinki"
    assert ready["order"]["destination"] == "Lentoasema"
    assert ready["order"]["passengers"] == 2
    assert ready["request"]["channel"] == "webform"
    assert ready["request"]["reference"]
    assert mine["request.claimed"]["request"]["status"] == "claimed"
    assert mine["request.resolved"]["request"]["status"] == "resolved"
    assert mine["request.resolved"]["request"]["timings"]["ended_at"]
    for arrival in arrivals:
        if arrival.event["type"] != "order.ready":
            assert "passenger" not in arrival.event and "order" not in arrival.event
            assert b"Virtanen" not in arrival.body and b"Mannerheimintie" not in arrival.body
    plain = [e for e in events if e["request"]["id"] != ordered]
    assert [e["type"] for e in plain] == ["request.created"]
    fits = await documented(client, "WebhookBody")
    for found in events:
        fits(found)
    assert_logs_keep_it_private(caplog)


async def test_a_receiver_failing_twice_gets_the_event_on_the_third_attempt_and_the_log_shows_it(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings,
    receiver: Callable[..., Awaitable[Receiver]],
) -> None:
    sink = await receiver([500, 500])
    client = await hub(hooked(settings, sink.url, events=("request.created",)))
    admin = await dispatcher(client, role=Role.ADMIN)
    team = await dispatcher(client)
    await form_post(client, "hooks-retry-1")
    arrivals = await arrived(sink, 3)

    assert len(arrivals) == 3
    assert len({a.event["id"] for a in arrivals}) == 1  # the same event, three times
    assert all(signed_by(SECRET, a.body, a.headers["X-TaxiConnect-Signature"])
               for a in arrivals)

    status, answer = await deliveries(admin)
    assert status == 200, answer
    (await documented(client, "DeliveryPage"))(answer)
    [row] = answer["deliveries"]
    assert row["event_id"] == arrivals[0].event["id"]
    assert row["endpoint"] == "dispatch" and row["event_type"] == "request.created"
    assert (row["state"], row["attempts"], row["last_status"]) == ("delivered", 3, 200)
    assert row["next_attempt_at"] is None  # due only while failing
    assert row["finished_at"] and row["created_at"]
    assert "body" not in row and "url" not in json.dumps(row)

    async with client.get("/metrics") as resp:
        metrics = await resp.text()
    assert "taxiconnect_webhooks_delivered_total 1.0" in metrics
    assert "taxiconnect_webhooks_retried_total 2.0" in metrics
    assert "taxiconnect_webhooks_failed_total 0.0" in metrics

    status, answer = await deliveries(team)
    assert status == 403, answer
    async with client.get("/api/v1/admin/webhooks/deliveries") as resp:
        assert resp.status == 401


async def test_a_refusing_receiver_is_not_retried_and_the_log_pages_newest_first(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings,
    receiver: Callable[..., Awaitable[Receiver]],
) -> None:
    sink = await receiver([400])
    client = await hub(hooked(settings, sink.url, events=("request.created",)))
    admin = await dispatcher(client, role=Role.ADMIN)
    for n in range(3):
        await form_post(client, f"hooks-page-{n}", phone=f"050 111 223{n}")
    await arrived(sink, 3)
    assert len(sink.arrivals) == 3  # the refused one was not sent again

    status, first = await deliveries(admin, limit="2")
    assert status == 200, first
    status, rest = await deliveries(admin, limit="2", before=str(first["next_before"]))
    rows = first["deliveries"] + rest["deliveries"]
    assert rest["next_before"] is None
    assert [r["seq"] for r in rows] == sorted((r["seq"] for r in rows), reverse=True)
    assert sorted(r["state"] for r in rows) == ["delivered", "delivered", "failed"]
    failed = next(r for r in rows if r["state"] == "failed")
    assert (failed["attempts"], failed["last_status"], failed["last_error"]) == \
        (1, 400, "http 400")
    assert failed["next_attempt_at"] is None and failed["reference"]
    status, only = await deliveries(admin, state="failed")
    assert [r["seq"] for r in only["deliveries"]] == [failed["seq"]]
    status, created = await deliveries(admin, event="request.created")
    assert [r["seq"] for r in created["deliveries"]] == [r["seq"] for r in rows]
    status, orders = await deliveries(admin, event="order.ready")
    assert (status, orders["deliveries"]) == (200, [])
    for wrong in ({"limit": "0"}, {"limit": "x"}, {"before": str(2**64)}, {"before": "-1"},
                  {"state": "lost"}, {"endpoint": "a\x00b"}, {"event": "request.lost"}):
        status, _ = await deliveries(admin, **wrong)
        assert status == 422, wrong


def example_receiver() -> ModuleType:
    spec = importlib.util.spec_from_file_location("webhook_receiver", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_the_example_receiver_gets_each_event_once_across_a_restart_while_it_was_down(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings,
    caplog: pytest.LogCaptureFixture, raw_redis: Redis,
) -> None:
    caplog.set_level(logging.INFO)
    example = example_receiver()
    handled: list[dict[str, Any]] = []
    arrivals: list[bytes] = []

    async def handle(event: dict[str, Any]) -> None:
        handled.append(event)

    @web.middleware
    async def count(request: web.Request, handler: Any) -> web.StreamResponse:
        arrivals.append(await request.read())
        response: web.StreamResponse = await handler(request)
        return response

    port = free_port()
    url = f"http://127.0.0.1:{port}/taxiconnect"

    async def up() -> TestServer:
        app = example.make_app(SECRET, handle)
        app.middlewares.append(count)
        server = TestServer(app, host="127.0.0.1", port=port)
        await server.start_server()
        return server

    # Longer than the test waits: the restarted hub resumes the events at once only because
    # the stopping one ended its heartbeat (no waiting for them to look abandoned).
    hooked_settings = hooked(settings, url, events=("request.created", "request.claimed"),
                             reclaim_idle_ms=60_000)
    server = await up()
    first = await hub(hooked_settings)
    agent = await dispatcher(first)
    await form_post(first, "hooks-restart-1")
    await eventually(lambda: _some(len(handled) == 1), what="the first event")
    before_id = handled[0]["request"]["id"]
    await server.close()  # the receiver goes down

    await form_post(first, "hooks-restart-2", name="Eero Heino", phone="050 111 2233")
    await act(agent, before_id, "claim")
    admin = await dispatcher(first, role=Role.ADMIN)

    async def failing() -> list[dict[str, Any]] | None:
        _status, answer = await deliveries(admin, state="pending")
        rows = [r for r in answer["deliveries"] if r["attempts"] >= 1]
        return rows if len(rows) == 2 else None
    pending = await eventually(failing, what="two deliveries failing while the receiver is down")
    assert all(r["last_error"].startswith("connection") for r in pending)
    await first.close()  # the hub stops with both events in hand

    server = await up()
    try:
        second = await hub(hooked_settings)
        await eventually(lambda: _some(len(handled) >= 3), what="the events after the restart")
        await asyncio.sleep(SETTLE_S + 1.0)  # past the backoff: any repeat would show
        kinds = sorted((e["request"]["id"] == before_id, e["type"]) for e in handled)
        assert kinds == [(False, "request.created"), (True, "request.claimed"),
                         (True, "request.created")]
        assert len(arrivals) == 3  # nothing sent twice, not even to be de-duplicated
        admin_after = await dispatcher(second, role=Role.ADMIN)
        _status, answer = await deliveries(admin_after)
        assert sorted(r["state"] for r in answer["deliveries"]) == ["delivered"] * 3
        assert all(r["attempts"] >= 2 for r in answer["deliveries"]
                   if r["event_id"] != handled[0]["id"])
        assert_logs_keep_it_private(caplog)
        # Nothing left pending in the endpoint's consumer group: every event acknowledged.
        group = await raw_redis.xpending(f"{settings.redis.prefix}stream:events",
                                         "webhooks:dispatch")
        assert group["pending"] == 0
    finally:
        await server.close()


async def _some(condition: bool) -> bool | None:
    return True if condition else None


async def test_two_hub_processes_share_an_endpoint_and_send_each_event_once(
    hub: HubFactory, settings: Settings, receiver: Callable[..., Awaitable[Receiver]],
) -> None:
    sink = await receiver([503, 503, 503])
    hooked_settings = hooked(settings, sink.url, events=("request.created",))
    clients = [await hub(hooked_settings), await hub(hooked_settings)]
    for n in range(6):
        await form_post(clients[n % 2], f"hooks-shared-{n}", phone=f"050 222 334{n}")
    arrivals = await arrived(sink, 9)
    assert len(arrivals) == 9  # three answered 503 (the first three), each retried
    accepted = sorted(a.event["id"] for a in arrivals[3:])  # the script ran out: all 200
    assert len(set(accepted)) == len(accepted) == 6


async def test_a_reply_that_takes_an_unheld_request_is_a_claim(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings,
    receiver: Callable[..., Awaitable[Receiver]],
) -> None:
    sink = await receiver()
    async with FakeTwilio() as twilio:
        port = free_port()
        client = await hub(dataclasses.replace(
            hooked(settings, sink.url, events=("request.created", "request.claimed")),
            channels=ChannelsSettings(enabled=("webform", "twilio_sms")),
            http=HttpSettings(public_url=f"http://127.0.0.1:{port}"),
            sms=SmsSettings(twilio=TwilioSettings(
                auth_token=Secret(TWILIO_AUTH_TOKEN), account_sid=TWILIO_ACCOUNT_SID,
                from_number="+358451234567", api_url=twilio.url))), port=port)
        agent = await dispatcher(client)
        await form_post(client, "hooks-reply-1")
        [created] = await arrived(sink, 1)
        request_id = created.event["request"]["id"]
        status, answer = await agent.reply(request_id, "Auto tulossa", "hooks-reply-k1")
        assert status == 201, answer
        status, answer = await agent.reply(request_id, "5 min", "hooks-reply-k2")
        assert status == 201, answer
        arrivals = await arrived(sink, 2)
    assert [a.event["type"] for a in arrivals] == ["request.created", "request.claimed"]
    assert arrivals[1].event["request"]["status"] == "claimed"
