"""A dispatcher attaches files to an email reply: uploaded through
POST /api/v1/requests/{id}/attachments (multipart), listed by hash in the reply, and mailed
as MIME parts, as a local SMTP relay receives them; the outbound message lists them as a
mailed-in one does, so the console fetches them the same way. Limits: 413 over the size,
415 for a type not allowed or no multipart, 422 for an image that is not one, a hash not
uploaded for this request, or files on a reply that is not an email."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient

from hub.settings import (
    ChannelsSettings,
    EmailSettings,
    OutboundSettings,
    Secret,
    Settings,
    SmtpListenerSettings,
    SmtpRelaySettings,
)
from tests.conftest import DispatcherFactory, HubFactory
from tests.dispatch.test_attachments import COMPANY, PDF, PNG, mailed_request, send_mail
from tests.helpers import Dispatcher
from tests.smtp_sink import SmtpSink

MAX_BYTES = 300_000  # over the API's JSON body limit: a file is no JSON body
RECEIPT_NAME = "kuitti äö €.pdf"


async def _hub(hub: HubFactory, settings: Settings, sink: SmtpSink) -> TestClient[Any, Any]:
    return await hub(dataclasses.replace(
        settings,
        channels=ChannelsSettings(enabled=("webform", "email")),
        email=EmailSettings(
            address=COMPANY, reply_token_secret=Secret("test-reply-secret"),
            attachment_max_bytes=MAX_BYTES,
            smtp=SmtpListenerSettings(port=0, domains=("taxi.example",)),
            relay=SmtpRelaySettings(host="127.0.0.1", port=sink.port, security="none")),
        outbound=OutboundSettings(backoff_base_s=0.05, backoff_max_s=0.2, poll_s=0.05,
                                  send_timeout_s=5, max_attempts=4),
    ))


async def upload(agent: Dispatcher, request_id: str, data: bytes, name: str,
                 content_type: str) -> tuple[int, dict[str, Any]]:
    form = aiohttp.FormData(quote_fields=False)  # UTF-8 names as browsers send them
    form.add_field("file", data, filename=name, content_type=content_type)
    async with agent.http.post(f"{agent.base}/api/v1/requests/{request_id}/attachments",
                               data=form) as resp:
        return resp.status, await resp.json()


async def test_files_uploaded_for_a_request_go_out_with_its_email_reply(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    async with SmtpSink() as sink:
        client = await _hub(hub, settings, sink)
        team = await dispatcher(client)
        await send_mail(client, _plain_mail("Kuitti pyydetään"))
        request = await mailed_request(team, "Kuitti pyydetään")

        status, pdf = await upload(team, request["id"], PDF, RECEIPT_NAME, "application/pdf")
        assert status == 201, pdf
        assert pdf["name"] == RECEIPT_NAME and pdf["type"] == "application/pdf"
        assert pdf["size"] == len(PDF) and len(pdf["sha256"]) == 64
        status, image = await upload(team, request["id"], PNG, "kartta.png", "image/png")
        assert status == 201, image

        status, answer = await team.reply(request["id"], "Kuitti ja kartta liitteenä.", "att-1",
                                          attachments=[pdf["sha256"], image["sha256"]])
        assert status == 201, answer
        sent = await team.wait_for_reply(request["id"], "sent")
        (out,) = sink.delivered
        mail = out.message
        assert mail["Subject"].startswith("Re: Kuitti pyydetään")
        assert mail["In-Reply-To"]  # still threaded into the passenger's mail
        assert mail.get_body(("plain",)).get_content().strip() == "Kuitti ja kartta liitteenä."
        parts = list(mail.iter_attachments())
        assert [(p.get_filename(), p.get_content_type(), p.get_content()) for p in parts] == [
            (RECEIPT_NAME, "application/pdf", PDF), ("kartta.png", "image/png", PNG)]
        assert all(p["Content-Transfer-Encoding"] == "base64" for p in parts)
        assert "filename*=utf-8''kuitti%20%C3%A4%C3%B6%20%E2%82%AC.pdf" in out.raw.decode()

        # The reply lists them as a mailed-in message does: the console fetches them.
        listed = json.loads(sent["details"]["attachments"])
        assert [(f["name"], f["sha256"]) for f in listed] == [
            (RECEIPT_NAME, pdf["sha256"]), ("kartta.png", image["sha256"])]
        path = (f"/api/v1/requests/{request['id']}/messages/{sent['id']}"
                f"/attachments/{image['sha256']}")
        async with team.http.get(team.base + path) as resp:
            assert resp.status == 200 and await resp.read() == PNG

        # A resend of the same reply (same key) is the same reply: one mail.
        status, again = await team.reply(request["id"], "Kuitti ja kartta liitteenä.", "att-1",
                                         attachments=[pdf["sha256"], image["sha256"]])
        assert status == 200 and again["message_id"] == answer["message_id"]


async def test_uploads_are_refused_over_the_limits_with_a_reason(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    async with SmtpSink() as sink:
        client = await _hub(hub, settings, sink)
        team = await dispatcher(client)
        await send_mail(client, _plain_mail("Rajat"))
        await send_mail(client, _plain_mail("Toinen pyyntö", sender="toinen@example.fi"))
        request = await mailed_request(team, "Rajat")
        other = await mailed_request(team, "Toinen pyyntö")
        rid = request["id"]

        status, body = await upload(team, rid, b"%PDF-" + b"x" * MAX_BYTES, "iso.pdf",
                                    "application/pdf")
        assert status == 413 and str(MAX_BYTES) in body["error"]
        status, body = await upload(team, rid, b"a" * MAX_BYTES, "pitka.txt", "text/plain")
        assert status == 201 and body["size"] == MAX_BYTES
        status, body = await upload(team, rid, b"MZ\x90\x00", "ohjelma.exe",
                                    "application/x-msdownload")
        assert status == 415 and "application/x-msdownload" in body["error"]
        status, body = await upload(team, rid, b"<html><script>1</script>", "kuva.png",
                                    "image/png")
        assert status == 422 and body["fields"] == {"file": "type_mismatch"}
        status, body = await upload(team, rid, b"", "tyhja.txt", "text/plain")
        assert status == 422 and body["fields"] == {"file": "empty"}
        async with team.http.post(f"{team.base}/api/v1/requests/{rid}/attachments",
                                  json={"file": "x"}) as resp:
            assert resp.status == 415 and "multipart" in (await resp.json())["error"]

        # A file uploaded for another request is not this one's to send.
        status, elsewhere = await upload(team, other["id"], b"muistiinpano", "muistio.txt",
                                         "text/plain")
        assert status == 201
        status, body = await team.reply(rid, "Liite.", "att-2",
                                        attachments=[elsewhere["sha256"]])
        assert status == 422 and body["fields"] == {"attachments": "not_uploaded"}
        # Files go out by email only.
        status, mine = await upload(team, rid, b"muistiinpano", "muistio.txt", "text/plain")
        assert status == 201
        status, body = await team.reply(rid, "Liite.", "att-3", channel="sms",
                                        attachments=[mine["sha256"]])
        assert status == 422 and body["fields"] == {"attachments": "email_only"}
        status, body = await team.reply(rid, "Liite.", "att-4", attachments="abc")
        assert status == 422 and body["fields"] == {"attachments": "invalid"}

        # Who may not reply may not upload: a colleague's request answers as a reply would.
        async with team.http.post(f"{team.base}/api/v1/requests/{rid}/claim") as resp:
            assert resp.status == 200
        colleague = await dispatcher(client)
        status, body = await upload(colleague, rid, b"x", "muistio.txt", "text/plain")
        assert status == 409 and "held by" in body["error"]
        assert sink.delivered == []


def _plain_mail(subject: str, sender: str = "maija.meikalainen@example.fi") -> Any:
    from email.message import EmailMessage
    from email.utils import make_msgid
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = COMPANY
    mail["Subject"] = subject
    mail["Message-ID"] = make_msgid(domain="example.fi")
    mail.set_content("Voisitteko lähettää kuitin?")
    return mail


async def test_a_file_purged_before_the_send_fails_the_reply_with_a_reason(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    async with SmtpSink() as sink:
        client = await _hub(hub, settings, sink)
        team = await dispatcher(client)
        await send_mail(client, _plain_mail("Purettu"))
        request = await mailed_request(team, "Purettu")
        status, pdf = await upload(team, request["id"], PDF, "kuitti.pdf", "application/pdf")
        assert status == 201
        # The purge takes the file (it goes by the file's age) before the reply is sent:
        # the reply fails with a reason, never goes out without it, and is not retried.
        kept = settings.data_dir / "attachments" / pdf["sha256"][:2] / pdf["sha256"]
        kept.unlink()
        status, _ = await team.reply(request["id"], "Kuitti liitteenä.", "att-5",
                                     attachments=[pdf["sha256"]])
        assert status == 201
        failed = await team.wait_for_reply(request["id"], "failed")
        assert "no longer kept" in failed["deliveries"][0]["reason"]
        assert failed["deliveries"][0]["attempts"] == 1
        assert sink.attempts == 0
