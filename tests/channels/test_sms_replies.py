"""A dispatcher's SMS reply leaves through Twilio's Messages API (a local server speaking it),
is retried while the gateway fails, and its delivery state follows Twilio's callbacks."""

from __future__ import annotations

import dataclasses
from typing import Any
from urllib.parse import urlencode

from aiohttp.test_utils import TestClient

from channels.sms.twilio_signature import twilio_signature
from hub.settings import (
    ChannelsSettings,
    HttpSettings,
    OutboundSettings,
    Secret,
    Settings,
    SmsSettings,
    TwilioSettings,
)
from tests.conftest import DispatcherFactory, HubFactory, free_port
from tests.gateways import FakeTwilio
from tests.helpers import Dispatcher, eventually

TOKEN = "twilio-test-auth-token"
ACCOUNT = "AC" + "1" * 32
PASSENGER = "+358401112233"
COMPANY_NUMBER = "+358451234567"


async def _hub(hub: HubFactory, settings: Settings, twilio: FakeTwilio) -> TestClient[Any, Any]:
    port = free_port()
    return await hub(dataclasses.replace(
        settings,
        channels=ChannelsSettings(enabled=("webform", "twilio_sms")),
        http=HttpSettings(public_url=f"http://127.0.0.1:{port}"),
        sms=SmsSettings(twilio=TwilioSettings(
            auth_token=Secret(TOKEN), account_sid=ACCOUNT, from_number="+358400000000",
            api_url=twilio.url)),
        outbound=OutboundSettings(backoff_base_s=0.05, backoff_max_s=0.2, poll_s=0.05,
                                  send_timeout_s=5, max_attempts=4),
    ), port=port)


async def _text_in(client: TestClient[Any, Any], sid: str, body: str) -> None:
    params = [("MessageSid", sid), ("AccountSid", ACCOUNT), ("From", PASSENGER),
              ("To", COMPANY_NUMBER), ("Body", body), ("NumMedia", "0")]
    url = str(client.make_url("/webhooks/sms/twilio"))
    response = await client.post("/webhooks/sms/twilio", data=urlencode(params), headers={
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": twilio_signature(TOKEN, url, params),
    })
    assert response.status == 200, await response.text()


async def _request_id(agent: Dispatcher) -> str:
    async def probe() -> str | None:
        found = await agent.open_requests()
        return found[0]["id"] if found else None
    return await eventually(probe, what="the SMS request")


async def test_reply_survives_two_gateway_errors_and_follows_status_callbacks(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    async with FakeTwilio(account_sid=ACCOUNT, auth_token=TOKEN) as twilio:
        client = await _hub(hub, settings, twilio)
        agent = await dispatcher(client)
        await _text_in(client, "SM" + "a" * 32, "Taksi Kamppiin kello 18?")
        request_id = await _request_id(agent)
        twilio.script = [500, 500, 201]

        status, answer = await agent.reply(request_id, "Taksi tulee 18.00, viite 123", "k-1")
        assert status == 201, answer
        sent = await agent.wait_for_reply(request_id, "sent")

        assert len(twilio.received) == 3 and len(twilio.messages) == 1
        form = twilio.received[-1].data
        assert form["To"] == PASSENGER
        assert form["From"] == COMPANY_NUMBER  # the number the passenger texted
        assert form["Body"] == "Taksi tulee 18.00, viite 123"
        assert form["StatusCallback"] == str(client.make_url("/webhooks/sms/twilio/status"))
        assert sent["deliveries"][0]["attempts"] == 3
        assert sent["agent"]["id"] == str(agent.agent.id)
        detail = await agent.request(request_id)
        assert detail["status"] == "claimed"  # replying took the request
        assert detail["last_agent"]["id"] == str(agent.agent.id)
        assert detail["timings"]["first_response_at"] is not None

        sid = next(iter(twilio.messages))
        assert await twilio.send_status(sid, "delivered") == 204
        await agent.wait_for_reply(request_id, "delivered")
        assert await twilio.send_status(sid, "sent") == 204  # late, out of order: ignored
        delivered = await agent.wait_for_reply(request_id, "delivered")
        assert delivered["deliveries"][0]["reason"] is None


async def test_same_client_key_sends_once_and_refusal_fails_with_reason(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    async with FakeTwilio(account_sid=ACCOUNT, auth_token=TOKEN) as twilio:
        client = await _hub(hub, settings, twilio)
        agent = await dispatcher(client)
        await _text_in(client, "SM" + "b" * 32, "Onko auto tulossa?")
        request_id = await _request_id(agent)

        first = await agent.reply(request_id, "On, 5 min", "same-key")
        again = await agent.reply(request_id, "On, 5 min", "same-key")
        assert (first[0], again[0]) == (201, 200)
        assert first[1]["message_id"] == again[1]["message_id"]
        await agent.wait_for_reply(request_id, "sent")
        assert len(twilio.received) == 1

        twilio.script = [400]
        status, _ = await agent.reply(request_id, "Toinen viesti", "other-key")
        assert status == 201
        failed = await agent.wait_for_reply(request_id, "failed")
        assert "21211" in failed["deliveries"][0]["reason"]
        assert len(twilio.received) == 2  # a refusal is not retried


async def test_opt_out_keyword_is_recorded_and_honoured(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    async with FakeTwilio(account_sid=ACCOUNT, auth_token=TOKEN) as twilio:
        client = await _hub(hub, settings, twilio)
        agent = await dispatcher(client)
        await _text_in(client, "SM" + "c" * 32, "Lopeta.")
        request_id = await _request_id(agent)
        detail = await agent.request(request_id)
        assert detail["messages"][0]["details"]["sms_opt"] == "out"

        status, answer = await agent.reply(request_id, "Selvä", "k-stop")
        assert status == 422
        assert answer["fields"] == {"channel": "opted_out"}
        assert "LOPETA" in answer["error"]

        await _text_in(client, "SM" + "d" * 32, "aloita")
        status, answer = await agent.reply(request_id, "Tervetuloa takaisin", "k-start")
        assert status == 201, answer
        await agent.wait_for_reply(request_id, "sent")
        assert [r.data["Body"] for r in twilio.received] == ["Tervetuloa takaisin"]
