"""Automatic first answers: a new request is acknowledged with its reference and the
estimated wait (by SMS through a local Twilio API, in the web form's confirmation); one that
comes while its lane is closed gets the out-of-hours answer and becomes a callback request
due at the lane's next opening."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
from aiohttp.test_utils import TestClient

from hub.model import Role
from hub.settings import (
    AnswersSettings,
    ChannelsSettings,
    HttpSettings,
    Secret,
    Settings,
    SmsSettings,
    TwilioSettings,
)
from tests.conftest import DispatcherFactory, HubFactory, free_port, server_url
from tests.gateways import FakeTwilio, twilio_signature
from tests.helpers import Dispatcher, eventually, http_session, submit

TOKEN = "twilio-answers-token"
ACCOUNT = "AC" + "5" * 32
HELSINKI = ZoneInfo("Europe/Helsinki")


async def _hub(hub: HubFactory, settings: Settings,
               twilio: FakeTwilio) -> tuple[TestClient[Any, Any], str]:
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    client = await hub(dataclasses.replace(
        settings, http=HttpSettings(public_url=public),
        channels=ChannelsSettings(enabled=("webform", "twilio_sms")),
        answers=AnswersSettings(acknowledge=("sms", "webform")),
        sms=SmsSettings(twilio=TwilioSettings(
            auth_token=Secret(TOKEN), account_sid=ACCOUNT, from_number="+358400000000",
            api_url=twilio.url))), port=port)
    return client, public


async def _sms(http: aiohttp.ClientSession, public: str, sid: str, sender: str,
               text: str) -> None:
    form = [("MessageSid", sid), ("From", sender), ("To", "+358400000000"), ("Body", text),
            ("AccountSid", ACCOUNT)]
    url = f"{public}/webhooks/sms/twilio"
    async with http.post(url, data=form, headers={
            "X-Twilio-Signature": twilio_signature(TOKEN, url, form)}) as resp:
        assert resp.status == 200, await resp.text()


async def _texts_to(twilio: FakeTwilio, number: str, count: int) -> list[str]:
    async def sent() -> list[str] | None:
        found = [m.text for m in twilio.messages.values() if m.to == number]
        return found if len(found) >= count else None
    return await eventually(sent, what=f"{count} texts to the passenger")


async def test_new_requests_are_acknowledged_with_reference_and_wait_once(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    async with FakeTwilio(account_sid=ACCOUNT, auth_token=TOKEN) as twilio, \
            http_session() as passenger:
        client, public = await _hub(hub, settings, twilio)
        anna = await dispatcher(client, name="Anna")
        taken = await submit(passenger, server_url(client), "ack-history-1",
                             phone="040 888 0001")
        assert taken["answer"].startswith("Kiitos yhteydenotostasi. Viitteesi on "
                                          f"{taken['reference']}.")
        # Nothing taken yet to estimate from: no wait sentence, not "odotusaika ei arviota".
        assert taken["answer"] == (f"Kiitos yhteydenotostasi. Viitteesi on "
                                   f"{taken['reference']}.")
        await anna.wait_for_status(taken["id"], "queued")
        async with anna.http.post(f"{anna.base}/api/v1/requests/{taken['id']}/claim") as r:
            assert r.status == 200  # taken at once: the lane's waits are now short

        # The estimate is kept for a few seconds (hub.answer_book): a later passenger's
        # acknowledgement reflects the claim once it is re-read.
        tries = iter(range(100))

        async def acknowledged_short() -> dict[str, Any] | None:
            n = next(tries)
            found = await submit(passenger, server_url(client), f"ack-history-2-{n}",
                                 phone=f"040 888 1{n:03d}", language="en")
            return found if "under a minute" in found["answer"] else None

        english = await eventually(acknowledged_short, what="an estimate after the claim")
        assert english["answer"] == (f"Thank you for contacting us. Your reference is "
                                     f"{english['reference']}. Estimated wait under a minute.")

        await _sms(passenger, public, "SM" + "a" * 32, "+358408880003", "Taksi Kamppiin")
        await _sms(passenger, public, "SM" + "b" * 32, "+358408880003", "Kahdelle hengelle")
        [ack] = await _texts_to(twilio, "+358408880003", 1)
        request = next(r for r in await anna.open_requests() if r["channel"] == "sms")
        assert ack == (f"Kiitos yhteydenotostasi. Viitteesi on {request['reference']}. "
                       "Arvioitu odotusaika alle minuutti.")
        await asyncio.sleep(1.0)  # the follow-up message's chance to be (wrongly) answered
        assert len([m for m in twilio.messages.values() if m.to == "+358408880003"]) == 1
        detail = await anna.request(request["id"])
        auto = [m for m in detail["messages"] if m["direction"] == "outbound"]
        assert auto[0]["details"]["auto_answer"] == "acknowledgement"
        assert detail["timings"]["first_response_at"] is None  # a person has not answered


async def test_out_of_hours_contact_gets_the_answer_and_becomes_a_callback(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    async with FakeTwilio(account_sid=ACCOUNT, auth_token=TOKEN) as twilio, \
            http_session() as passenger:
        client, public = await _hub(hub, settings, twilio)
        admin = await dispatcher(client, role=Role.ADMIN, name="Admin")
        today = datetime.now(HELSINKI).date()
        tomorrow = today + timedelta(days=1)
        every_day = {day: [["07:00", "22:00"]]
                     for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
        await _close_default_lane(admin, {"timezone": "Europe/Helsinki", "week": every_day,
                                          "closed_dates": [today.isoformat()]})

        await _sms(passenger, public, "SM" + "c" * 32, "+358408880004", "Taksi huomenna?")
        [answer] = await _texts_to(twilio, "+358408880004", 1)
        request = next(r for r in await admin.open_requests() if r["channel"] == "sms")
        opens = datetime(tomorrow.year, tomorrow.month, tomorrow.day, 7, tzinfo=HELSINKI)
        assert answer.startswith("Olemme nyt kiinni. Soitamme sinulle, kun avaamme (")
        assert f"{opens.day}.{opens.month}. klo 7.00" in answer
        assert answer.endswith(f"Viite {request['reference']}.")
        details = request["details"]
        assert details["out_of_hours"] == "true" and details["callback"] == "true"
        assert datetime.fromisoformat(details["callback_due_at"]) == opens
        assert details["callback_number"] == "+358408880004"
        form = await submit(passenger, server_url(client), "ooh-form-1", phone="040 888 0005")
        assert form["answer"].startswith("Olemme nyt kiinni.")


async def test_swedish_passengers_are_answered_in_swedish(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    """A message written in Swedish gets the Swedish acknowledgement, and, with the lane
    closed, the Swedish out-of-hours answer with the opening as a Finland-Swede reads it."""
    async with FakeTwilio(account_sid=ACCOUNT, auth_token=TOKEN) as twilio, \
            http_session() as passenger:
        client, public = await _hub(hub, settings, twilio)
        admin = await dispatcher(client, role=Role.ADMIN, name="Admin")
        await _sms(passenger, public, "SM" + "d" * 32, "+358408880006",
                   "Hej! Jag behöver en taxi till flygplatsen genast.")
        [ack] = await _texts_to(twilio, "+358408880006", 1)
        request = next(r for r in await admin.open_requests() if r["channel"] == "sms")
        assert ack == (f"Tack för att du kontaktade oss. Ditt referensnummer är "
                       f"{request['reference']}.")  # nothing taken yet: no wait sentence
        form = await submit(passenger, server_url(client), "ack-swedish-1",
                            phone="040 888 0007", language="sv")
        assert form["answer"] == (f"Tack för att du kontaktade oss. Ditt referensnummer är "
                                  f"{form['reference']}.")

        today = datetime.now(HELSINKI).date()
        tomorrow = today + timedelta(days=1)
        every_day = {day: [["07:00", "22:00"]]
                     for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
        await _close_default_lane(admin, {"timezone": "Europe/Helsinki", "week": every_day,
                                          "closed_dates": [today.isoformat()]})
        await _sms(passenger, public, "SM" + "e" * 32, "+358408880008",
                   "Kan ni hämta mig på Åbovägen i morgon?")
        [closed] = await _texts_to(twilio, "+358408880008", 1)
        day = ("mån", "tis", "ons", "tors", "fre", "lör", "sön")[tomorrow.weekday()]
        later = next(r for r in await admin.open_requests()
                     if r["channel"] == "sms" and r["id"] != request["id"])
        assert closed == (f"Vi har stängt nu. Vi ringer upp dig när vi öppnar "
                          f"({day} {tomorrow.day}.{tomorrow.month}. kl. 7.00). "
                          f"Referens {later['reference']}.")


async def _close_default_lane(admin: Dispatcher, hours: dict[str, Any]) -> None:
    lane = {"name_fi": "Yleinen", "name_en": "General", "opening_hours": hours}
    async with admin.http.put(f"{admin.base}/api/v1/admin/lanes/default", json=lane) as resp:
        assert resp.status == 200, await resp.text()
