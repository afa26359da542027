"""The purge over the channels the form-and-email test leaves out (issue 14, must show: purge):
a generic-CTI call recording and a voice message fetched from the PBX's recording server
into the data folder, a signed SMS from the generic gateway answered through it (a
delivery), and a chat over the widget's websocket answered by a dispatcher (another
delivery).

Every class has a retention of its own, so one run meets data past its retention in one
class and within it in another. The clock moves by configuration
(TAXICONNECT_RETENTION_AS_OF), a day at a time from the moment between the two passengers'
contacts: at each step the class whose retention that step reaches loses the older
passenger's rows, files and Redis entries and keeps the younger's, classes with a shorter
retention have lost the younger's too, and classes with a longer one are untouched. At each
step `purge --dry-run` lists exactly what the run then removes."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis
from sqlalchemy import select

from hub import schema
from hub.appkeys import DATABASE
from hub.purge import ERASED_CONTACT_ID
from hub.settings import (
    ChannelsSettings,
    ChatSettings,
    GenericSmsSettings,
    HttpSettings,
    OutboundSettings,
    PhoneSettings,
    Secret,
    Settings,
    SmsSettings,
)
from tests.chat_site import ORIGIN, open_widget
from tests.chat_site import SECRET as CHAT_SECRET
from tests.conftest import DispatcherFactory, HubFactory, free_port, server_url
from tests.gateways import GENERIC_TOKEN, FakeGenericGateway
from tests.helpers import Dispatcher, eventually, http_session
from tests.hub.test_purge import everything_in, purge_cli

CTI_SECRET = "cti-shared-secret"
FETCH_TOKEN = "recording-server-token"
SMS_SECRET = "whsec_generic_purge"
COMPANY_NUMBER = "+358451234567"
Client = TestClient[Any, Any]

# Days each class is kept, one step of the clock apart (deliveries and calls share a step,
# messages and attachments another). The streams keep what the shortest of recordings,
# deliveries, calls and messages keeps: one day.
RETENTION = {"recordings_days": 1, "deliveries_days": 2, "calls_days": 2,
             "messages_days": 3, "attachments_days": 3, "handling_days": 4, "audit_days": 180}

OLD = {"name": "Vanha Soittaja", "phone": "+358401110011", "sms": "Taksi Vanhatorille",
       "chat": "Hei, kyyti Vanhalinnaan", "sms_reply": "Vanha: auto tulee 5 min",
       "chat_reply": "Vanha: auto matkalla", "audio": b"RIFF old recording " * 64,
       "voicemail": b"RIFF old voicemail " * 64}
YOUNG = {"name": "Nuori Soittaja", "phone": "+358402220022", "sms": "Taksi Nuorisotalolle",
         "chat": "Hei, kyyti Nuorikylaan", "sms_reply": "Nuori: auto tulee 7 min",
         "chat_reply": "Nuori: auto matkalla", "audio": b"RIFF young recording " * 64,
         "voicemail": b"RIFF young voicemail " * 64}


class RecordingServer:
    """The PBX's recording server (docs/generic-cti.md): GET with the Bearer token."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.server: TestServer | None = None

    async def serve(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {FETCH_TOKEN}":
            return web.Response(status=401)
        body = self.files.get(request.match_info["name"])
        if body is None:
            return web.Response(status=404)
        return web.Response(body=body, content_type="audio/x-wav")

    def url(self, name: str) -> str:
        assert self.server is not None
        return str(self.server.make_url(f"/rec/{name}"))


@pytest.fixture
async def recording_server() -> AsyncIterator[RecordingServer]:
    fake = RecordingServer()
    app = web.Application()
    app.router.add_get("/rec/{name}", fake.serve)
    fake.server = TestServer(app, host="127.0.0.1")
    await fake.server.start_server()
    yield fake
    await fake.server.close()


def _settings(settings: Settings, gateway: FakeGenericGateway, server: RecordingServer,
              port: int) -> Settings:
    origin = server.url("").removesuffix("/rec/")
    return dataclasses.replace(
        settings,
        channels=ChannelsSettings(enabled=("webform", "generic_sms", "chat", "phone_cti")),
        http=HttpSettings(public_url=f"http://127.0.0.1:{port}"),
        sms=SmsSettings(generic=GenericSmsSettings(
            signing_secret=Secret(SMS_SECRET), send_url=gateway.url + "/send",
            send_token=Secret(GENERIC_TOKEN), from_number=COMPANY_NUMBER)),
        chat=ChatSettings(allowed_origins=(ORIGIN,), token_secret=Secret(CHAT_SECRET)),
        phone=PhoneSettings(cti_secret=Secret(CTI_SECRET), recording_sources=(origin,),
                            recording_fetch_token=Secret(FETCH_TOKEN)),
        outbound=OutboundSettings(backoff_base_s=0.05, backoff_max_s=0.2, poll_s=0.05,
                                  send_timeout_s=5, max_attempts=4),
        retention=dataclasses.replace(settings.retention, purge_interval_s=0),
    )


async def _sms(client: Client, who: dict[str, Any], tag: str) -> None:
    """A signed inbound SMS, signed as the generic format's documentation says."""
    raw = json.dumps({"message_id": f"gw-{tag}", "from": who["phone"], "to": COMPANY_NUMBER,
                      "text": who["sms"]}).encode()
    t = int(time.time())
    digest = hmac.new(SMS_SECRET.encode(), str(t).encode() + b"." + raw, hashlib.sha256)
    async with client.post("/webhooks/sms/generic", data=raw, headers={
            "Content-Type": "application/json",
            "X-TaxiConnect-Signature": f"t={t},v1={digest.hexdigest()}"}) as resp:
        assert resp.status == 200, await resp.text()


async def _cti(client: Client, **fields: Any) -> None:
    async with client.post("/webhooks/phone/cti", json=fields,
                           headers={"X-CTI-Token": CTI_SECRET}) as resp:
        assert resp.status == 200, await resp.text()


async def _request_with(agent: Dispatcher, body: str) -> str:
    """The id of the open request holding an inbound message `body`."""
    async def probe() -> str | None:
        for summary in await agent.open_requests():
            detail = await agent.request(summary["id"])
            if any(m["body"] == body for m in detail["messages"]):
                return str(detail["id"])
        return None
    return await eventually(probe, what=f"the request of {body!r}")


async def _contacts(client: Client, agent: Dispatcher, server: RecordingServer,
                    who: dict[str, Any], tag: str) -> None:
    """One passenger on SMS, chat and phone (a recorded call and a voice message), and a
    dispatcher's answers by SMS and chat; returns once every delivery is sent and every
    event is in Redis."""
    await _sms(client, who, tag)
    sms_request = await _request_with(agent, who["sms"])
    status, answer = await agent.reply(sms_request, who["sms_reply"], f"{tag}-sms")
    assert status == 201, answer

    async with http_session() as passenger:
        widget = await open_widget(passenger, server_url(client), ORIGIN)
        await widget.send({"type": "prechat", "name": who["name"]})
        assert (await widget.next("prechat"))["ok"] is True
        await widget.say(who["chat"])
        await widget.next("ack")
        chat_request = await _request_with(agent, who["chat"])
        status, answer = await agent.reply(chat_request, who["chat_reply"], f"{tag}-chat")
        assert status == 201, answer
        line = await widget.next("message")
        await widget.send({"type": "seen", "message_id": line["id"]})
        await agent.wait_for_reply(chat_request, "delivered")
        await widget.close()
    await agent.wait_for_reply(sms_request, "sent")

    server.files[f"{tag}.wav"] = who["audio"]
    server.files[f"{tag}-vm.wav"] = who["voicemail"]
    recorded = {"from": who["phone"], "to": "0912345678", "direction": "in",
                "callId": f"{tag}.1"}
    await _cti(client, event="newCall", **recorded)
    await _cti(client, event="hangup", cause="normalClearing", **recorded)
    await _cti(client, event="recording", callId=recorded["callId"], recordingId=f"{tag}-rec",
               url=server.url(f"{tag}.wav"), duration="12")
    missed = {**recorded, "callId": f"{tag}.2"}
    await _cti(client, event="newCall", **missed)
    await _cti(client, event="hangup", cause="cancel", **missed)
    await _cti(client, event="voicemail", callId=missed["callId"], recordingId=f"{tag}-vm",
               url=server.url(f"{tag}-vm.wav"))

    async def settled() -> bool | None:
        """Every event of these contacts published and every delivery done."""
        dl = schema.deliveries
        async with client.app[DATABASE].read() as conn:
            if (await conn.execute(select(schema.outbox.c.id))).first():
                return None
            states = (await conn.execute(select(dl.c.state))).scalars().all()
        return True if set(states) <= {"sent", "delivered"} else None
    await eventually(settled, what="every event published and every delivery sent")
    await asyncio.sleep(0.05)


async def _rows(client: Client) -> dict[str, list[Any]]:
    """The rows of the tables the purge works on."""
    tables = {"requests": schema.contact_requests, "messages": schema.messages,
              "contacts": schema.contacts, "calls": schema.calls,
              "recordings": schema.recordings, "deliveries": schema.deliveries,
              "handling_events": schema.handling_events}
    async with client.app[DATABASE].read() as conn:
        return {name: list(await conn.execute(select(table))) for name, table in tables.items()}


def _utc(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


async def _audio(agent: Dispatcher, recording_id: uuid.UUID) -> tuple[int, bytes]:
    url = f"{agent.base}/api/v1/recordings/{recording_id}/audio"
    async with agent.http.get(url) as resp:
        return resp.status, await resp.read()


def _files(data_dir: Path) -> set[bytes]:
    folder = data_dir / "recordings"
    return {p.read_bytes() for p in folder.rglob("*") if p.is_file()} if folder.exists() \
        else set()


async def test_each_class_goes_at_its_own_retention_on_every_channel(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings, raw_redis: Redis,
    recording_server: RecordingServer
) -> None:
    async with FakeGenericGateway() as gateway:
        port = free_port()
        client = await hub(_settings(settings, gateway, recording_server, port), port=port)
        agent = await dispatcher(client)
        console = await agent.console()  # chat is offered while a dispatcher is on
        await _contacts(client, agent, recording_server, OLD, "old")
        await asyncio.sleep(0.05)
        between = datetime.now(UTC)
        await asyncio.sleep(0.05)
        await _contacts(client, agent, recording_server, YOUNG, "young")
        await console.close()

        rows = await _rows(client)
        everything = await everything_in(client, raw_redis, settings)
        for private in (*OLD.values(), *YOUNG.values()):
            text = private.decode() if isinstance(private, bytes) else private
            assert text in everything, text  # the test looks where the data is
        redis_only = await everything_in(client, raw_redis, settings, database=False)
        texts = ("name", "phone", "sms", "chat", "sms_reply", "chat_reply")
        in_redis = [name for name in texts if OLD[name] in redis_only]
        assert {"name", "phone", "sms", "chat"} <= set(in_redis), in_redis
        assert in_redis == [name for name in texts if YOUNG[name] in redis_only]

        def old(name: str, at: str) -> set[Any]:
            return {row.id for row in rows[name] if _utc(getattr(row, at)) < between}

        def young(name: str, at: str) -> set[Any]:
            return {row.id for row in rows[name] if _utc(getattr(row, at)) >= between}

        old_recordings, young_recordings = (old("recordings", "created_at"),
                                            young("recordings", "created_at"))
        old_deliveries, young_deliveries = (old("deliveries", "created_at"),
                                            young("deliveries", "created_at"))
        old_calls, young_calls = old("calls", "started_at"), young("calls", "started_at")
        old_requests, young_requests = (old("requests", "case_started_at"),
                                        young("requests", "case_started_at"))
        old_handling = old("handling_events", "at")
        assert (len(old_recordings), len(young_recordings)) == (2, 2)
        assert (len(old_deliveries), len(young_deliveries)) == (2, 2)
        assert (len(old_calls), len(young_calls)) == (2, 2)
        assert len(old_requests) >= 2 and len(young_requests) >= 2 and old_handling
        messages_of = {rid: sum(1 for m in rows["messages"] if m.request_id == rid)
                       for rid in old_requests | young_requests}
        old_contacts = old("contacts", "created_at")
        assert old_contacts and young("contacts", "created_at")
        for recording_id in old_recordings | young_recordings:
            assert (await _audio(agent, recording_id))[0] == 200

        async def step(days: int) -> dict[str, int]:
            """Move the clock to `between` + days: the dry run, then the run; both list the
            same. Returns the counts."""
            as_of = between + timedelta(days=days)
            planned = purge_cli(settings, as_of, "--dry-run", retention=RETENTION)
            removed = purge_cli(settings, as_of, retention=RETENTION)
            assert removed == planned, (days, planned, removed)
            return {name: count for name, (count, _oldest) in planned.items()}

        def nothing_else(counts: dict[str, int], *due: str) -> None:
            others = {name: count for name, count in counts.items()
                      if name not in (*due, "stream_entries") and count}
            assert others == {}, others

        # Day 1: the older passenger's recording and voice message, rows and files, and
        # every stream entry older than a day; nothing else, though it is the same contact.
        counts = await step(1)
        assert counts["recordings"] == 2 and counts["stream_entries"] > 0
        nothing_else(counts, "recordings")
        now = await _rows(client)
        assert {row.id for row in now["recordings"]} == young_recordings
        assert _files(settings.data_dir) == {YOUNG["audio"], YOUNG["voicemail"]}
        for recording_id in old_recordings:
            assert (await _audio(agent, recording_id))[0] == 404
        for recording_id in young_recordings:
            status, body = await _audio(agent, recording_id)
            assert status == 200 and body in (YOUNG["audio"], YOUNG["voicemail"])
        assert {row.id for row in now["deliveries"]} == old_deliveries | young_deliveries
        assert {row.caller for row in now["calls"]} == {OLD["phone"], YOUNG["phone"]}
        redis_only = await everything_in(client, raw_redis, settings, database=False)
        for private in in_redis:
            assert OLD[private] not in redis_only, private
            assert YOUNG[private] in redis_only, private
        oldest = await raw_redis.xrange(f"{settings.redis.prefix}stream:events", count=1)
        assert int(oldest[0][0].split("-")[0]) >= int(between.timestamp() * 1000)

        # Day 2: the older passenger's deliveries and call numbers (the calls and their
        # timings stay); the younger's recordings now too.
        counts = await step(2)
        assert (counts["deliveries"], counts["calls"], counts["recordings"]) == (2, 2, 2)
        nothing_else(counts, "deliveries", "calls", "recordings")
        now = await _rows(client)
        assert now["recordings"] == [] and _files(settings.data_dir) == set()
        assert {row.id for row in now["deliveries"]} == young_deliveries
        calls = {row.id: row for row in now["calls"]}
        assert set(calls) == old_calls | young_calls
        assert {calls[i].caller for i in old_calls} == {""}
        assert all(calls[i].started_at and calls[i].ended_at for i in old_calls)
        assert {calls[i].caller for i in young_calls} == {YOUNG["phone"]}
        requests = {row.id: row for row in now["requests"]}
        assert all(requests[i].contact_id != ERASED_CONTACT_ID for i in old_requests)

        # Day 3: the older passenger's requests lose everything personal, their messages
        # their texts, and the passenger goes; nothing of them is left anywhere.
        counts = await step(3)
        assert counts["requests"] == len(old_requests)
        assert counts["messages"] == sum(messages_of[i] for i in old_requests)
        assert counts["contacts"] == len(old_contacts)
        assert (counts["calls"], counts["deliveries"]) == (2, 2)
        nothing_else(counts, "requests", "messages", "contacts", "calls", "deliveries")
        everything = await everything_in(client, raw_redis, settings)
        for private in OLD.values():
            text = private.decode() if isinstance(private, bytes) else private
            assert text not in everything, text
        for private in texts:
            assert YOUNG[private] in everything, private
        now = await _rows(client)
        assert now["deliveries"] == []
        was = {row.id: row for row in rows["requests"]}
        requests = {row.id: row for row in now["requests"]}
        for request_id in old_requests:
            assert requests[request_id].contact_id == ERASED_CONTACT_ID
            for timing in ("case_started_at", "queued_at", "ended_at", "channel", "status"):
                assert getattr(requests[request_id], timing) == \
                    getattr(was[request_id], timing), timing
        for request_id in young_requests:
            assert requests[request_id] == was[request_id]
        assert {row.id for row in now["handling_events"]} >= old_handling

        # Day 4: the older passenger's handling events; the younger's requests now too.
        counts = await step(4)
        assert counts["handling_events"] == len(old_handling)
        assert counts["requests"] == len(young_requests)
        nothing_else(counts, "handling_events", "requests", "messages", "contacts")
        now = await _rows(client)
        left = {row.id for row in now["handling_events"]}
        assert left == {row.id for row in rows["handling_events"]} - old_handling
        assert {r.contact_id for r in now["requests"]} == {ERASED_CONTACT_ID}
