"""An announcement-only notice answered in the passenger's language where the answer is
text: Twilio's SMS answer (TwiML <Message>) in the language the SMS reads as, Swedish
included, Finnish and English when it gives no clue; the generic gateway's JSON answer with
"fi", "sv" and "en", as the OpenAPI documents it."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import time
from typing import Any
from xml.etree import ElementTree

import jsonschema
from aiohttp.test_utils import TestClient

from hub.settings import (
    ChannelsSettings,
    GenericSmsSettings,
    HttpSettings,
    Secret,
    Settings,
    SmsSettings,
    TwilioSettings,
)
from tests.conftest import DispatcherFactory, HubFactory, free_port
from tests.gateways import twilio_signature
from tests.helpers import Dispatcher

Client = TestClient[Any, Any]

TOKEN, ACCOUNT = "twilio-announce-token", "AC" + "6" * 32
GENERIC_SECRET = "whsec_announce"
COMPANY = "+358400000000"
SWEDISH = "Storm: vi tar inte emot beställningar nu."
NOTICE = {"text_fi": "Myrsky: emme ota tilauksia vastaan nyt.",
          "text_en": "Storm: we take no orders now.", "text_sv": SWEDISH,
          "channels": ["phone", "sms", "webform"], "announcement_only": True}


async def _hub(hub: HubFactory, settings: Settings) -> Client:
    port = free_port()
    return await hub(dataclasses.replace(
        settings, channels=ChannelsSettings(enabled=("webform", "twilio_sms", "generic_sms")),
        http=HttpSettings(public_url=f"http://127.0.0.1:{port}"),
        sms=SmsSettings(twilio=TwilioSettings(auth_token=Secret(TOKEN), account_sid=ACCOUNT),
                        generic=GenericSmsSettings(signing_secret=Secret(GENERIC_SECRET)))),
        port=port)


async def _publish(agent: Dispatcher, **change: Any) -> str:
    async with agent.http.post(f"{agent.base}/api/v1/notices",
                               json={**NOTICE, **change}) as resp:
        assert resp.status == 201, await resp.text()
        return str((await resp.json())["notice"]["id"])


async def _twilio_sms(client: Client, sid: str, sender: str, text: str) -> str | None:
    """What Twilio would send back to the passenger: the answer's <Message>, if any."""
    form = [("AccountSid", ACCOUNT), ("MessageSid", sid), ("From", sender), ("To", COMPANY),
            ("Body", text)]
    url = str(client.make_url("/webhooks/sms/twilio"))
    async with client.post("/webhooks/sms/twilio", data=form, headers={
            "X-Twilio-Signature": twilio_signature(TOKEN, url, form)}) as resp:
        assert resp.status == 200, await resp.text()
        return ElementTree.fromstring(await resp.text()).findtext("Message")


async def _generic_sms(client: Client, key: str, text: str) -> tuple[int, Any]:
    raw = json.dumps({"message_id": key, "from": "+358401230001", "to": COMPANY,
                      "text": text}).encode()
    t = int(time.time())
    digest = hmac.new(GENERIC_SECRET.encode(), str(t).encode() + b"." + raw, hashlib.sha256)
    async with client.post("/webhooks/sms/generic", data=raw, headers={
            "Content-Type": "application/json",
            "X-TaxiConnect-Signature": f"t={t},v1={digest.hexdigest()}"}) as resp:
        return resp.status, await resp.json()


async def test_an_sms_is_answered_with_the_notice_in_the_language_it_reads_as(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    client = await _hub(hub, settings)
    anna = await dispatcher(client, name="Anna")
    notice_id = await _publish(anna)

    said = {sender: await _twilio_sms(client, "SM" + f"{n:032x}", sender, text)
            for n, (sender, text) in enumerate([
                ("+358401230010", "Hej, jag behöver en taxi till flygplatsen"),
                ("+358401230011", "Hi, I need a cab to the airport please"),
                ("+447700900012", "Tarvitsen taksin Kamppiin, kiitos"),
                ("+358401230013", "Mannerheimintie 5"),  # no clue: both, Finnish first
                ("+447700900014", "Mannerheimintie 5")])}
    assert said == {"+358401230010": SWEDISH,
                    "+358401230011": NOTICE["text_en"],
                    "+447700900012": NOTICE["text_fi"],
                    "+358401230013": f"{NOTICE['text_fi']}\n\n{NOTICE['text_en']}",
                    "+447700900014": f"{NOTICE['text_en']}\n\n{NOTICE['text_fi']}"}

    # Without a Swedish text a Swedish SMS gets the Finnish one, as every notice answer does.
    async with anna.http.post(f"{anna.base}/api/v1/notices/{notice_id}/end") as resp:
        assert resp.status == 200
    await _publish(anna, text_sv="")
    assert await _twilio_sms(client, "SM" + "f" * 32, "+358401230015",
                             "Hej, jag behöver en taxi till flygplatsen") == NOTICE["text_fi"]


async def test_the_generic_gateways_json_answer_carries_swedish_as_documented(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    client = await _hub(hub, settings)
    anna = await dispatcher(client, name="Anna")
    async with client.get("/api/openapi.json") as resp:
        spec = await resp.json()
    notice_id = await _publish(anna)

    status, answer = await _generic_sms(client, "announce-generic-1", "Hej, en taxi tack")
    assert status == 200
    assert answer == {"status": "announced", "notice": {
        "fi": NOTICE["text_fi"], "sv": SWEDISH, "en": NOTICE["text_en"]}}
    _fits(spec, "/webhooks/sms/generic", answer)

    async with anna.http.post(f"{anna.base}/api/v1/notices/{notice_id}/end") as resp:
        assert resp.status == 200
    await _publish(anna, text_sv="")
    status, answer = await _generic_sms(client, "announce-generic-2", "Hej, en taxi tack")
    assert status == 200 and answer["notice"]["sv"] == NOTICE["text_fi"]  # what sv speakers get
    _fits(spec, "/webhooks/sms/generic", answer)


def _fits(spec: dict[str, Any], path: str, body: Any) -> None:
    schema = spec["paths"][path]["post"]["responses"]["200"]["content"]["application/json"]
    jsonschema.validate(body, {**schema["schema"], "components": spec["components"]},
                        cls=jsonschema.Draft202012Validator)
