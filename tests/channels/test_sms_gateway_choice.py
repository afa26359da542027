"""Twilio, Vonage and a generic gateway enabled at once, a passenger texting each: every
reply and acknowledgement to a passenger leaves through the gateway (and from the number)
their SMS came in through (issue 13, item 9). A real Twilio refuses a From it does not own."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from aiohttp.test_utils import TestClient

from channels.sms.twilio_signature import twilio_signature
from hub.model import Role
from hub.settings import (
    AnswersSettings,
    ChannelsSettings,
    GenericSmsSettings,
    HttpSettings,
    OutboundSettings,
    Secret,
    Settings,
    SmsSettings,
    TwilioSettings,
    VonageSettings,
)
from tests.conftest import DispatcherFactory, HubFactory, free_port
from tests.gateways import (
    GENERIC_TOKEN,
    VONAGE_API_KEY,
    VONAGE_API_SECRET,
    FakeGenericGateway,
    FakeTwilio,
    FakeVonage,
    vonage_signature,
)
from tests.helpers import Dispatcher, eventually

Client = TestClient[Any, Any]
TWILIO_TOKEN = "twilio-test-auth-token"
ACCOUNT = "AC" + "2" * 32
VONAGE_SIGNATURE = "vonage-test-signature-secret"
GENERIC_SECRET = "generic-test-signing-secret"
TWILIO_NUMBER, VONAGE_NUMBER, GENERIC_NUMBER = "+358451000001", "358451000002", "+358451000003"
# Each gateway's configured sender (sms.*.from_number): a number or name that gateway owns.
TWILIO_OWN, VONAGE_OWN, GENERIC_OWN = "+358400000000", "TaksiABC", "+358450000000"
ON_TWILIO, ON_VONAGE, ON_GENERIC = "+358401000001", "+358401000002", "+358401000003"


async def _hub(hub: HubFactory, settings: Settings, twilio: FakeTwilio, vonage: FakeVonage,
               generic: FakeGenericGateway) -> Client:
    port = free_port()
    return await hub(dataclasses.replace(
        settings,
        channels=ChannelsSettings(enabled=("webform", "twilio_sms", "vonage_sms",
                                           "generic_sms")),
        http=HttpSettings(public_url=f"http://127.0.0.1:{port}"),
        sms=SmsSettings(
            twilio=TwilioSettings(auth_token=Secret(TWILIO_TOKEN), account_sid=ACCOUNT,
                                  from_number=TWILIO_OWN, api_url=twilio.url),
            vonage=VonageSettings(api_key=VONAGE_API_KEY, api_secret=Secret(VONAGE_API_SECRET),
                                  signature_secret=Secret(VONAGE_SIGNATURE),
                                  from_number=VONAGE_OWN, api_url=vonage.url),
            generic=GenericSmsSettings(signing_secret=Secret(GENERIC_SECRET),
                                       send_url=generic.url + "/send",
                                       send_token=Secret(GENERIC_TOKEN),
                                       from_number=GENERIC_OWN)),
        answers=AnswersSettings(acknowledge=("sms",)),
        outbound=OutboundSettings(backoff_base_s=0.05, backoff_max_s=0.2, poll_s=0.05,
                                  send_timeout_s=5, max_attempts=4),
    ), port=port)


async def _by_twilio(client: Client, body: str) -> None:
    params = [("MessageSid", "SM" + uuid.uuid4().hex), ("AccountSid", ACCOUNT),
              ("From", ON_TWILIO), ("To", TWILIO_NUMBER), ("Body", body), ("NumMedia", "0")]
    url = str(client.make_url("/webhooks/sms/twilio"))
    response = await client.post("/webhooks/sms/twilio", data=urlencode(params), headers={
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": twilio_signature(TWILIO_TOKEN, url, params)})
    assert response.status == 200, await response.text()


async def _by_vonage(client: Client, body: str) -> None:
    params = {"msisdn": ON_VONAGE.removeprefix("+"), "to": VONAGE_NUMBER,
              "messageId": uuid.uuid4().hex[:16], "text": body, "type": "text",
              "keyword": body.split()[0].upper(), "api-key": VONAGE_API_KEY,
              "message-timestamp": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"),
              "timestamp": str(int(time.time())), "nonce": str(uuid.uuid4())}
    params["sig"] = vonage_signature(params, VONAGE_SIGNATURE, "md5hash")
    response = await client.post("/webhooks/sms/vonage", json=params)
    assert response.status == 200, await response.text()


async def _by_generic(client: Client, body: str) -> None:
    raw = json.dumps({"message_id": uuid.uuid4().hex, "from": ON_GENERIC,
                      "to": GENERIC_NUMBER, "text": body}).encode()
    t = int(time.time())
    digest = hmac.new(GENERIC_SECRET.encode(), str(t).encode() + b"." + raw, hashlib.sha256)
    response = await client.post("/webhooks/sms/generic", data=raw, headers={
        "Content-Type": "application/json",
        "X-TaxiConnect-Signature": f"t={t},v1={digest.hexdigest()}"})
    assert response.status == 200, await response.text()


async def _request_of(agent: Dispatcher, phone: str) -> str:
    async def probe() -> str | None:
        for found in await agent.open_requests():
            detail = await agent.request(found["id"])
            if phone in detail["contact"]["phones"]:
                return str(found["id"])
        return None
    return await eventually(probe, what=f"the request of {phone}")


def _twilio_sends(twilio: FakeTwilio) -> list[tuple[str, str]]:
    return [(r.data["To"], r.data["From"]) for r in twilio.received]


def _vonage_sends(vonage: FakeVonage) -> list[tuple[str, str]]:
    return [(r.data["to"], r.data["from"]) for r in vonage.received]


def _generic_sends(generic: FakeGenericGateway) -> list[tuple[str, str]]:
    return [(r.data["to"], r.data.get("from", "")) for r in generic.received]


async def test_each_passenger_is_answered_through_their_own_gateway_and_number(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    async with FakeTwilio(account_sid=ACCOUNT, auth_token=TWILIO_TOKEN) as twilio, \
            FakeVonage() as vonage, FakeGenericGateway() as generic:
        client = await _hub(hub, settings, twilio, vonage, generic)
        agent = await dispatcher(client)
        await _by_twilio(client, "Taksi Kamppiin")
        await _by_vonage(client, "Taksi Kallioon")
        await _by_generic(client, "Taksi asemalle")

        async def acknowledged() -> bool | None:  # one acknowledgement each
            return True if len(twilio.received) + len(vonage.received) + len(
                generic.received) >= 3 else None
        await eventually(acknowledged, what="three acknowledgements")
        for phone, text in ((ON_TWILIO, "Auto tulee"), (ON_VONAGE, "Auto tulee"),
                            (ON_GENERIC, "Auto tulee")):
            request_id = await _request_of(agent, phone)
            status, _ = await agent.reply(request_id, text, f"k-{phone}")
            assert status == 201
            await agent.wait_for_reply(request_id, "sent")

        async def two_each() -> bool | None:  # an acknowledgement and a reply, each
            counts = (len(twilio.received), len(vonage.received), len(generic.received))
            return True if min(counts) >= 2 else None
        await eventually(two_each, what="two sends through each gateway")
        assert _twilio_sends(twilio) == [(ON_TWILIO, TWILIO_NUMBER)] * 2
        assert _vonage_sends(vonage) == [(ON_VONAGE.removeprefix("+"), VONAGE_NUMBER)] * 2
        assert _generic_sends(generic) == [(ON_GENERIC, GENERIC_NUMBER)] * 2

        # The same three as members of a staff group: each gets the group message through
        # the gateway they text through, from that gateway's own configured number (a group
        # message starts no conversation, so not from a number they texted).
        admin = await dispatcher(client, role=Role.ADMIN)
        async with admin.http.post(f"{admin.base}/api/v1/admin/groups",
                                   json={"name": "Yövuoro"}) as resp:
            group = (await resp.json())["group"]
        csv = "\n".join(f"Kuljettaja {n};{phone};" for n, phone in
                        enumerate((ON_TWILIO, ON_VONAGE, ON_GENERIC)))
        async with admin.http.post(
                f"{admin.base}/api/v1/admin/groups/{group['id']}/members/import",
                json={"csv": csv}) as resp:
            assert resp.status == 200, await resp.text()
        async with agent.http.post(f"{agent.base}/api/v1/groups/{group['id']}/messages", json={
                "body": "Lumimyrsky: autot lentoasemalle.", "channels": ["sms"],
                "client_key": "storm-gw"}) as resp:
            assert resp.status == 201, await resp.text()

        async def all_sent() -> bool | None:
            return True if len(twilio.received) + len(vonage.received) + len(
                generic.received) >= 9 else None
        await eventually(all_sent, what="the group message to all three")
        assert _twilio_sends(twilio)[2:] == [(ON_TWILIO, TWILIO_OWN)]
        assert _vonage_sends(vonage)[2:] == [(ON_VONAGE.removeprefix("+"), VONAGE_OWN)]
        assert _generic_sends(generic)[2:] == [(ON_GENERIC, GENERIC_OWN)]
        assert [r.data["Body"] for r in twilio.received[2:]] \
            + [r.data["text"] for r in (*vonage.received[2:], *generic.received[2:])] \
            == ["Lumimyrsky: autot lentoasemalle."] * 3


async def test_a_service_notice_answers_each_passenger_through_their_own_gateway(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    notice = {"text_fi": "Lumimyrsky: odotusajat ovat tavallista pidempiä.",
              "text_en": "Snowstorm: waiting times are longer than usual.",
              "channels": ["sms"]}
    async with FakeTwilio(account_sid=ACCOUNT, auth_token=TWILIO_TOKEN) as twilio, \
            FakeVonage() as vonage, FakeGenericGateway() as generic:
        client = await _hub(hub, settings, twilio, vonage, generic)
        agent = await dispatcher(client)
        async with agent.http.post(f"{agent.base}/api/v1/notices", json=notice) as resp:
            assert resp.status == 201, await resp.text()
        await _by_twilio(client, "Tarvitsen taksin Kamppiin")
        await _by_vonage(client, "Tarvitsen taksin Kallioon")
        await _by_generic(client, "Tarvitsen taksin asemalle")
        # Each is answered with the notice (instead of an acknowledgement), sent.
        for phone in (ON_TWILIO, ON_VONAGE, ON_GENERIC):
            await agent.wait_for_reply(await _request_of(agent, phone), "sent",
                                       body=notice["text_fi"])
        assert [(*sent, r.data["Body"]) for sent, r in
                zip(_twilio_sends(twilio), twilio.received, strict=True)] \
            == [(ON_TWILIO, TWILIO_NUMBER, notice["text_fi"])]
        assert [(*sent, r.data["text"]) for sent, r in
                zip(_vonage_sends(vonage), vonage.received, strict=True)] \
            == [(ON_VONAGE.removeprefix("+"), VONAGE_NUMBER, notice["text_fi"])]
        assert [(*sent, r.data["text"]) for sent, r in
                zip(_generic_sends(generic), generic.received, strict=True)] \
            == [(ON_GENERIC, GENERIC_NUMBER, notice["text_fi"])]
