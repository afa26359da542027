"""Service notices on the phone: a Twilio call's Voice URL answer speaks the notice in
Finnish, Swedish (when the notice has it) and English once per passenger, then continues to
the company's call flow; in announcement-only mode the call hears it and hangs up, and
nothing about it is stored. The generic CTI webhook answers newCall with the notice for the
PBX to play."""

from __future__ import annotations

import dataclasses
from typing import Any
from urllib.parse import urlencode
from xml.etree import ElementTree

from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from hub import schema
from hub.appkeys import DATABASE
from hub.settings import (
    ChannelsSettings,
    HttpSettings,
    PhoneSettings,
    Secret,
    Settings,
    SmsSettings,
    TwilioSettings,
)
from tests.conftest import DispatcherFactory, HubFactory, free_port
from tests.gateways import twilio_signature
from tests.helpers import Dispatcher

TOKEN = "twilio-voice-notice-token"
ACCOUNT = "AC" + "4" * 32
COMPANY = "+358912345678"
FLOW = "https://ivr.taxi.example/twiml/queue"
CTI_SECRET = "cti-notice-secret"
NOTICE = {"text_fi": "Järjestelmähäiriö: tilaukset vain puhelimitse.",
          "text_en": "System outage: orders by phone only.", "channels": ["phone"]}


async def _hub(hub: HubFactory, settings: Settings) -> TestClient[Any, Any]:
    port = free_port()
    return await hub(dataclasses.replace(
        settings, channels=ChannelsSettings(enabled=("webform", "twilio_voice", "phone_cti")),
        http=HttpSettings(public_url=f"http://127.0.0.1:{port}"),
        phone=PhoneSettings(twilio_flow_url=FLOW, cti_secret=Secret(CTI_SECRET)),
        sms=SmsSettings(twilio=TwilioSettings(auth_token=Secret(TOKEN), account_sid=ACCOUNT))),
        port=port)


async def _call(client: TestClient[Any, Any], sid: str, status: str,
                caller: str) -> ElementTree.Element:
    params = [("AccountSid", ACCOUNT), ("CallSid", sid), ("CallStatus", status),
              ("Direction", "inbound"), ("From", caller), ("To", COMPANY)]
    url = str(client.make_url("/webhooks/phone/twilio"))
    async with client.post("/webhooks/phone/twilio", data=urlencode(params), headers={
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": twilio_signature(TOKEN, url, params),
    }) as resp:
        assert resp.status == 200, await resp.text()
        assert resp.content_type == "text/xml"
        return ElementTree.fromstring(await resp.text())


def _said(twiml: ElementTree.Element) -> list[tuple[str | None, str | None]]:
    return [(say.get("language"), say.text) for say in twiml.iter("Say")]


async def _publish(agent: Dispatcher, **change: Any) -> None:
    async with agent.http.post(f"{agent.base}/api/v1/notices",
                               json={**NOTICE, **change}) as resp:
        assert resp.status == 201, await resp.text()


async def _count(client: TestClient[Any, Any], table: Any) -> int:
    async with client.app[DATABASE].read() as conn:
        return int(await conn.scalar(select(func.count()).select_from(table)) or 0)


async def test_a_call_hears_the_notice_once_then_goes_on_to_the_call_flow(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    client = await _hub(hub, settings)
    anna = await dispatcher(client, name="Anna")
    quiet = await _call(client, "CA" + "0" * 32, "ringing", "+358401110000")
    assert _said(quiet) == [] and quiet.findtext("Redirect") == FLOW  # no notice yet

    await _publish(anna)
    first = await _call(client, "CA" + "1" * 32, "ringing", "+358401110001")
    assert _said(first) == [("fi-FI", NOTICE["text_fi"]), ("en-GB", NOTICE["text_en"])]
    assert first.findtext("Redirect") == FLOW and first.find("Hangup") is None
    ended = await _call(client, "CA" + "1" * 32, "completed", "+358401110001")
    assert len(ended) == 0  # status callbacks get empty TwiML

    again = await _call(client, "CA" + "2" * 32, "ringing", "+358401110001")
    assert _said(again) == [] and again.findtext("Redirect") == FLOW  # once per passenger
    foreign = await _call(client, "CA" + "3" * 32, "ringing", "+447700900002")
    assert [lang for lang, _ in _said(foreign)] == ["en-GB", "fi-FI"]
    assert await _count(client, schema.calls) == 4


async def test_announcement_only_answers_and_stores_nothing_about_the_caller(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    client = await _hub(hub, settings)
    anna = await dispatcher(client, name="Anna")
    before = await _call(client, "CA" + "5" * 32, "ringing", "+358401110005")  # in progress
    await _publish(anna, announcement_only=True)
    counts = {t.name: await _count(client, t) for t in
              (schema.calls, schema.contacts, schema.contact_identities,
               schema.contact_requests, schema.messages, schema.notice_answers)}

    caller = "+358401110006"
    answer = await _call(client, "CA" + "6" * 32, "ringing", caller)
    assert _said(answer) == [("fi-FI", NOTICE["text_fi"]), ("en-GB", NOTICE["text_en"])]
    assert answer.find("Hangup") is not None and answer.find("Redirect") is None
    assert len(await _call(client, "CA" + "6" * 32, "completed", caller)) == 0
    status, cti = await _cti(client, event="newCall", callId="cti-announce-1",
                             **{"from": "0401110007", "to": "0912345678", "direction": "in"})
    assert status == 200 and cti["action"] == "announce" and cti["hangup"] is True
    assert [t["language"] for t in cti["texts"]] == ["fi", "en"]
    await _cti(client, event="hangup", callId="cti-announce-1", cause="normalClearing",
               **{"from": "0401110007", "to": "0912345678", "direction": "in"})

    after = {t.name: await _count(client, t) for t in
             (schema.calls, schema.contacts, schema.contact_identities,
              schema.contact_requests, schema.messages, schema.notice_answers)}
    assert after == counts
    async with client.app[DATABASE].read() as conn:
        numbers = set((await conn.execute(select(schema.contact_identities.c.value))).scalars())
    assert caller not in numbers and "+358401110007" not in numbers
    # The call already in progress when the notice came is still recorded to its end.
    assert _said(before) == []
    await _call(client, "CA" + "5" * 32, "completed", "+358401110005")
    async with client.app[DATABASE].read() as conn:
        state = await conn.scalar(select(schema.calls.c.state).where(
            schema.calls.c.call_key == "CA" + "5" * 32))
    assert state != "ringing"


async def _cti(client: TestClient[Any, Any], **fields: Any) -> tuple[int, Any]:
    async with client.post("/webhooks/phone/cti", json=fields,
                           headers={"X-CTI-Token": CTI_SECRET}) as resp:
        return resp.status, await resp.json()


async def test_generic_cti_gets_the_notice_on_new_call_once(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    client = await _hub(hub, settings)
    anna = await dispatcher(client, name="Anna")
    await _publish(anna)
    call = {"from": "0401110008", "to": "0912345678", "direction": "in"}
    status, answer = await _cti(client, event="newCall", callId="cti-notice-1", **call)
    assert status == 200 and answer["action"] == "announce" and answer["hangup"] is False
    assert answer["texts"][0] == {"language": "fi", "text": NOTICE["text_fi"]}
    status, answer = await _cti(client, event="newCall", callId="cti-notice-2", **call)
    assert (status, answer) == (200, {})


SWEDISH = "Systemfel: beställningar endast per telefon."


async def test_a_notice_in_swedish_too_is_spoken_finnish_swedish_english(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    client = await _hub(hub, settings)
    anna = await dispatcher(client, name="Anna")
    await _publish(anna, text_sv=SWEDISH)
    finnish = await _call(client, "CA" + "7" * 32, "ringing", "+358401110010")
    assert _said(finnish) == [("fi-FI", NOTICE["text_fi"]), ("sv-SE", SWEDISH),
                              ("en-GB", NOTICE["text_en"])]
    assert finnish.findtext("Redirect") == FLOW
    swede = await _call(client, "CA" + "8" * 32, "ringing", "+46701234567")
    assert [lang for lang, _ in _said(swede)] == ["sv-SE", "fi-FI", "en-GB"]
    foreign = await _call(client, "CA" + "9" * 32, "ringing", "+447700900011")
    assert [lang for lang, _ in _said(foreign)] == ["en-GB", "fi-FI", "sv-SE"]

    status, cti = await _cti(client, event="newCall", callId="cti-notice-sv",
                             **{"from": "0401110012", "to": "0912345678", "direction": "in"})
    assert status == 200 and cti["action"] == "announce"
    assert cti["texts"] == [{"language": "fi", "text": NOTICE["text_fi"]},
                            {"language": "sv", "text": SWEDISH},
                            {"language": "en", "text": NOTICE["text_en"]}]


async def test_announcement_only_in_swedish_too_hangs_up_after_the_three(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    client = await _hub(hub, settings)
    anna = await dispatcher(client, name="Anna")
    await _publish(anna, text_sv=SWEDISH, announcement_only=True)
    answer = await _call(client, "CA" + "a" * 32, "ringing", "+358401110013")
    assert _said(answer) == [("fi-FI", NOTICE["text_fi"]), ("sv-SE", SWEDISH),
                             ("en-GB", NOTICE["text_en"])]
    assert answer.find("Hangup") is not None and answer.find("Redirect") is None
    assert await _count(client, schema.calls) == 0
