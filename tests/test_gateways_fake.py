"""The fake gateways themselves: they refuse bad credentials, follow their script, and sign
their callbacks so that the hub's own verification accepts them."""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from channels.sms import twilio_signature, vonage_signature
from channels.sms.delivery import DeliveryState
from channels.sms.twilio_status import parse_status as parse_twilio_status
from channels.sms.vonage_status import parse_status as parse_vonage_status
from tests.gateways import (
    TWILIO_ACCOUNT_SID,
    TWILIO_AUTH_TOKEN,
    VONAGE_API_KEY,
    VONAGE_API_SECRET,
    FakeGenericGateway,
    FakeTwilio,
    FakeVonage,
)

TO = "+358401234567"
FROM = "+358451234567"


@dataclass
class Callbacks:
    """A local endpoint standing in for the hub's callback URLs."""

    url: str
    requests: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)


@pytest.fixture
async def callbacks() -> AsyncIterator[Callbacks]:
    got: list[tuple[str, dict[str, str], bytes]] = []

    async def record(request: web.Request) -> web.Response:
        got.append((str(request.url), dict(request.headers), await request.read()))
        return web.Response(status=204)

    app = web.Application()
    app.add_routes([web.post("/{tail:.*}", record)])
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield Callbacks(str(server.make_url("")).rstrip("/"), got)
    finally:
        await server.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as client:
        yield client


async def _twilio_send(session: aiohttp.ClientSession, fake: FakeTwilio,
                       token: str = TWILIO_AUTH_TOKEN,
                       **form: str) -> tuple[int, dict[str, Any]]:
    url = f"{fake.url}/2010-04-01/Accounts/{TWILIO_ACCOUNT_SID}/Messages.json"
    data = {"To": TO, "From": FROM, "Body": "Taksi ABC-123 saapuu 5 min.", **form}
    headers = {"Authorization": aiohttp.encode_basic_auth(TWILIO_ACCOUNT_SID, token)}
    async with session.post(url, data=data, headers=headers) as response:
        return response.status, await response.json()


async def test_twilio_refuses_wrong_credentials_without_using_the_script(
        session: aiohttp.ClientSession) -> None:
    async with FakeTwilio(script=[500]) as fake:
        status, body = await _twilio_send(session, fake, token="wrong")
        assert (status, body["code"], body["status"]) == (401, 20003, 401)
        assert body["more_info"] == "https://www.twilio.com/docs/errors/20003"
        assert fake.script == [500]
        assert (await _twilio_send(session, fake))[0] == 500


async def test_twilio_follows_its_script_then_succeeds(session: aiohttp.ClientSession) -> None:
    async with FakeTwilio(script=[500, 500, 201]) as fake:
        statuses = [(await _twilio_send(session, fake))[0] for _ in range(4)]
        assert statuses == [500, 500, 201, 201]
        assert len(fake.received) == 4
        assert fake.received[0].data == {"To": TO, "From": FROM,
                                         "Body": "Taksi ABC-123 saapuu 5 min."}
        assert fake.received[0].headers["Authorization"].startswith("Basic ")
        assert len(fake.messages) == 2


async def test_twilio_message_resource(session: aiohttp.ClientSession) -> None:
    async with FakeTwilio() as fake:
        status, message = await _twilio_send(session, fake, StatusCallback="https://h/x")
        assert status == 201
        assert re.fullmatch(r"SM[0-9a-f]{32}", message["sid"])
        assert (message["status"], message["to"], message["from"]) == ("queued", TO, FROM)
        assert (message["num_segments"], message["direction"]) == ("1", "outbound-api")
        assert parsedate_to_datetime(message["date_created"]).utcoffset() is not None
        assert message["error_code"] is None
        _, service = await _twilio_send(session, fake, From="", MessagingServiceSid="MG" + "1" * 32)
        assert (service["status"], service["num_segments"], service["from"]) == (
            "accepted", "0", None)


async def test_twilio_invalid_number_and_missing_fields(session: aiohttp.ClientSession) -> None:
    async with FakeTwilio(script=[400]) as fake:
        status, body = await _twilio_send(session, fake)
        assert (status, body["code"]) == (400, 21211)
        assert body["message"] == f"The 'To' number {TO} is not a valid phone number."
        status, body = await _twilio_send(session, fake, To="")
        assert (status, body["code"]) == (400, 21604)


async def test_twilio_status_callback_verifies_with_the_hubs_validator(
        session: aiohttp.ClientSession, callbacks: Callbacks) -> None:
    callback_url = f"{callbacks.url}/webhooks/sms/twilio/status?request=42"
    async with FakeTwilio() as fake:
        _, message = await _twilio_send(session, fake, StatusCallback=callback_url)
        assert await fake.send_status(message["sid"], "sent") == 204
        assert await fake.send_status(message["sid"], "undelivered", 30003) == 204
    for (url, headers, body), (state, reason) in zip(callbacks.requests, [
            (DeliveryState.SENT, None), (DeliveryState.FAILED, "undelivered, error 30003")],
            strict=True):
        assert url == callback_url
        assert headers["Content-Type"] == "application/x-www-form-urlencoded"
        params = parse_qsl(body.decode(), keep_blank_values=True)
        assert twilio_signature.is_valid(TWILIO_AUTH_TOKEN, url, params,
                                         headers["X-Twilio-Signature"])
        assert not twilio_signature.is_valid("other-token", url, params,
                                             headers["X-Twilio-Signature"])
        update = parse_twilio_status(dict(params))
        assert (update.provider_id, update.state, update.reason) == (
            message["sid"], state, reason)


async def _vonage_send(session: aiohttp.ClientSession, fake: FakeVonage, *, as_json: bool = False,
                       **fields: str) -> dict[str, Any]:
    data = {"api_key": VONAGE_API_KEY, "api_secret": VONAGE_API_SECRET, "from": "TaksiHki",
            "to": TO.removeprefix("+"), "text": "Taksi ABC-123 saapuu 5 min.", **fields}
    data = {key: value for key, value in data.items() if value is not None}
    kwargs: dict[str, Any] = {"json": data} if as_json else {"data": data}
    async with session.post(f"{fake.url}/sms/json", **kwargs) as response:
        assert response.status == 200
        decoded: dict[str, Any] = await response.json()
        return decoded


async def test_vonage_answers_one_entry_per_segment(session: aiohttp.ClientSession) -> None:
    async with FakeVonage() as fake:
        single = await _vonage_send(session, fake, **{"client-ref": "req-7"})
        assert single["message-count"] == "1"
        entry = single["messages"][0]
        assert entry["status"] == "0"
        assert entry["client-ref"] == "req-7"
        assert set(entry) >= {"to", "message-id", "remaining-balance", "message-price",
                              "network"}
        long = await _vonage_send(session, fake, as_json=True, text="Taksi " * 40)
        assert long["message-count"] == "2"
        assert len({m["message-id"] for m in long["messages"]}) == 2
        assert fake.received[1].data["text"] == "Taksi " * 40


async def test_vonage_credentials_and_script(session: aiohttp.ClientSession) -> None:
    async with FakeVonage(script=[500, "1"]) as fake:
        refused = await _vonage_send(session, fake, api_secret="wrong")
        assert refused["messages"][0] == {"status": "4", "error-text": "Bad Credentials"}
        async with session.post(f"{fake.url}/sms/json", data={
                "api_key": VONAGE_API_KEY, "api_secret": VONAGE_API_SECRET}) as response:
            assert response.status == 500
        throttled = await _vonage_send(session, fake)
        assert throttled["messages"][0]["status"] == "1"
        assert "faster" in throttled["messages"][0]["error-text"]
        assert (await _vonage_send(session, fake))["messages"][0]["status"] == "0"
        missing = await _vonage_send(session, fake, to=None)
        assert missing["messages"][0] == {"status": "2", "error-text": "Missing to param"}


@pytest.mark.parametrize("method", ["md5hash", "sha256"])
async def test_vonage_signed_requests_and_receipts(
        session: aiohttp.ClientSession, callbacks: Callbacks, method: str) -> None:
    async with FakeVonage(signature_secret="sig-secret", signature_method=method) as fake:
        request = {"api_key": VONAGE_API_KEY, "from": "TaksiHki", "to": "358401234567",
                   "text": "Auto & kuski = valmis", "callback": f"{callbacks.url}/dlr",
                   "timestamp": str(int(time.time()))}
        request["sig"] = vonage_signature.sign(request, "sig-secret", method)
        accepted = await _vonage_send(session, fake, api_secret=None, **request)
        assert accepted["messages"][0]["status"] == "0"
        forged = await _vonage_send(session, fake, api_secret=None,
                                    **{**request, "text": "muutettu"})
        assert forged["messages"][0]["status"] == "14"

        message_id = accepted["messages"][0]["message-id"]
        assert await fake.send_dlr(message_id, "delivered") == 204
        assert await fake.send_dlr(message_id, "failed", "6", encoding="form") == 204
    (_, json_headers, json_body), (_, _, form_body) = callbacks.requests
    assert json_headers["Content-Type"] == "application/json"
    receipts = [json.loads(json_body), dict(parse_qsl(form_body.decode()))]
    for receipt in receipts:
        assert vonage_signature.is_valid(receipt, "sig-secret", method, now=time.time())
    first, second = (parse_vonage_status(receipt) for receipt in receipts)
    assert (first.provider_id, first.state) == (message_id, DeliveryState.DELIVERED)
    assert (second.state, second.reason) == (DeliveryState.FAILED, "failed, err-code 6")


async def test_generic_gateway(session: aiohttp.ClientSession) -> None:
    async with FakeGenericGateway(token="t0ken", script=[503, 202]) as fake:
        body = {"message_id": "9b2f6c1e", "to": TO, "text": "Taksi saapuu"}

        async def send(token: str, payload: Any = body) -> tuple[int, Any]:
            async with session.post(f"{fake.url}/send", json=payload,
                                    headers={"Authorization": f"Bearer {token}"}) as response:
                return response.status, await response.json()

        assert await send("wrong") == (401, {"error": "unauthorized"})
        assert fake.script == [503, 202]
        assert (await send("t0ken"))[0] == 503
        status, first = await send("t0ken")
        assert status == 202
        assert await send("t0ken") == (202, first)  # a retry sends nothing new
        assert len(fake.messages) == 1
        assert (await send("t0ken", {"message_id": "x"}))[0] == 400
        assert fake.received[-1].data == {"message_id": "x"}
        assert len(fake.received) == 5


def test_scripts_the_fakes_cannot_answer_fail_at_once() -> None:
    with pytest.raises(ValueError, match="418"):
        FakeTwilio(script=[418])
    with pytest.raises(ValueError, match="99"):
        FakeVonage(script=["99"])
