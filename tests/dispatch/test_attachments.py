"""A passenger mails a photo and a PDF in a real SMTP session; dispatchers fetch them through
GET /api/v1/requests/{id}/messages/{message_id}/attachments/{sha256}: the photo as an image,
the PDF (and a "PNG" that is not one) as a download, every answer nosniff and sandboxed, the
read audited; other hashes, other requests' messages, strangers and other partners get
nothing (a partner's external user, until the request is theirs)."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import smtplib
import struct
import uuid
import zlib
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any
from urllib.parse import quote

from aiohttp.test_utils import TestClient

from channels.email.channel import EmailChannel
from dispatch.appkeys import ADAPTERS
from hub.model import Role
from hub.settings import (
    ChannelsSettings,
    EmailSettings,
    Secret,
    Settings,
    SmtpListenerSettings,
)
from tests.conftest import DispatcherFactory, HubFactory
from tests.helpers import Dispatcher, eventually, http_session

COMPANY = "taksi@taxi.example"
PASSENGER = "maija.meikalainen@example.fi"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
FAKE_PNG = b"<html><script>alert(1)</script></html>"


def png(width: int = 3, height: int = 2) -> bytes:
    """A real PNG (grey pixels): a browser decodes it."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))
    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


PNG = png()


def email_settings(settings: Settings) -> Settings:
    return dataclasses.replace(
        settings, channels=ChannelsSettings(enabled=("webform", "email")),
        email=EmailSettings(address=COMPANY, reply_token_secret=Secret("test-reply-secret"),
                            smtp=SmtpListenerSettings(port=0, domains=("taxi.example",))))


def photo_mail(subject: str, *, fake: bool = False, sender: str = PASSENGER,
               receipt: bytes = PDF, receipt_name: str = 'kuitti äö "1".pdf') -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = f"Maija Meikäläinen <{sender}>"
    mail["To"] = COMPANY
    mail["Subject"] = subject
    mail["Message-ID"] = make_msgid(domain="example.fi")
    mail.set_content("Kuva noutopaikasta ja kuitti liitteenä.")
    mail.add_attachment(PNG, maintype="image", subtype="png", filename="nouto.png")
    mail.add_attachment(receipt, maintype="application", subtype="pdf", filename=receipt_name)
    if fake:
        mail.add_attachment(FAKE_PNG, maintype="image", subtype="png", filename="fake.png")
    return mail


async def send_mail(client: TestClient[Any, Any], mail: EmailMessage) -> None:
    channel = client.app[ADAPTERS]["email"]
    assert isinstance(channel, EmailChannel) and channel.smtp_port
    port = channel.smtp_port

    def blocking() -> None:
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as session:
            session.send_message(mail, to_addrs=[COMPANY])
    await asyncio.to_thread(blocking)


async def mailed_request(agent: Dispatcher, subject: str) -> dict[str, Any]:
    """The request the mail with this subject opened, once its message is there."""
    async def probe() -> dict[str, Any] | None:
        for found in await agent.open_requests():
            detail = await agent.request(found["id"])
            if detail["messages"] and detail["messages"][0]["subject"] == subject:
                return detail
        return None
    return await eventually(probe, what=f"the request of {subject!r}")


def listed(message: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["name"]: a for a in json.loads(message["details"]["attachments"])}


def url(request: dict[str, Any], message_id: str, digest: str) -> str:
    return (f"/api/v1/requests/{request['id']}/messages/{message_id}"
            f"/attachments/{digest}")


async def get(agent: Dispatcher, path: str) -> tuple[int, Any, bytes]:
    async with agent.http.get(agent.base + path) as resp:
        return resp.status, resp.headers, await resp.read()


async def test_dispatchers_see_the_photo_and_download_the_pdf_and_nothing_else(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    client = await hub(email_settings(settings))
    team = await dispatcher(client)
    await send_mail(client, photo_mail("Noutopaikka", fake=True))
    await send_mail(client, photo_mail("Toinen kyyti", sender="matti@example.fi"))
    request = await mailed_request(team, "Noutopaikka")
    other = await mailed_request(team, "Toinen kyyti")
    message_id = request["messages"][0]["id"]
    files = listed(request["messages"][0])
    assert set(files) == {"nouto.png", 'kuitti äö "1".pdf', "fake.png"}
    photo, pdf = files["nouto.png"], files['kuitti äö "1".pdf']
    assert (photo["type"], photo["size"]) == ("image/png", len(PNG))
    assert photo["sha256"] == hashlib.sha256(PNG).hexdigest()

    status, headers, body = await get(team, url(request, message_id, photo["sha256"]))
    assert (status, body) == (200, PNG)
    assert headers["Content-Type"] == "image/png"
    assert headers["Content-Disposition"].startswith("inline;")
    safety = {"X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-cache"}
    assert {k: headers[k] for k in safety} == safety
    assert "sandbox" in headers["Content-Security-Policy"]
    assert "default-src 'none'" in headers["Content-Security-Policy"]

    status, headers, body = await get(team, url(request, message_id, pdf["sha256"]))
    assert (status, body) == (200, PDF)
    assert headers["Content-Type"] == "application/octet-stream"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Content-Disposition"] == (
        "attachment; filename=\"kuitti __ _1_.pdf\"; "
        f"filename*=UTF-8''{quote('kuitti äö _1_.pdf', safe='')}")

    # Declared a PNG, is a page: only ever a download, never shown by the hub's origin.
    status, headers, body = await get(team, url(request, message_id,
                                                files["fake.png"]["sha256"]))
    assert (status, body) == (200, FAKE_PNG)
    assert headers["Content-Type"] == "application/octet-stream"
    assert headers["Content-Disposition"].startswith("attachment;")

    # A hash the message does not list, even one kept on disk for another message; a
    # message of another request; junk ids: all 404 with a reason.
    other_id = other["messages"][0]["id"]
    unlisted = hashlib.sha256(b"not mailed").hexdigest()
    for path in (url(request, message_id, unlisted),
                 url(other, other_id, files["fake.png"]["sha256"]),  # on disk, not listed
                 url(other, message_id, photo["sha256"]),
                 url(request, other_id, photo["sha256"]),
                 url(request, str(uuid.uuid4()), photo["sha256"]),
                 url(request, "not-an-id", photo["sha256"]),
                 url(request, message_id, "../../taxiconnect.db")):
        status, headers, body = await get(team, path)
        assert status == 404, (path, status, body)
        assert json.loads(body)["error"], body
    # The other request's own message does list the same photo.
    assert (await get(team, url(other, other_id, photo["sha256"])))[0] == 200

    # Nobody logged in: 401.
    async with http_session() as stranger, stranger.get(team.base + url(request, message_id,
                                            photo["sha256"])) as resp:
        assert resp.status == 401

    # The reads are in the audit trail, under the request.
    admin = await dispatcher(client, Role.ADMIN)
    async with admin.http.get(f"{admin.base}/api/v1/admin/audit", params={
            "action": "read.attachment", "subject": request["id"]}) as resp:
        assert resp.status == 200, await resp.text()
        entries = (await resp.json())["entries"]
    assert entries and all(e["agent_id"] == str(team.agent.id) for e in entries)
    assert entries[-1]["detail"]["message_id"] == message_id
    assert entries[-1]["detail"]["sha256"] == photo["sha256"]


    # A partner company's dispatcher (external): only once the request is theirs, and
    # until then the same 404 as for a request that does not exist.
    partner = await dispatcher(client, Role.EXTERNAL, name="Partner Taxi")
    path = url(request, message_id, photo["sha256"])
    status, _, body = await get(partner, path)
    assert status == 404
    assert (status, body) == (await get(partner, url({"id": str(uuid.uuid4())}, message_id,
                                                      photo["sha256"])))[::2]
    for action, fields in (("claim", {}), ("transfer", {"agent_id": str(partner.agent.id)})):
        async with team.http.post(f"{team.base}/api/v1/requests/{request['id']}/{action}",
                                  json=fields) as resp:
            assert resp.status == 200, await resp.text()
    status, headers, body = await get(partner, path)
    assert (status, body, headers["Content-Type"]) == (200, PNG, "image/png")
