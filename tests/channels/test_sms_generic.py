"""The generic SMS gateway through the hub's real webhooks: signed inbound SMS and delivery
reports (the format in channels/sms/generic_inbound.py), and replies sent to a local server
speaking the gateway's send API."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import json
import time
from typing import Any

from aiohttp.test_utils import TestClient

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
from tests.helpers import Dispatcher, eventually

SECRET = "whsec_generic_test"
OLD_SECRET = "whsec_generic_old"
PASSENGER = "+358401112233"
COMPANY_NUMBER = "+358451234567"
INBOUND_PATH = "/webhooks/sms/generic"
STATUS_PATH = "/webhooks/sms/generic/status"

Client = TestClient[Any, Any]


async def _hub(hub: HubFactory, settings: Settings, gateway: FakeGenericGateway) -> Client:
    port = free_port()
    return await hub(dataclasses.replace(
        settings,
        channels=ChannelsSettings(enabled=("webform", "generic_sms")),
        http=HttpSettings(public_url=f"http://127.0.0.1:{port}"),
        sms=SmsSettings(generic=GenericSmsSettings(
            signing_secret=Secret(f"{OLD_SECRET}, {SECRET}"), send_url=gateway.url + "/send",
            send_token=Secret(GENERIC_TOKEN), from_number="+358450000000")),
        outbound=OutboundSettings(backoff_base_s=0.05, backoff_max_s=0.2, poll_s=0.05,
                                  send_timeout_s=5, max_attempts=4),
    ), port=port)


def _signature(raw: bytes, secret: str, t: int) -> str:
    """Written out from the format's documentation, apart from the hub's own code."""
    digest = hmac.new(secret.encode(), str(t).encode() + b"." + raw, hashlib.sha256)
    return f"t={t},v1={digest.hexdigest()}"


async def _post(client: Client, path: str, body: dict[str, Any], *, secret: str = SECRET,
                age_s: int = 0, header: str | None = None) -> tuple[int, dict[str, Any]]:
    raw = json.dumps(body).encode()
    signature = _signature(raw, secret, int(time.time()) - age_s) if header is None else header
    response = await client.post(path, data=raw, headers={
        "Content-Type": "application/json", "X-TaxiConnect-Signature": signature})
    return response.status, await response.json()


def _sms(message_id: str, text: str) -> dict[str, str]:
    return {"message_id": message_id, "from": PASSENGER, "to": COMPANY_NUMBER, "text": text}


async def _only_request(agent: Dispatcher) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        found = await agent.open_requests()
        assert len(found) <= 1, found
        return await agent.request(found[0]["id"]) if found else None
    return await eventually(probe, what="the SMS request")


async def test_signed_sms_is_stored_and_answered_with_the_reference(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    async with FakeGenericGateway() as gateway:
        client = await _hub(hub, settings, gateway)
        agent = await dispatcher(client)
        status, answer = await _post(client, INBOUND_PATH, {
            **_sms("gw-000123", "Taksi Kamppiin"), "received_at": "2024-06-10T08:15:00Z",
            "operator": "extra fields are ignored"})
        assert status == 200, answer
        request = await _only_request(agent)
        assert answer == {"status": "stored", "reference": request["reference"]}
        assert request["channel"] == "sms"
        assert request["contact"]["phones"] == [PASSENGER]
        [message] = request["messages"]
        assert message["body"] == "Taksi Kamppiin"
        assert message["details"] == {"gateway": "generic", "from": PASSENGER,
                                      "to": COMPANY_NUMBER}

        # During a rotation the old secret still signs.
        status, _ = await _post(client, INBOUND_PATH, _sms("gw-000124", "kiitos"),
                                secret=OLD_SECRET)
        assert status == 200


async def test_wrong_missing_or_stale_signature_is_refused_and_nothing_stored(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    async with FakeGenericGateway() as gateway:
        client = await _hub(hub, settings, gateway)
        agent = await dispatcher(client)
        body = _sms("gw-000200", "Taksi asemalle")
        for status, answer in [
            await _post(client, INBOUND_PATH, body, secret="not-the-secret"),
            await _post(client, INBOUND_PATH, body, header=""),
            await _post(client, INBOUND_PATH, body, age_s=301),
            await _post(client, STATUS_PATH, {"message_id": "gw-1", "status": "delivered"},
                        secret="not-the-secret"),
        ]:
            assert status == 403
            assert "X-TaxiConnect-Signature" in answer["error"]
        response = await client.post(INBOUND_PATH, data="message_id=1",
                                     headers={"Content-Type": "text/plain"})
        assert response.status == 415
        status, answer = await _post(client, INBOUND_PATH, {"message_id": "gw-000201"})
        assert status == 422 and answer["fields"] == {"from": "required"}
        assert await agent.open_requests() == []

        status, _ = await _post(client, INBOUND_PATH, _sms("gw-000202", "nyt oikein"))
        assert status == 200
        request = await _only_request(agent)
        assert [m["body"] for m in request["messages"]] == ["nyt oikein"]


async def test_a_replayed_message_id_is_stored_once(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    async with FakeGenericGateway() as gateway:
        client = await _hub(hub, settings, gateway)
        agent = await dispatcher(client)
        body = _sms("gw-000300", "Onko auto tulossa?")
        answers = await asyncio.gather(*(_post(client, INBOUND_PATH, body) for _ in range(3)))
        answers.append(await _post(client, INBOUND_PATH, body))
        assert {status for status, _ in answers} == {200}
        assert len({answer["reference"] for _, answer in answers}) == 1
        request = await _only_request(agent)
        assert [m["body"] for m in request["messages"]] == ["Onko auto tulossa?"]


async def test_reply_is_sent_after_a_gateway_error_and_follows_its_reports(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    async with FakeGenericGateway(script=[500, 202]) as gateway:
        client = await _hub(hub, settings, gateway)
        agent = await dispatcher(client)
        assert (await _post(client, INBOUND_PATH, _sms("gw-000400", "Taksi?")))[0] == 200
        request_id = (await _only_request(agent))["id"]

        status, answer = await agent.reply(request_id, "Taksi tulee 5 min, 20 €", "k-1")
        assert status == 201, answer
        sent = await agent.wait_for_reply(request_id, "sent")
        delivery = sent["deliveries"][0]
        assert delivery["attempts"] == 2
        assert len(gateway.received) == 2 and len(gateway.messages) == 1
        call = gateway.received[-1]
        assert call.headers["Authorization"] == f"Bearer {GENERIC_TOKEN}"
        assert call.data == {"message_id": delivery["id"], "from": COMPANY_NUMBER,
                             "to": PASSENGER, "text": "Taksi tulee 5 min, 20 €"}

        gateway_id = gateway.ids[delivery["id"]]
        status, answer = await _post(client, STATUS_PATH,
                                     {"message_id": gateway_id, "status": "delivered"})
        assert (status, answer) == (200, {"status": "recorded"})
        await agent.wait_for_reply(request_id, "delivered")
        status, _ = await _post(client, STATUS_PATH, {"message_id": gateway_id, "status": "sent"})
        assert status == 200
        delivered = await agent.wait_for_reply(request_id, "delivered")  # a late "sent": ignored
        assert delivered["deliveries"][0]["reason"] is None

        status, _ = await _post(client, STATUS_PATH, {"message_id": "gw-unknown",
                                                      "status": "delivered"})
        assert status == 404


async def test_failed_report_and_refused_send_fail_with_the_gateways_reason(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    async with FakeGenericGateway() as gateway:
        client = await _hub(hub, settings, gateway)
        agent = await dispatcher(client)
        assert (await _post(client, INBOUND_PATH, _sms("gw-000500", "Hei")))[0] == 200
        request_id = (await _only_request(agent))["id"]

        assert (await agent.reply(request_id, "Hei vaan", "k-1"))[0] == 201
        sent = await agent.wait_for_reply(request_id, "sent")
        gateway_id = gateway.ids[sent["deliveries"][0]["id"]]
        status, _ = await _post(client, STATUS_PATH, {
            "message_id": gateway_id, "status": "failed", "error": "absent subscriber"})
        assert status == 200
        failed = await agent.wait_for_reply(request_id, "failed")
        assert failed["deliveries"][0]["reason"] == "absent subscriber"

        gateway.script = [(400, {"error": "unknown destination network"})]
        assert (await agent.reply(request_id, "Toinen", "k-2"))[0] == 201

        async def refused() -> dict[str, Any] | None:
            messages = (await agent.request(request_id))["messages"]
            found = [m for m in messages if m["body"] == "Toinen"
                     and m["deliveries"] and m["deliveries"][0]["state"] == "failed"]
            return found[0] if found else None
        message = await eventually(refused, what="the refused reply")
        assert message["deliveries"][0]["reason"] == \
            "SMS gateway HTTP 400: unknown destination network"
        assert len(gateway.received) == 2  # a refusal is not retried
