"""A data subject's rights (issue 14: 2) through the admin API and the command line: the
export of a passenger who came in by form, SMS, email, chat and phone (a CTI call and a Twilio
voicemail someone listened to) holds every request, message, timing, recording, listen and
stored file, the audio Twilio keeps fetched from it (or, for a recording Twilio no longer
has or cannot serve, why not); erasure leaves no trace of them in any table or Redis key while the
requests, their timings and the reports by day and by channel stay as they were, and the
hub's log holds none of it; both audited once; only admins may."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import io
import json
import os
import smtplib
import subprocess
import sys
import time
import zipfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import websockets
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis
from sqlalchemy import func, select
from websockets.typing import Origin

from channels.email.channel import EmailChannel
from dispatch.appkeys import ADAPTERS
from hub import schema
from hub.appkeys import DATABASE
from hub.model import Role
from hub.purge import ERASED_CONTACT_ID
from hub.settings import (
    ChannelsSettings,
    ChatSettings,
    EmailSettings,
    GenericSmsSettings,
    HttpSettings,
    OutboundSettings,
    PhoneSettings,
    Secret,
    Settings,
    SmsSettings,
    SmtpListenerSettings,
    TwilioSettings,
)
from tests.channels.test_phone_twilio_voice import ACCOUNT, AUDIO, RECORDING, TOKEN, FakeMedia
from tests.conftest import DispatcherFactory, HubFactory, free_port
from tests.gateways import GENERIC_TOKEN, FakeGenericGateway, twilio_signature
from tests.helpers import WAIT_S, Dispatcher, eventually, submit
from tests.log_scan import FOLDER_VARIABLE, NUMBER_TAIL, Literals

REPO = Path(__file__).resolve().parents[2]
COMPANY_MAIL = "taksi@taxi.example"
COMPANY_NUMBER = "+358451234567"
SMS_SECRET = "whsec_subject_test"
CTI_SECRET = "cti-subject-secret"
CHAT_ORIGIN, CHAT_SECRET = "https://www.taksi.example", "subject-chat-secret"
EXPORT, ERASE = "/api/v1/admin/subject/export", "/api/v1/admin/subject/erase"

# Recordings of the voicemail's call that Twilio no longer has (404) and cannot serve (503).
GONE, FAILING = "RE" + "8" * 32, "RE" + "9" * 32
VOICEMAIL_CALL = "CA" + "5" * 32
RECORDED_AT = "Tue, 08 Dec 2026 03:15:00 +0000"  # Twilio's RecordingStartTime
NAME = "Eeva Rekisteröity"
PHONE, NATIONAL = "+358401239876", "040 123 9876"
EMAIL = "eeva.rekisteri@example.fi"
TEXTS = {"form": "Nouto Rekisterikatu 7", "sms": "Tekstiviesti Rekisterikatu 8",
         "mail": "Sähköposti Rekisterikatu 9", "subject": "Kuitti Rekisterikatu 9",
         "reply": "Vastaus Rekisterikatu 10", "note": "Muistio Rekisterikatu 11",
         "chat": "Chatti Rekisterikatu 12", "voicemail": "Vastaaja Rekisterikatu 13"}
FILE = b"%PDF receipt scan of the registered subject 4f1c"
# A second passenger who must come through every erasure untouched.
OTHER = {"name": "Toinen Matkustaja", "phone": "+358409998877", "text": "Nouto Muukatu 3"}

Client = TestClient[Any, Any]


class FailingMedia(FakeMedia):
    """Twilio's recording media, failing for one recording."""

    async def audio(self, request: web.Request) -> web.Response:
        if request.match_info["sid"] == FAILING:
            self.requests.append(request)
            return web.json_response({"code": 20500, "message": "unavailable"}, status=503)
        return await super().audio(request)


@pytest.fixture
async def media() -> AsyncIterator[FakeMedia]:
    """Twilio's recording media on a local server (tests/channels/test_phone_twilio_voice)."""
    fake = FailingMedia()
    app = web.Application()
    app.router.add_get("/2010-04-01/Accounts/{account}/Recordings/{sid}", fake.audio)
    fake.server = TestServer(app, host="127.0.0.1")
    await fake.server.start_server()
    yield fake
    await fake.server.close()


def _settings(settings: Settings, port: int, gateway: FakeGenericGateway,
              media: FakeMedia) -> Settings:
    return dataclasses.replace(
        settings,
        channels=ChannelsSettings(enabled=("webform", "generic_sms", "email", "phone_cti",
                                           "twilio_voice", "chat")),
        http=HttpSettings(public_url=f"http://127.0.0.1:{port}"),
        email=EmailSettings(address=COMPANY_MAIL, reply_token_secret=Secret("subject-reply"),
                            smtp=SmtpListenerSettings(port=0, domains=("taxi.example",))),
        sms=SmsSettings(generic=GenericSmsSettings(
            signing_secret=Secret(SMS_SECRET), send_url=gateway.url + "/send",
            send_token=Secret(GENERIC_TOKEN), from_number=COMPANY_NUMBER),
            twilio=TwilioSettings(auth_token=Secret(TOKEN), account_sid=ACCOUNT,
                                  api_url=media.url("").rstrip("/"))),
        chat=ChatSettings(allowed_origins=(CHAT_ORIGIN,), token_secret=Secret(CHAT_SECRET)),
        phone=PhoneSettings(cti_secret=Secret(CTI_SECRET)),
        outbound=OutboundSettings(backoff_base_s=0.05, backoff_max_s=0.2, poll_s=0.05,
                                  send_timeout_s=5, max_attempts=2),
        retention=dataclasses.replace(settings.retention, purge_interval_s=0))


async def _sms(client: Client, message_id: str, text: str) -> None:
    raw = json.dumps({"message_id": message_id, "from": PHONE, "to": COMPANY_NUMBER,
                      "text": text}).encode()
    t = int(time.time())
    digest = hmac.new(SMS_SECRET.encode(), str(t).encode() + b"." + raw, hashlib.sha256)
    async with client.post("/webhooks/sms/generic", data=raw, headers={
            "Content-Type": "application/json",
            "X-TaxiConnect-Signature": f"t={t},v1={digest.hexdigest()}"}) as resp:
        assert resp.status == 200, await resp.text()


async def _mail(client: Client) -> None:
    mail = EmailMessage()
    mail["From"] = f"{NAME} <{EMAIL}>"
    mail["To"] = COMPANY_MAIL
    mail["Subject"] = TEXTS["subject"]
    mail["Message-ID"] = "<subject-rights-1@example.fi>"
    mail.set_content(TEXTS["mail"])
    mail.add_attachment(FILE, maintype="application", subtype="pdf", filename="kuitti.pdf")
    channel = client.app[ADAPTERS]["email"]
    assert isinstance(channel, EmailChannel) and channel.smtp_port
    port = channel.smtp_port

    def send() -> None:
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
            smtp.send_message(mail, to_addrs=[COMPANY_MAIL])
    await asyncio.to_thread(send)


async def _call(client: Client) -> None:
    call = {"callId": "subject-call-1", "from": NATIONAL, "to": "0912345678", "direction": "in"}
    for event in ("newCall", "hangup"):
        async with client.post("/webhooks/phone/cti", json={"event": event, **call},
                               headers={"X-CTI-Token": CTI_SECRET}) as resp:
            assert resp.status == 200, await resp.text()


async def _twilio(client: Client, params: list[tuple[str, str]]) -> None:
    url = str(client.make_url("/webhooks/phone/twilio"))
    async with client.post("/webhooks/phone/twilio", data=urlencode(params), headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": twilio_signature(TOKEN, url, params)}) as resp:
        assert resp.status == 200, await resp.text()


async def _voicemail(client: Client, media: FakeMedia) -> None:
    """A Twilio call nobody answered, with a voicemail and its transcription."""
    sid = VOICEMAIL_CALL
    call = {"AccountSid": ACCOUNT, "CallSid": sid, "Direction": "inbound", "From": PHONE,
            "To": COMPANY_NUMBER}
    url = media.url(f"/2010-04-01/Accounts/{ACCOUNT}/Recordings/{RECORDING}")
    recorded = [("AccountSid", ACCOUNT), ("CallSid", sid), ("RecordingSid", RECORDING),
                ("RecordingUrl", url), ("RecordingStatus", "completed"),
                ("RecordingDuration", "9")]
    await _twilio(client, [*call.items(), ("CallStatus", "ringing")])
    await _twilio(client, recorded)
    await _twilio(client, [*call.items(), ("CallStatus", "no-answer")])
    await _twilio(client, [*recorded[:3], ("TranscriptionSid", "TR" + "5" * 32),
                           ("TranscriptionText", TEXTS["voicemail"]),
                           ("TranscriptionStatus", "completed"), ("RecordingUrl", url)])


async def _recordings_twilio_lost(client: Client, media: FakeMedia) -> None:
    """Two more recordings of the voicemail's call, which Twilio no longer has or fails to
    serve when the export asks."""
    for sid in (GONE, FAILING):
        await _twilio(client, [
            ("AccountSid", ACCOUNT), ("CallSid", VOICEMAIL_CALL), ("RecordingSid", sid),
            ("RecordingUrl", media.url(f"/2010-04-01/Accounts/{ACCOUNT}/Recordings/{sid}")),
            ("RecordingStatus", "completed"), ("RecordingDuration", "4"),
            ("RecordingStartTime", RECORDED_AT)])


async def _chat(client: Client) -> None:
    url = str(client.make_url("/chat/ws")).replace("http://", "ws://")
    async with websockets.connect(url, origin=Origin(CHAT_ORIGIN)) as ws:
        await ws.send(json.dumps({"type": "hello", "token": None, "last_seen": None,
                                  "lang": "fi"}))
        welcome = json.loads(await asyncio.wait_for(ws.recv(), WAIT_S))
        assert welcome["type"] == "welcome", welcome
        await ws.send(json.dumps({"type": "prechat", "phone": NATIONAL}))
        await ws.send(json.dumps({"type": "message", "id": "subject-chat-1",
                                  "text": TEXTS["chat"]}))
        while True:
            frame = json.loads(await asyncio.wait_for(ws.recv(), WAIT_S))
            if frame["type"] == "ack" and frame["id"] == "subject-chat-1":
                return


async def _listen(agent: Dispatcher, request_ids: list[str]) -> None:
    for request_id in request_ids:
        for recording in (await agent.request(request_id)).get("recordings", []):
            async with agent.http.get(agent.base + recording["audio_url"]) as resp:
                assert resp.status == 200 and await resp.read() == AUDIO


async def _act(agent: Dispatcher, request_id: str, action: str, **body: Any) -> None:
    async with agent.http.post(f"{agent.base}/api/v1/requests/{request_id}/{action}",
                               json=body) as resp:
        assert resp.status == 200, await resp.text()


async def _rows(client: Client, query: Any) -> list[Any]:
    async with client.app[DATABASE].read() as conn:
        return list((await conn.execute(query)).all())


async def _passenger_on_five_channels(client: Client, agent: Dispatcher,
                                      media: FakeMedia) -> list[str]:
    """Form, SMS (answered by SMS), email with an attachment, chat, a missed CTI call and a
    Twilio voicemail (listened to); returns the passenger's request ids once every event
    is in Redis."""
    receipt = await submit(agent.http, agent.base, "subject-form-1", name=NAME, phone=NATIONAL,
                           email=EMAIL, message=TEXTS["form"])
    await _act(agent, receipt["id"], "claim")
    await _act(agent, receipt["id"], "notes", text=TEXTS["note"])
    await _act(agent, receipt["id"], "resolve")
    await _sms(client, "gw-subject-1", TEXTS["sms"])
    await submit(agent.http, agent.base, "subject-other-1", name=OTHER["name"],
                 phone=OTHER["phone"], message=OTHER["text"])
    r, m, i = schema.contact_requests, schema.messages, schema.contact_identities
    mine = r.c.contact_id.in_(select(i.c.contact_id).where(i.c.value == PHONE))

    async def sms_request() -> str | None:
        rows = await _rows(client, select(m.c.request_id).where(m.c.body == TEXTS["sms"]))
        return str(rows[0][0]) if rows else None
    sms_id = await eventually(sms_request, what="the SMS request")
    if sms_id != receipt["id"]:
        await _act(agent, sms_id, "claim")
    status, answer = await agent.reply(sms_id, TEXTS["reply"], "subject-reply-1")
    assert status in (200, 201), answer
    await agent.wait_for_reply(sms_id, "sent", TEXTS["reply"])
    await _mail(client)
    await _call(client)
    await _chat(client)
    await _voicemail(client, media)

    async def all_in() -> list[str] | None:
        done = await _rows(client, select(schema.calls.c.id).where(
            schema.calls.c.state == "ended"))
        mail = await _rows(client, select(m.c.id).where(m.c.subject == TEXTS["subject"]))
        heard = await _rows(client, select(schema.recordings.c.id).where(
            schema.recordings.c.transcription == TEXTS["voicemail"]))
        if len(done) < 2 or not mail or not heard \
                or await _rows(client, select(schema.outbox.c.id)):
            return None
        return sorted(str(row[0]) for row in await _rows(client, select(r.c.id).where(mine)))
    found = await eventually(all_in, what="every contact stored and published")
    await _listen(agent, found)
    await eventually(lambda: _published(client), what="every event published")
    await asyncio.sleep(0.05)
    return found


async def _published(client: Client) -> bool | None:
    return None if await _rows(client, select(schema.outbox.c.id)) else True


async def _everything(client: Client, raw_redis: Redis, settings: Settings) -> str:
    """Every row of every table and every value of every Redis key of the test, as text."""
    parts: list[str] = []
    async with client.app[DATABASE].read() as conn:
        for table in schema.metadata.sorted_tables:
            parts += [repr(tuple(row)) for row in await conn.execute(select(table))]
    async for key in raw_redis.scan_iter(match=f"{settings.redis.prefix}*"):
        parts.append(key)
        kind = await raw_redis.type(key)
        if kind == "stream":
            parts += [json.dumps(fields, ensure_ascii=False)
                      for _id, fields in await raw_redis.xrange(key) or []]
        elif kind == "string":
            parts.append(str(await raw_redis.get(key)))
        elif kind == "hash":
            parts.append(json.dumps(await raw_redis.hgetall(key), ensure_ascii=False))
        elif kind == "zset":
            parts.append(json.dumps(await raw_redis.zrange(key, 0, -1)))
        elif kind in ("set", "list"):
            parts.append(json.dumps(list(await raw_redis.smembers(key)) if kind == "set"
                                    else await raw_redis.lrange(key, 0, -1)))
    root = settings.data_dir / "attachments"
    if root.is_dir():
        parts += [p.read_bytes().decode("latin-1") for p in root.rglob("*") if p.is_file()]
    return "\n".join(parts)


def _traces(text: str) -> list[str]:
    unicode_escaped = json.dumps(NAME)[1:-1]  # how a JSON payload may carry the name
    needles = [NAME, unicode_escaped, PHONE, PHONE[1:], EMAIL, FILE.decode(), *TEXTS.values()]
    return [needle for needle in needles if needle in text]


async def _timings(client: Client) -> dict[str, tuple[Any, ...]]:
    r = schema.contact_requests
    rows = await _rows(client, select(r.c.id, r.c.status, r.c.channel, r.c.lane,
                                      r.c.last_agent_id, r.c.case_started_at, r.c.queued_at,
                                      r.c.service_started_at, r.c.first_response_at,
                                      r.c.ended_at))
    return {str(row[0]): tuple(row[1:]) for row in rows}


async def _reports(admin: Dispatcher) -> dict[str, Any]:
    """The reports a dispatch manager reads, by day and by channel, over days around today
    (whatever the hub's zone makes of the time now)."""
    today = datetime.now(UTC).date()
    found: dict[str, Any] = {}
    for by in ("day", "channel"):
        query = urlencode({"by": by, "from": (today - timedelta(days=1)).isoformat(),
                           "to": (today + timedelta(days=2)).isoformat()})
        async with admin.http.get(f"{admin.base}/api/v1/reports?{query}") as resp:
            assert resp.status == 200, await resp.text()
            found[by] = await resp.json()
    return found


def _hub_log() -> Path:
    """This process's share of the run's log (tests/log_scan.py, named as SuiteLog names
    it): the in-process hub's records, its access log included, written and masked as
    `taxiconnect serve` writes its log."""
    return Path(os.environ[FOLDER_VARIABLE]) / f"{os.getpid()}.log"


def _log_size() -> int:
    log = _hub_log()
    return log.stat().st_size if log.exists() else 0


def _log_since(offset: int) -> list[str]:
    with _hub_log().open("rb") as log:
        log.seek(offset)
        return log.read().decode("utf-8", "replace").splitlines()


async def _audit(client: Client) -> list[Any]:
    a = schema.audit_log
    return await _rows(client, select(a.c.action, a.c.agent_id, a.c.subject, a.c.detail)
                       .where(a.c.action.startswith("subject.")).order_by(a.c.id))


async def test_export_holds_everything_and_erasure_leaves_no_trace(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings, raw_redis: Redis,
    media: FakeMedia, tmp_path: Path
) -> None:
    log_from = _log_size()
    async with FakeGenericGateway() as gateway:
        port = free_port()
        client = await hub(_settings(settings, port, gateway, media), port=port)
        agent = await dispatcher(client, name="Ville Välittäjä")
        admin = await dispatcher(client, role=Role.ADMIN)
        request_ids = await _passenger_on_five_channels(client, agent, media)
        await _recordings_twilio_lost(client, media)
        # The passenger is also on a staff group's list (a driver who rides too).
        async with admin.http.post(admin.base + "/api/v1/admin/groups",
                                   json={"name": "Kuljettajat"}) as resp:
            assert resp.status == 201, await resp.text()
            group = (await resp.json())["group"]["id"]
        async with admin.http.post(f"{admin.base}/api/v1/admin/groups/{group}/members",
                                   json={"name": NAME, "phone": NATIONAL}) as resp:
            assert resp.status == 201, await resp.text()
        i = schema.contact_identities
        [visitor] = [row[0] for row in await _rows(client, select(i.c.value).where(
            i.c.kind == "chat"))]
        assert visitor in await _everything(client, raw_redis, settings)
        assert _traces(await _everything(client, raw_redis, settings)) == _traces(
            "\n".join([NAME, PHONE, EMAIL, FILE.decode(), *TEXTS.values()])), \
            "the test looks where the data is"
        before = await _timings(client)
        reports = await _reports(admin)
        assert reports["channel"]["totals"]["contacts"] == len(before)
        assert {row["key"] for row in reports["channel"]["rows"]} == {
            timing[1] for timing in before.values()}, "the passenger's requests are counted"

        async with admin.http.post(admin.base + EXPORT, json={"phone": NATIONAL}) as resp:
            assert resp.status == 200, await resp.text()
            assert resp.content_type == "application/zip"
            disposition = resp.headers["Content-Disposition"]
            archive = zipfile.ZipFile(io.BytesIO(await resp.read()))
        assert disposition.startswith("attachment; filename=") and PHONE not in disposition
        exported = json.loads(archive.read("export.json"))

        assert sorted(row["id"] for row in exported["requests"]) == request_ids
        assert {row["channel"] for row in exported["messages"]} == {
            "webform", "sms", "email", "phone", "chat"}
        by_id = {row["id"]: row for row in exported["requests"]}
        form = by_id[min(request_ids, key=lambda i: before[i][5])]
        assert form["timings"]["service_started_at"] and form["timings"]["ended_at"]
        assert form["timings"]["total_service_time_s"] is not None
        assert form["timings"]["processing_delay_s"] is not None
        assert form["last_agent_name"] == "Ville Välittäjä"
        bodies = {row["body"] for row in exported["messages"]}
        assert {TEXTS["form"], TEXTS["sms"], TEXTS["mail"], TEXTS["reply"]} <= bodies
        assert {row["direction"] for row in exported["messages"]} == {"inbound", "outbound"}
        assert [row["caller"] for row in exported["calls"]] == [PHONE, PHONE]
        recordings = {row["provider_id"]: row for row in exported["recordings"]}
        assert sorted(recordings) == sorted([RECORDING, GONE, FAILING])
        voicemail, gone, failing = recordings[RECORDING], recordings[GONE], recordings[FAILING]
        assert (voicemail["kind"], voicemail["transcription"]) == ("voicemail",
                                                                   TEXTS["voicemail"])
        # Twilio's audio, fetched with the account's credentials (else the fake answers 401),
        # beside where Twilio keeps it and when Twilio says the recording was done.
        assert voicemail["location"].endswith(RECORDING) and voicemail["completed_at"]
        assert voicemail["file"] == f"files/recordings/{voicemail['id']}.wav"
        assert archive.read(voicemail["file"]) == AUDIO and "audio_missing" not in voicemail
        assert gone["location"].endswith(GONE) and "file" not in gone
        assert gone["completed_at"] == "2026-12-08T03:15:04+00:00"
        assert gone["audio_missing"] == (
            "the provider no longer has this recording (it answered 404)")
        assert "file" not in failing
        assert failing["audio_missing"] == "the provider answered 503 for the audio"
        assert [name for name in archive.namelist() if name.startswith("files/recordings/")
                ] == [voicemail["file"]]
        [listen] = exported["recording_listens"]
        assert (listen["recording_id"], listen["agent_name"]) == (voicemail["id"],
                                                                  "Ville Välittäjä")
        assert [row["recipient"] for row in exported["deliveries"]] == [PHONE]
        assert {row["action"] for row in exported["handling_events"]} >= {"claim", "resolve"}
        assert TEXTS["note"] in {row["note"] for row in exported["handling_events"]}
        assert {(row["kind"], row["value"]) for row in exported["identities"]} == {
            ("phone", PHONE), ("email", EMAIL), ("chat", visitor)}
        assert [row["name"] for row in exported["contacts"]] == [NAME]
        assert [(row["name"], row["phone"]) for row in exported["group_members"]] == [
            (NAME, PHONE)]
        [mail] = [row for row in exported["messages"] if row["subject"] == TEXTS["subject"]]
        [stored] = mail["files"]
        assert archive.read(stored) == FILE
        assert exported["files_missing"] == []
        async with admin.http.post(admin.base + EXPORT, json={"email": EMAIL.upper()}) as resp:
            assert resp.status == 200
            again = json.loads(zipfile.ZipFile(io.BytesIO(await resp.read()))
                               .read("export.json"))
        assert sorted(row["id"] for row in again["requests"]) == request_ids
        # The command line fetches Twilio's audio as the API does, with the same settings.
        out = tmp_path / "export.zip"
        done = await asyncio.to_thread(_cli, settings, "export", "--phone", NATIONAL, "--out",
                                       str(out), env=_twilio_env(media))
        assert done.returncode == 0, done.stderr
        assert TOKEN not in done.stdout + done.stderr and "/Recordings/" not in done.stderr
        from_cli = zipfile.ZipFile(out)
        recorded = {row["provider_id"]: row for row in json.loads(
            from_cli.read("export.json"))["recordings"]}
        assert from_cli.read(recorded[RECORDING]["file"]) == AUDIO
        assert {sid: recorded[sid].get("audio_missing") for sid in recorded} == {
            RECORDING: None, GONE: gone["audio_missing"], FAILING: failing["audio_missing"]}

        async with admin.http.post(admin.base + ERASE, json={"email": EMAIL}) as resp:
            assert resp.status == 200, await resp.text()
            erased = (await resp.json())["erased"]
        assert erased["requests"] == len(request_ids) and erased["files"] == 1
        assert erased["group_members"] == 1
        assert erased["stream_entries"] > 0

        everything = await _everything(client, raw_redis, settings)
        assert _traces(everything) == [], [everything[everything.find(t) - 300:][:400]
                                           for t in _traces(everything)]
        assert visitor not in everything
        assert not await _rows(client, select(schema.recordings.c.id))

        async def announced() -> bool | None:
            """Consoles are told: the open request now shows a nameless passenger."""
            entries = await raw_redis.xrange(f"{settings.redis.prefix}stream:events") or []
            return True if any('"request.passenger_erased"' in (fields or {}).get("data", "")
                               for _id, fields in entries) else None
        await eventually(announced, what="the erasure announced to consoles")
        assert _traces(await _everything(client, raw_redis, settings)) == []
        assert OTHER["name"] in everything and OTHER["text"] in everything
        after = await _timings(client)
        assert after == before, "request skeletons, agents and timings stay"
        assert await _reports(admin) == reports, "the report totals stay"
        r = schema.contact_requests
        owners = await _rows(client, select(r.c.contact_id).where(r.c.id.in_(
            [row[0] for row in await _rows(client, select(r.c.id))
             if str(row[0]) in request_ids])))
        assert {row[0] for row in owners} == {ERASED_CONTACT_ID}
        assert (await _rows(client, select(func.count()).select_from(r)))[0][0] == len(before)

        async with admin.http.post(admin.base + EXPORT, json={"phone": PHONE}) as resp:
            assert resp.status == 404, await resp.text()
        entries = await _audit(client)
        assert [(e[0], e[1]) for e in entries] == [
            ("subject.export", admin.agent.id), ("subject.export", admin.agent.id),
            ("subject.export", None), ("subject.erase", admin.agent.id)]
        assert entries[0][2] == "phone +358***76" and entries[3][2] == "email ***@example.fi"
        assert all(_traces(repr(e)) == [] for e in entries)

    # The hub's log of all this (searched as tests/log_scan.py searches the run's log):
    # the erasure is in it, the passenger is not.
    logged = _log_since(log_from)
    assert any("subject erasure of email ***@example.fi" in line for line in logged), \
        "the test reads the hub's log"
    passenger = Literals(number_tails=frozenset({PHONE[-NUMBER_TAIL:]}),
                         emails=frozenset({EMAIL}), texts=frozenset({NAME, *TEXTS.values()}),
                         secrets=frozenset())
    assert list(passenger.leaks_in(logged, "the hub's log")) == []
    assert [line for line in logged if "/Recordings/" in line or TOKEN in line] == []


async def test_only_admins_and_only_one_identifier(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    client = await hub(settings)
    team = await dispatcher(client)
    admin = await dispatcher(client, role=Role.ADMIN)
    await submit(team.http, team.base, "subject-form-2", name=NAME, phone=NATIONAL,
                 message=TEXTS["form"])
    for path in (EXPORT, ERASE):
        async with team.http.post(team.base + path, json={"phone": PHONE}) as resp:
            assert resp.status == 403, await resp.text()
        async with client.post(path, json={"phone": PHONE}) as resp:
            assert resp.status == 401
        for body, status in [({}, 422), ({"phone": PHONE, "email": EMAIL}, 422),
                             ({"phone": "not a number"}, 422), ({"email": "nobody"}, 422),
                             ({"phone": ["+358"]}, 422),
                             ({"email": "nobody@example.fi"}, 404)]:
            async with admin.http.post(admin.base + path, json=body) as resp:
                assert resp.status == status, (path, body, await resp.text())
                assert (await resp.json())["error"]
        async with admin.http.post(admin.base + path, data="phone=1",
                                   headers={"Content-Type": "text/plain"}) as resp:
            assert resp.status == 415
    assert await _audit(client) == []
    r = schema.contact_requests
    assert len(await _rows(client, select(r.c.id).where(r.c.contact_id != ERASED_CONTACT_ID))) == 1


def _twilio_env(media: FakeMedia) -> dict[str, str]:
    return {"TAXICONNECT_SMS_TWILIO_ACCOUNT_SID": ACCOUNT,
            "TAXICONNECT_SMS_TWILIO_AUTH_TOKEN": TOKEN,
            "TAXICONNECT_SMS_TWILIO_API_URL": media.url("").rstrip("/")}


def _cli(settings: Settings, *args: str,
         env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("TAXICONNECT_")} | (env or {})
    env.update({
        "PYTHONPATH": str(REPO),
        "TAXICONNECT_DATA_DIR": str(settings.data_dir),
        "TAXICONNECT_DATABASE_URL": settings.database.url.reveal(),
        "TAXICONNECT_REDIS_URL": settings.redis.url.reveal(),
        "TAXICONNECT_REDIS_PREFIX": settings.redis.prefix,
    })
    return subprocess.run([sys.executable, "-m", "hub.cli", *args], env=env,
                          capture_output=True, text=True, timeout=60, check=False)


async def test_the_command_line_exports_and_erases(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings, raw_redis: Redis,
    tmp_path: Path
) -> None:
    """Also across a merge: the passenger who wrote from an address was merged into the one
    who gave the number; either finds both."""
    client = await hub(settings)
    agent = await dispatcher(client)
    first = await submit(agent.http, agent.base, "subject-form-3", name=NAME, phone=NATIONAL,
                         message=TEXTS["form"])
    second = await submit(agent.http, agent.base, "subject-form-4", name="Eeva R.",
                          email=EMAIL, phone="", message=TEXTS["sms"])
    survivor, merged = [(await agent.request(receipt["id"]))["contact"]["id"]
                        for receipt in (first, second)]
    assert survivor != merged
    async with agent.http.post(f"{agent.base}/api/v1/contacts/{merged}/merge",
                               json={"into": survivor}) as resp:
        assert resp.status == 200, await resp.text()
    out = tmp_path / "export.zip"
    done = await asyncio.to_thread(_cli, settings, "export", "--email", EMAIL,
                                   "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert EMAIL not in done.stdout and "***@example.fi" in done.stdout
    assert out.stat().st_mode & 0o077 == 0
    exported = json.loads(zipfile.ZipFile(out).read("export.json"))
    assert sorted(row["id"] for row in exported["requests"]) == sorted(
        [first["id"], second["id"]])
    assert {row["id"]: row["merged_into_id"] for row in exported["contacts"]} == {
        survivor: None, merged: survivor}

    refused = await asyncio.to_thread(_cli, settings, "erase", "--phone", NATIONAL)
    assert refused.returncode != 0 and "--yes" in refused.stderr
    done = await asyncio.to_thread(_cli, settings, "erase", "--phone", NATIONAL, "--yes")
    assert done.returncode == 0, done.stderr
    assert _traces(left := await _everything(client, raw_redis, settings)) == []
    assert "Eeva R." not in left
    missing = await asyncio.to_thread(_cli, settings, "erase", "--phone", NATIONAL, "--yes")
    assert missing.returncode != 0 and "no passenger" in missing.stderr
    entries = await _audit(client)
    assert [(e[0], e[1], e[3]["via"]) for e in entries] == [
        ("subject.export", None, "cli"), ("subject.erase", None, "cli")]


async def test_erasure_leaves_nothing_in_the_embedded_redis_files(
    tmp_path: Path, dispatcher: DispatcherFactory
) -> None:
    """On the embedded defaults: after an erasure Redis rewrites its append-only file, and
    neither it, the snapshot nor the database file holds the passenger any more."""
    from hub.app import create_app
    from hub.appkeys import REDIS
    from hub.settings import load_settings

    data_dir = tmp_path / "data"
    embedded = load_settings(None, environ={"TAXICONNECT_DATA_DIR": str(data_dir)})
    client: Client = TestClient(TestServer(create_app(embedded)))
    await client.start_server()
    try:
        admin = await dispatcher(client, role=Role.ADMIN)
        await submit(admin.http, admin.base, "subject-aof-1", name=NAME, phone=NATIONAL,
                     message=TEXTS["form"])
        await eventually(lambda: _published(client), what="every event published")
        redis = client.app[REDIS].client

        def redis_files() -> str:
            return "\n".join(p.read_bytes().decode("latin-1")
                             for p in data_dir.rglob("*") if p.is_file()
                             and "redis" in p.name and not p.name.endswith(".settings"))
        assert PHONE in await asyncio.to_thread(redis_files), "the test looks where it is"
        async with admin.http.post(admin.base + ERASE, json={"phone": PHONE}) as resp:
            assert resp.status == 200, await resp.text()

        async def rewritten() -> bool | None:
            info = await redis.info("persistence")
            busy = info["aof_rewrite_in_progress"] or info["aof_rewrite_scheduled"]
            return None if busy else True
        await eventually(rewritten, what="the append-only file rewritten")
        await redis.save()
        assert _traces(await asyncio.to_thread(redis_files)) == []
    finally:
        await client.close()
    # Nor the SQLite file, its free pages included, once the hub has closed it.
    left = "\n".join(p.read_bytes().decode("utf-8", "replace")
                     for p in data_dir.rglob("*") if p.is_file())
    assert _traces(left) == []
