"""Mail in through real SMTP sessions (smtplib) to the hub's listener, replies out through a
local SMTP relay, threading both ways."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shutil
import smtplib
import ssl
import subprocess
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from channels.email.channel import EmailChannel
from dispatch.appkeys import ADAPTERS
from hub.settings import (
    AnswersSettings,
    ChannelsSettings,
    EmailSettings,
    OutboundSettings,
    Secret,
    Settings,
    SmtpListenerSettings,
    SmtpRelaySettings,
)
from tests.conftest import DispatcherFactory, HubFactory
from tests.helpers import Dispatcher, eventually
from tests.smtp_sink import SmtpSink

COMPANY = "taksi@taxi.example"
PASSENGER = "maija.meikalainen@example.fi"
MAX_BYTES = 200_000


async def _hub(hub: HubFactory, settings: Settings, sink: SmtpSink) -> TestClient[Any, Any]:
    return await hub(dataclasses.replace(
        settings,
        channels=ChannelsSettings(enabled=("webform", "email")),
        email=EmailSettings(
            address=COMPANY, reply_token_secret=Secret("test-reply-secret"),
            smtp=SmtpListenerSettings(port=0, domains=("taxi.example",),
                                      max_message_bytes=MAX_BYTES),
            relay=SmtpRelaySettings(host="127.0.0.1", port=sink.port, security="none")),
        outbound=OutboundSettings(backoff_base_s=0.05, backoff_max_s=0.2, poll_s=0.05,
                                  send_timeout_s=5, max_attempts=4),
    ))


def _port(client: TestClient[Any, Any]) -> int:
    channel = client.app[ADAPTERS]["email"]
    assert isinstance(channel, EmailChannel) and channel.smtp_port
    return channel.smtp_port


def _mail(subject: str, body: str, *, sender: str = PASSENGER, to: str = COMPANY,
          **headers: str) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = f"Maija Meikäläinen <{sender}>"
    mail["To"] = to
    mail["Subject"] = subject
    mail["Message-ID"] = make_msgid(domain="example.fi")
    for name, value in headers.items():
        mail[name.replace("_", "-")] = value
    mail.set_content(body)
    return mail


async def _send(port: int, mail: EmailMessage | bytes, rcpt: str = COMPANY) -> None:
    def blocking() -> None:
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            if isinstance(mail, bytes):
                client.sendmail("", [rcpt], mail)  # a bounce: null envelope sender
            else:
                client.send_message(mail, to_addrs=[rcpt])
    await asyncio.to_thread(blocking)


async def _requests(agent: Dispatcher, count: int) -> list[dict[str, Any]]:
    async def probe() -> list[dict[str, Any]] | None:
        found = await agent.open_requests()
        return found if len(found) >= count else None
    return await eventually(probe, what=f"{count} requests")


async def test_mail_becomes_a_request_and_the_conversation_threads_both_ways(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    async with SmtpSink(script=["451 4.3.0 try later"]) as sink:
        client = await _hub(hub, settings, sink)
        agent = await dispatcher(client)
        first = _mail("Taksi lentoasemalle", "Hei, tarvitsen taksin huomenna klo 6.\n"
                      "Osoite: Mannerheimintie 1")
        await _send(_port(client), first)
        (request,) = await _requests(agent, 1)
        assert request["channel"] == "email"
        assert request["contact"]["emails"] == [PASSENGER]
        assert request["contact"]["name"] == "Maija Meikäläinen"

        status, _ = await agent.reply(request["id"], "Taksi on tilattu klo 6.00.", "mail-1")
        assert status == 201
        await agent.wait_for_reply(request["id"], "sent")
        assert sink.attempts == 2  # the relay's 451 was retried
        (out,) = sink.delivered
        reply = out.message
        assert out.rcpt_tos == (PASSENGER,)
        assert reply["In-Reply-To"] == first["Message-ID"]
        assert first["Message-ID"] in reply["References"]
        assert reply["Subject"] == f"Re: Taksi lentoasemalle [#{request['reference']}]"
        assert reply["Reply-To"].startswith(f"reply+{request['reference']}-")
        assert reply["From"].addresses[0].addr_spec == COMPANY
        assert reply.get_content().strip() == "Taksi on tilattu klo 6.00."

        # The passenger answers the reply: same request, whatever the subject says.
        answer = _mail("Re: asia", "Kiitos!\n\n> Taksi on tilattu klo 6.00.",
                       In_Reply_To=reply["Message-ID"], References=reply["Message-ID"])
        await _send(_port(client), answer)
        # A fresh mail (no threading headers) to the per-request reply address: same request.
        await _send(_port(client), _mail("Lisätieto", "Meitä on kaksi.",
                                         to=reply["Reply-To"]), rcpt=reply["Reply-To"])

        async def three_inbound() -> dict[str, Any] | None:
            found = await agent.request(request["id"])
            inbound = [m for m in found["messages"] if m["direction"] == "inbound"]
            return found if len(inbound) == 3 else None
        detail = await eventually(three_inbound, what="both answers in the request")
        bodies = [m["body"] for m in detail["messages"]]
        assert bodies[-2:] == ["Kiitos!", "Meitä on kaksi."]  # the quote is cut
        assert len(await agent.open_requests()) == 1

        # A forged reference in a subject from a stranger opens a request of its own.
        await _send(_port(client), _mail(f"Re: [#{request['reference']}]", "Minun kyytini?",
                                         sender="stranger@example.com"))
        await _requests(agent, 2)


async def test_foreign_domain_is_refused_and_oversized_mail_gets_552(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    async with SmtpSink() as sink:
        client = await _hub(hub, settings, sink)
        agent = await dispatcher(client)
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            await _send(_port(client), _mail("Relay?", "x", to="victim@elsewhere.example"),
                        rcpt="victim@elsewhere.example")
        assert refused.value.recipients["victim@elsewhere.example"][0] == 550

        with pytest.raises((smtplib.SMTPDataError, smtplib.SMTPSenderRefused)) as too_big:
            await _send(_port(client), _mail("Iso", "x" * (MAX_BYTES + 1000)))
        assert too_big.value.smtp_code == 552

        with pytest.raises(smtplib.SMTPDataError) as unusable:
            await _send(_port(client), _mail("", ""))  # nothing to read
        assert unusable.value.smtp_code == 550
        assert b"no readable text" in unusable.value.smtp_error

        await _send(_port(client), _mail("Ok", "Tämä kelpaa."))
        assert len(await _requests(agent, 1)) == 1


async def test_retried_mail_is_stored_once_and_an_auto_reply_is_stored_not_answered(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    async with SmtpSink() as sink:
        client = await _hub(hub, settings, sink)
        agent = await dispatcher(client)
        mail = _mail("Kuitti", "Voinko saada kuitin eiliseltä matkalta?")
        await asyncio.gather(*(_send(_port(client), mail) for _ in range(5)))
        (request,) = await _requests(agent, 1)
        detail = await agent.request(request["id"])
        assert len(detail["messages"]) == 1

        status, _ = await agent.reply(request["id"], "Kuitti lähetetty.", "k-auto")
        assert status == 201
        sent = await agent.wait_for_reply(request["id"], "sent")
        out = sink.delivered[0].message
        ooo = _mail("Automaattinen vastaus: Kuitti", "Olen lomalla 1.12. asti.",
                    In_Reply_To=out["Message-ID"], Auto_Submitted="auto-replied")
        await _send(_port(client), ooo)

        async def stored() -> dict[str, Any] | None:
            found = await agent.request(request["id"])
            autos = [m for m in found["messages"] if m["details"].get("auto")]
            return autos[0] if autos else None
        auto = await stored()
        assert auto["details"]["auto"] == "auto_replied"
        await asyncio.sleep(0.5)
        assert len(sink.delivered) == 1  # nothing answered it
        assert sent["deliveries"][0]["state"] == "sent"


async def test_a_bounce_marks_the_reply_failed(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    async with SmtpSink() as sink:
        client = await _hub(hub, settings, sink)
        agent = await dispatcher(client)
        await _send(_port(client), _mail("Taksi", "Taksi Kallioon."))
        (request,) = await _requests(agent, 1)
        await agent.reply(request["id"], "Selvä.", "k-bounce")
        await agent.wait_for_reply(request["id"], "sent")
        original = sink.delivered[0].message
        dsn = _bounce(original["Message-ID"])
        await _send(_port(client), dsn)
        failed = await agent.wait_for_reply(request["id"], "failed")
        assert "5.1.1" in failed["deliveries"][0]["reason"]


def _bounce(original_id: str) -> bytes:
    """A Postfix-style delivery status notification quoting our reply's headers."""
    return f"""From: Mail Delivery System <MAILER-DAEMON@mx.example.fi>
To: {COMPANY}
Subject: Undelivered Mail Returned to Sender
Auto-Submitted: auto-replied
Message-ID: {make_msgid(domain="mx.example.fi")}
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B0UND"

--B0UND
Content-Type: text/plain; charset=us-ascii

The mail could not be delivered to {PASSENGER}.

--B0UND
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.fi

Final-Recipient: rfc822; {PASSENGER}
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 user unknown

--B0UND
Content-Type: text/rfc822-headers

From: {COMPANY}
To: {PASSENGER}
Message-ID: {original_id}

--B0UND--
""".replace("\n", "\r\n").encode()


async def test_starttls_is_offered_with_a_certificate_and_mail_flows_over_it(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings, tmp_path: Path
) -> None:
    if shutil.which("openssl") is None:
        if os.environ.get("CI"):
            pytest.fail("openssl not found; CI must have it")
        pytest.skip("openssl not found")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    await asyncio.to_thread(
        subprocess.run,
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
         "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    async with SmtpSink() as sink:
        base = dataclasses.replace(settings, email=EmailSettings(
            address=COMPANY, reply_token_secret=Secret("s"),
            smtp=SmtpListenerSettings(port=0, domains=("taxi.example",),
                                      tls_cert=str(cert), tls_key=str(key)),
            relay=SmtpRelaySettings(host="127.0.0.1", port=sink.port, security="none")))
        client = await hub(dataclasses.replace(
            base, channels=ChannelsSettings(enabled=("webform", "email"))))
        agent = await dispatcher(client)
        port = _port(client)

        def over_tls() -> bool:
            context = ssl.create_default_context(cafile=str(cert))
            with smtplib.SMTP("127.0.0.1", port, timeout=10) as session:
                session.ehlo()
                offered = session.has_extn("starttls")
                session.starttls(context=context)
                session.ehlo()
                session.send_message(_mail("Salattu", "Taksi Töölöön."), to_addrs=[COMPANY])
                return offered
        assert await asyncio.to_thread(over_tls)
        (request,) = await _requests(agent, 1)
        assert request["preview"] == "Taksi Töölöön."


async def _send_from(port: int, envelope_sender: str, mail: EmailMessage | bytes) -> None:
    def blocking() -> None:
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            raw = mail if isinstance(mail, bytes) else mail.as_bytes()
            client.sendmail(envelope_sender, [COMPANY], raw)
    await asyncio.to_thread(blocking)


async def test_mail_from_the_null_sender_is_stored_and_never_acknowledged(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    """RFC 3834: nothing answers MAIL FROM:<> (aiosmtpd keeps it as "<>", not empty)."""
    async with SmtpSink() as sink:
        client = await _hub(hub, dataclasses.replace(
            settings, answers=AnswersSettings(acknowledge=("email",))), sink)
        agent = await dispatcher(client)
        await _send_from(_port(client), "<>", _mail("Taksi", "Taksi Kamppiin klo 18."))
        (request,) = await _requests(agent, 1)
        (message,) = (await agent.request(request["id"]))["messages"]
        assert message["details"]["auto"] == "auto_generated"
        other = _mail("Taksi", "Taksi Kallioon.", sender="pekka@example.fi")
        await _send_from(_port(client), "pekka@example.fi", other)
        async def acknowledged() -> list[Any] | None:
            return sink.delivered or None
        await eventually(acknowledged, what="the acknowledgement")
        await asyncio.sleep(0.5)
        assert [d.message["To"] for d in sink.delivered] == ["pekka@example.fi"]


async def test_mail_without_from_is_from_its_envelope_sender(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    async with SmtpSink() as sink:
        client = await _hub(hub, settings, sink)
        agent = await dispatcher(client)
        mail = _mail("Taksi", "Taksi asemalle.")
        del mail["From"]
        await _send_from(_port(client), "Maija.M@Example.fi", mail)
        (request,) = await _requests(agent, 1)
        (message,) = (await agent.request(request["id"]))["messages"]
        assert message["details"]["from"] == "maija.m@example.fi"


async def test_a_bounce_from_nobody_marks_the_reply_failed_and_opens_no_request(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    async with SmtpSink() as sink:
        client = await _hub(hub, settings, sink)
        agent = await dispatcher(client)
        await _send(_port(client), _mail("Taksi", "Taksi Kallioon."))
        (request,) = await _requests(agent, 1)
        await agent.reply(request["id"], "Selvä.", "k-bounce-nobody")
        await agent.wait_for_reply(request["id"], "sent")
        dsn = _bounce(sink.delivered[0].message["Message-ID"]).replace(
            b"From: Mail Delivery System <MAILER-DAEMON@mx.example.fi>",
            b"From: MAILER DAEMON <>")
        await _send_from(_port(client), "", dsn)
        failed = await agent.wait_for_reply(request["id"], "failed")
        assert "5.1.1" in failed["deliveries"][0]["reason"]
        assert [r["id"] for r in await agent.open_requests()] == [request["id"]]


async def test_a_subject_with_a_line_break_is_refused_not_stuck_queued(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    """A CR/LF in the subject would end the header: 422 at the API, never a delivery that
    fails on every retry (issue 13, item 12)."""
    async with SmtpSink() as sink:
        client = await _hub(hub, settings, sink)
        agent = await dispatcher(client)
        await _send(_port(client), _mail("Taksi", "Taksi Kallioon."))
        (request,) = await _requests(agent, 1)
        for subject in ("Vahvistus\r\nBcc: kaikki@example.fi", "Rivi\nkaksi", "x" * 201):
            status, answer = await agent.reply(request["id"], "Selvä.", f"k-{len(subject)}",
                                               subject=subject)
            assert status == 422 and "subject" in answer["fields"], answer
        status, _ = await agent.reply(request["id"], "Selvä.", "k-fine", subject="Vahvistus")
        assert status == 201
        await agent.wait_for_reply(request["id"], "sent")
        assert [d.message["Subject"].split(" [#")[0] for d in sink.delivered] == ["Vahvistus"]
