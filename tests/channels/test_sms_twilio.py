"""Twilio's inbound-SMS webhook, posted and signed the way Twilio posts and signs it."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp.test_utils import TestClient

from channels.sms.twilio_signature import twilio_signature
from hub.settings import (
    ChannelsSettings,
    HttpSettings,
    Secret,
    Settings,
    SmsSettings,
    TwilioSettings,
)
from tests.conftest import DispatcherFactory, HubFactory, server_url

TOKEN = "twilio-test-auth-token"
PATH = "/webhooks/sms/twilio"


def _twilio(settings: Settings, public_url: str = "") -> Settings:
    return dataclasses.replace(
        settings,
        channels=ChannelsSettings(enabled=("webform", "twilio_sms")),
        sms=SmsSettings(twilio=TwilioSettings(auth_token=Secret(TOKEN))),
        http=HttpSettings(public_url=public_url),
    )


def _message(sid: str, body: str = "Tarvitsen taksin Kamppiin") -> list[tuple[str, str]]:
    return [("ToCountry", "FI"), ("SmsMessageSid", sid), ("NumMedia", "0"),
            ("SmsSid", sid), ("SmsStatus", "received"), ("Body", body), ("To", "+358451234567"),
            ("NumSegments", "1"), ("MessageSid", sid), ("AccountSid", "AC" + "0" * 32),
            ("From", "+358401112233"), ("ApiVersion", "2010-04-01")]


async def _post(client: TestClient[Any, Any], params: list[tuple[str, str]],
                signature: str | None) -> tuple[int, str]:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if signature is not None:
        headers["X-Twilio-Signature"] = signature
    response = await client.post(PATH, data=urlencode(params), headers=headers)
    return response.status, await response.text()


@pytest.mark.parametrize("signed_url", ["with port", "without port"])
async def test_signed_webhook_becomes_an_sms_request(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings, signed_url: str
) -> None:
    # Behind the TLS proxy Twilio calls https://hub.taxi.example; signing used either form.
    client = await hub(_twilio(settings, public_url="https://hub.taxi.example"))
    url = ("https://hub.taxi.example:443" if signed_url == "with port"
           else "https://hub.taxi.example") + PATH
    params = _message("SM" + "a" * 32)
    status, text = await _post(client, params, twilio_signature(TOKEN, url, params))
    assert status == 200
    assert text == '<?xml version="1.0" encoding="UTF-8"?><Response />'
    # The dispatcher works on a second hub process over plain http: the first one's session
    # cookie is Secure, as its public address is https.
    agent = await dispatcher(await hub(_twilio(settings)))
    [request] = await agent.open_requests()
    assert request["channel"] == "sms"
    assert request["contact"]["phones"] == ["+358401112233"]
    assert request["preview"] == "Tarvitsen taksin Kamppiin"


async def test_bad_signatures_get_403_and_store_nothing(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    client = await hub(_twilio(settings))
    url = server_url(client) + PATH
    params = _message("SM" + "b" * 32)
    good = twilio_signature(TOKEN, url, params)
    altered = [(k, "Taksi Pasilaan" if k == "Body" else v) for k, v in params]
    assert (await _post(client, altered, good))[0] == 403
    assert (await _post(client, params, twilio_signature("wrong-token", url, params)))[0] == 403
    assert (await _post(client, params, None))[0] == 403
    agent = await dispatcher(client)
    assert await agent.open_requests() == []
    assert (await _post(client, params, good))[0] == 200


async def test_the_same_message_sid_five_times_at_once_is_one_message(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    client = await hub(_twilio(settings))
    params = _message("SM" + "c" * 32)
    signature = twilio_signature(TOKEN, server_url(client) + PATH, params)
    answers = await asyncio.gather(*(_post(client, params, signature) for _ in range(5)))
    assert [status for status, _ in answers] == [200] * 5
    agent = await dispatcher(client)
    [request] = await agent.open_requests()
    detail = await agent.request(request["id"])
    assert [m["body"] for m in detail["messages"]] == ["Tarvitsen taksin Kamppiin"]


async def test_an_sms_from_a_form_passengers_number_threads_into_their_request(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    client = await hub(_twilio(settings))
    agent = await dispatcher(client)
    form = await client.post("/api/v1/contact-requests", json={
        "phone": "040 111 2233", "pickup_address": "Kampinkuja 2",
        "submission_token": "sms-thread-0001"})
    receipt = await form.json()
    params = _message("SM" + "d" * 32, body="Olen jo ulkona")
    signature = twilio_signature(TOKEN, server_url(client) + PATH, params)
    assert (await _post(client, params, signature))[0] == 200
    detail = await agent.request(receipt["id"])
    assert [(m["channel"], m["body"]) for m in detail["messages"]] == [
        ("webform", "Kampinkuja 2"), ("sms", "Olen jo ulkona")]
