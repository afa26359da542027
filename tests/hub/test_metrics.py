"""/metrics over HTTP after real traffic (a form POST, an SMS in, a console reply sent through a
local fake gateway after one failure), parsed with prometheus-client's own parser: the
histograms counted what happened, the lane gauges show the queued request, the counters keep
their names, no label or value carries personal data, and two apps in one process keep
registries of their own."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import time
from typing import Any

from aiohttp.test_utils import TestClient
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

from hub.settings import (
    ChannelsSettings,
    GenericSmsSettings,
    HttpSettings,
    OutboundSettings,
    Secret,
    Settings,
    SmsSettings,
)
from tests.conftest import DispatcherFactory, HubFactory, free_port
from tests.gateways import GENERIC_TOKEN, FakeGenericGateway
from tests.helpers import eventually

Client = TestClient[Any, Any]
SECRET = "whsec_metrics"
PASSENGER, FORM_PHONE = "+358401234999", "040 765 4999"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def _hub(hub: HubFactory, settings: Settings, gateway: FakeGenericGateway) -> Client:
    port = free_port()
    return await hub(dataclasses.replace(
        settings, channels=ChannelsSettings(enabled=("webform", "generic_sms")),
        http=HttpSettings(public_url=f"http://127.0.0.1:{port}"),
        sms=SmsSettings(generic=GenericSmsSettings(
            signing_secret=Secret(SECRET), send_url=gateway.url + "/send",
            send_token=Secret(GENERIC_TOKEN), from_number="+358450000000")),
        outbound=OutboundSettings(backoff_base_s=0.05, backoff_max_s=0.2, poll_s=0.05,
                                  send_timeout_s=5, max_attempts=4)), port=port)


async def _scrape(client: Client) -> tuple[str, Samples]:
    async with client.get("/metrics") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == CONTENT_TYPE_LATEST
        text = await resp.text()
    samples = {(s.name, frozenset(s.labels.items())): s.value
               for family in text_string_to_metric_families(text) for s in family.samples}
    return text, samples


def _value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def _sms_in(client: Client, message_id: str) -> None:
    raw = json.dumps({"message_id": message_id, "from": PASSENGER, "to": "+358451234567",
                      "text": "Taksi Hakaniemeen"}).encode()
    t = int(time.time())
    digest = hmac.new(SECRET.encode(), str(t).encode() + b"." + raw, hashlib.sha256)
    async with client.post("/webhooks/sms/generic", data=raw, headers={
            "Content-Type": "application/json",
            "X-TaxiConnect-Signature": f"t={t},v1={digest.hexdigest()}"}) as resp:
        assert resp.status == 200, await resp.text()


async def test_metrics_count_real_traffic_per_app(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    async with FakeGenericGateway(script=[500, 202]) as gateway:
        client = await _hub(hub, settings, gateway)
        agent = await dispatcher(client, name="Mittari")
        console = await agent.console()
        async with client.post("/form", data={
                "name": "Aino Mittari", "phone": FORM_PHONE, "message": "Taksi Kallioon",
                "submission_token": "metrics-form-1"}) as resp:
            assert resp.status == 201, await resp.text()
        await _sms_in(client, "gw-metrics-1")

        async def sms_request() -> str | None:
            found = [r for r in await agent.open_requests() if r["channel"] == "sms"]
            return str(found[0]["id"]) if found else None
        request_id = await eventually(sms_request, what="the SMS request")
        status, answer = await agent.reply(request_id, "Taksi tulee 5 min", "metrics-k-1")
        assert status == 201, answer
        await agent.wait_for_reply(request_id, "sent")

        async def settled() -> tuple[str, Samples] | None:
            text, samples = await _scrape(client)
            return (text, samples) if _value(
                samples, "taxiconnect_event_fanout_seconds_count") >= 1 else None
        text, samples = await eventually(settled, what="an event written to the console")
        await console.close()
        # Another app in the same process counts on its own.
        other = await _hub(hub, settings, gateway)
        _, fresh = await _scrape(other)

    assert _value(samples, "taxiconnect_ingest_committed_total") == 2  # the names kept
    assert _value(samples, "taxiconnect_ingest_commit_seconds_count") >= 1
    assert _value(samples, "taxiconnect_http_answer_seconds_count", route="/form") == 1
    assert _value(samples, "taxiconnect_http_answer_seconds_count",
                  route="/webhooks/sms/generic") == 1
    assert _value(samples, "taxiconnect_event_fanout_seconds_count") >= 1
    assert _value(samples, "taxiconnect_outbound_send_seconds_count",
                  adapter="generic_sms") == 2
    assert _value(samples, "taxiconnect_deliveries_total",
                  adapter="generic_sms", outcome="retried") == 1
    assert _value(samples, "taxiconnect_deliveries_total",
                  adapter="generic_sms", outcome="sent") == 1
    # The form's request waits in its lane (the SMS one was claimed by the reply).
    depth = {dict(labels)["lane"]: value for (name, labels), value in samples.items()
             if name == "taxiconnect_queue_depth"}
    waits = {dict(labels)["lane"]: value for (name, labels), value in samples.items()
             if name == "taxiconnect_queue_longest_wait_seconds"}
    assert sum(depth.values()) == 1, depth
    [lane] = [lane for lane, value in depth.items() if value == 1]
    assert waits[lane] >= 0
    assert any(name.startswith("process_") for name, _ in samples)
    for personal in (PASSENGER, "401234999", "765 4999", "Aino", "Kallio", "Hakaniem"):
        assert personal not in text
    assert _value(fresh, "taxiconnect_ingest_committed_total") == 0
    assert _value(fresh, "taxiconnect_http_answer_seconds_count", route="/form") == 0
