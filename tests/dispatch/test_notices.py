"""Service notices: while one is active every passenger who gets in touch by SMS, email, chat
or the web form gets it once, over their own channel (a local Twilio API, a local SMTP relay,
the chat socket, the form's answer); a second contact does not, an auto-reply mail never
does, and consoles hear the notice published and ended."""

from __future__ import annotations

import asyncio
import dataclasses
import smtplib
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient

from channels.email.channel import EmailChannel
from dispatch.appkeys import ADAPTERS
from hub.model import Role
from hub.settings import (
    ChannelsSettings,
    EmailSettings,
    HttpSettings,
    Secret,
    Settings,
    SmsSettings,
    SmtpListenerSettings,
    SmtpRelaySettings,
    TwilioSettings,
)
from tests.chat_site import ORIGIN, chat_settings, open_widget
from tests.conftest import DispatcherFactory, HubFactory, free_port, server_url
from tests.gateways import FakeTwilio, twilio_signature
from tests.helpers import Dispatcher, eventually, http_session, submit
from tests.smtp_sink import SmtpSink

TOKEN = "twilio-notice-token"
ACCOUNT = "AC" + "3" * 32
COMPANY = "taksi@taxi.example"
NOTICE = {"text_fi": "Lumimyrsky: odotusajat ovat tavallista pidempiä.",
          "text_en": "Snowstorm: waiting times are longer than usual.",
          "channels": ["sms", "email", "chat", "webform"]}


async def _hub(hub: HubFactory, settings: Settings, twilio: FakeTwilio,
               sink: SmtpSink) -> tuple[TestClient[Any, Any], str]:
    port = free_port()
    changed = dataclasses.replace(
        chat_settings(settings),
        http=HttpSettings(public_url=f"http://127.0.0.1:{port}"),
        channels=ChannelsSettings(enabled=("webform", "chat", "twilio_sms", "email")),
        sms=SmsSettings(twilio=TwilioSettings(
            auth_token=Secret(TOKEN), account_sid=ACCOUNT, from_number="+358400000000",
            api_url=twilio.url)),
        email=EmailSettings(
            address=COMPANY, reply_token_secret=Secret("notice-reply-secret"),
            smtp=SmtpListenerSettings(port=0, domains=("taxi.example",)),
            relay=SmtpRelaySettings(host="127.0.0.1", port=sink.port, security="none")))
    return await hub(changed, port=port), f"http://127.0.0.1:{port}"


async def _sms(http: aiohttp.ClientSession, base: str, sid: str, sender: str,
               text: str) -> None:
    form = [("MessageSid", sid), ("From", sender), ("To", "+358400000000"), ("Body", text),
            ("AccountSid", ACCOUNT)]
    url = f"{base}/webhooks/sms/twilio"
    async with http.post(url, data=form, headers={
            "X-Twilio-Signature": twilio_signature(TOKEN, url, form)}) as resp:
        assert resp.status == 200, await resp.text()


async def _mail(client: TestClient[Any, Any], sender: str, body: str,
                **headers: str) -> None:
    channel = client.app[ADAPTERS]["email"]
    assert isinstance(channel, EmailChannel) and channel.smtp_port
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = sender, COMPANY, "Taksi huomenna"
    mail["Message-ID"] = make_msgid(domain="example.fi")
    for name, value in headers.items():
        mail[name.replace("_", "-")] = value
    mail.set_content(body)

    def send() -> None:
        with smtplib.SMTP("127.0.0.1", channel.smtp_port, timeout=10) as smtp:
            smtp.send_message(mail)
    await asyncio.to_thread(send)


async def _publish(agent: Dispatcher, notice: dict[str, Any]) -> dict[str, Any]:
    async with agent.http.post(f"{agent.base}/api/v1/notices", json=notice) as resp:
        body = await resp.json()
        assert resp.status == 201, body
        return dict(body["notice"])


async def test_an_active_notice_answers_every_channel_once_per_passenger(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    async with FakeTwilio(account_sid=ACCOUNT, auth_token=TOKEN) as twilio, \
            SmtpSink() as sink, http_session() as passenger:
        client, public = await _hub(hub, settings, twilio, sink)
        base = server_url(client)
        anna = await dispatcher(client, name="Anna")
        console = await anna.console()
        notice = await _publish(anna, NOTICE)
        published = await console.until(lambda e: e["type"] == "notice.published")
        assert published[-1]["notice"]["id"] == notice["id"]

        # Web form: the notice is in the confirmation, once.
        first = await submit(passenger, base, "notice-form-1", phone="040 777 0001",
                             language="fi")
        assert first["notice"] == NOTICE["text_fi"]
        again = await submit(passenger, base, "notice-form-2", phone="040 777 0001")
        assert again["notice"] is None
        # SMS: an English text gets the English notice by SMS, once.
        await _sms(passenger, public, "SM" + "1" * 32, "+447700900001",
                   "Hello, I need a taxi to the airport please")
        await _sms(passenger, public, "SM" + "2" * 32, "+447700900001", "Are you there?")
        # Email: the notice as an auto-reply; an auto-reply from the passenger gets nothing.
        await _mail(client, "maija@example.fi", "Tarvitsen taksin huomenna klo 6.")
        await _mail(client, "maija@example.fi", "Ja takaisin klo 18.")
        await _mail(client, "lomalla@example.fi", "Olen lomalla 2.1. asti.",
                    Auto_Submitted="auto-replied")
        # Chat: the notice arrives in the widget, once.
        widget = await open_widget(passenger, base, ORIGIN)
        await widget.say("Hei, tarvitsen taksin")
        line = await widget.next("message")
        assert line["text"] == NOTICE["text_fi"]
        await widget.say("Kamppiin")
        assert [f for f in await widget.quiet(1.0) if f["type"] == "message"] == []

        async def sms_sent() -> list[Any] | None:
            return list(twilio.messages.values()) or None
        [sms] = await eventually(sms_sent, what="the notice by SMS")
        assert sms.to == "+447700900001" and sms.text == NOTICE["text_en"]

        async def mailed() -> list[Any] | None:
            return list(sink.delivered) or None
        [mail] = await eventually(mailed, what="the notice by email")
        assert mail.rcpt_tos == ("maija@example.fi",)
        assert mail.message["Auto-Submitted"] == "auto-replied"
        assert NOTICE["text_fi"] in mail.message.get_content()

        await asyncio.sleep(1.0)  # the second contacts' chance to be (wrongly) answered
        assert len(twilio.messages) == 1 and len(sink.delivered) == 1

        async with anna.http.post(
                f"{anna.base}/api/v1/notices/{notice['id']}/end") as resp:
            assert resp.status == 200
        await console.until(lambda e: e["type"] == "notice.ended")
        later = await submit(passenger, base, "notice-form-3", phone="040 777 0002")
        assert later["notice"] is None
        async with anna.http.get(f"{anna.base}/api/v1/notices") as resp:
            listed = await resp.json()
        assert listed["active"] == [] and listed["history"][0]["ended_at"] is not None


async def test_swedish_speakers_get_the_swedish_text_or_the_finnish_without_one(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    async with FakeTwilio(account_sid=ACCOUNT, auth_token=TOKEN) as twilio, \
            SmtpSink() as sink, http_session() as passenger:
        client, public = await _hub(hub, settings, twilio, sink)
        base = server_url(client)
        anna = await dispatcher(client, name="Anna")
        swedish = "Snöstorm: väntetiderna är längre än vanligt."
        notice = await _publish(anna, {**NOTICE, "text_sv": swedish})
        assert notice["text"] == {"fi": NOTICE["text_fi"], "sv": swedish,
                                  "en": NOTICE["text_en"]}

        # The hosted form in Swedish shows it on the Swedish confirmation page.
        async with passenger.post(f"{base}/form", data={
                "submission_token": "notice-sv-form-1", "phone": "040 777 0101",
                "message": "Taxi till Tölö", "language": "sv"}) as resp:
            assert resp.status == 201
            page = await resp.text()
        assert f'<p class="notice" role="alert">{swedish}</p>' in page
        assert '<html lang="sv">' in page
        # The chat widget of a Swedish page gets it over its socket.
        widget = await open_widget(passenger, base, ORIGIN, lang="sv")
        await widget.say("Hej, jag behöver en taxi")
        assert (await widget.next("message"))["text"] == swedish
        await widget.close()
        # An SMS written in Swedish gets it by SMS.
        await _sms(passenger, public, "SM" + "5" * 32, "+358407770102",
                   "Hej, jag behöver en taxi till Tölö")

        async def sms_to(number: str) -> Any:
            return next((m for m in twilio.messages.values() if m.to == number), None)
        assert (await eventually(lambda: sms_to("+358407770102"),
                                 what="the Swedish notice")).text == swedish

        # Without a Swedish text, Swedish speakers read the Finnish one.
        async with anna.http.post(f"{anna.base}/api/v1/notices/{notice['id']}/end") as resp:
            assert resp.status == 200
        plain = await _publish(anna, {**NOTICE, "text_sv": ""})
        assert plain["text"]["sv"] is None
        await _sms(passenger, public, "SM" + "6" * 32, "+358407770103",
                   "Hej, jag behöver en taxi till Tölö")
        assert (await eventually(lambda: sms_to("+358407770103"),
                                 what="the Finnish notice")).text == NOTICE["text_fi"]


async def test_publishing_checks_its_input_and_external_users_cannot(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    client = await hub(settings)
    anna = await dispatcher(client, name="Anna")
    outsider = await dispatcher(client, role=Role.EXTERNAL, name="Partner Oy")
    async with outsider.http.post(f"{outsider.base}/api/v1/notices", json=NOTICE) as resp:
        assert resp.status == 403
    for change, field in (({"text_en": ""}, "text_en"), ({"channels": ["fax"]}, "channels"),
                          ({"announcement_only": True}, "announcement_only"),
                          ({"text_sv": 7}, "text_sv"), ({"text_sv": "x" * 1001}, "text_sv"),
                          ({"lanes": ["nowhere"]}, "lanes"),
                          ({"valid_from": "2026-12-24T18:00"}, "valid_from"),
                          ({"valid_from": "2026-12-24T18:00+02:00",
                            "valid_until": "2026-12-24T17:00+02:00"}, "valid_until")):
        async with anna.http.post(f"{anna.base}/api/v1/notices",
                                  json={**NOTICE, **change}) as resp:
            body = await resp.json()
            assert resp.status == 422 and field in body["fields"], (change, body)
