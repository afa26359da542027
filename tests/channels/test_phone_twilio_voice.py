"""Twilio voice callbacks, signed as Twilio signs them: an answered call and a missed one,
a voicemail with its transcription kept on the request, and its audio played from a local
server speaking Twilio's media API, every listen recorded."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis
from sqlalchemy import select

from hub import schema
from hub.agents import add_agent
from hub.appkeys import DATABASE
from hub.keys import Keys
from hub.model import Agent, Role
from hub.settings import (
    ChannelsSettings,
    HttpSettings,
    Secret,
    Settings,
    SmsSettings,
    TwilioSettings,
)
from tests.conftest import PASSWORD, DispatcherFactory, HubFactory, free_port
from tests.gateways import twilio_signature
from tests.helpers import Dispatcher, eventually

TOKEN = "twilio-voice-auth-token"
ACCOUNT = "AC" + "2" * 32
PASSENGER = "+358401234567"
COMPANY = "+358912345678"
AUDIO = b"RIFF" + bytes(range(256)) * 300  # a voice message, 76 kB
RECORDING = "RE" + "7" * 32
SETTLE_S = 0.3


class FakeMedia:
    """Twilio's recording media, as `GET /2010-04-01/Accounts/{sid}/Recordings/{sid}`
    serves it: Basic auth with the account SID and auth token, else 401."""

    def __init__(self) -> None:
        self.requests: list[web.Request] = []
        self.server: TestServer | None = None

    async def audio(self, request: web.Request) -> web.Response:
        self.requests.append(request)
        expected = base64.b64encode(f"{ACCOUNT}:{TOKEN}".encode()).decode()
        if request.headers.get("Authorization") != f"Basic {expected}":
            return web.json_response({"code": 20003, "message": "Authenticate"}, status=401)
        if request.match_info["sid"] != RECORDING:
            return web.json_response({"code": 20404, "message": "not found"}, status=404)
        return web.Response(body=AUDIO, content_type="audio/x-wav")

    def url(self, path: str = "") -> str:
        assert self.server is not None
        return str(self.server.make_url(path))


@pytest.fixture
async def media() -> AsyncIterator[FakeMedia]:
    fake = FakeMedia()
    app = web.Application()
    app.router.add_get("/2010-04-01/Accounts/{account}/Recordings/{sid}", fake.audio)
    fake.server = TestServer(app, host="127.0.0.1")
    await fake.server.start_server()
    yield fake
    await fake.server.close()


async def _hub(hub: HubFactory, settings: Settings, media: FakeMedia) -> TestClient[Any, Any]:
    port = free_port()
    return await hub(dataclasses.replace(
        settings, channels=ChannelsSettings(enabled=("webform", "twilio_voice")),
        http=HttpSettings(public_url=f"http://127.0.0.1:{port}"),
        sms=SmsSettings(twilio=TwilioSettings(auth_token=Secret(TOKEN), account_sid=ACCOUNT,
                                              api_url=media.url("").rstrip("/")))), port=port)


def _call(sid: str, status: str, **extra: str) -> list[tuple[str, str]]:
    """A status callback's parameters, as Twilio posts them."""
    params = {"AccountSid": ACCOUNT, "ApiVersion": "2010-04-01", "CallSid": sid,
              "CallStatus": status, "Direction": "inbound", "From": PASSENGER,
              "Caller": PASSENGER, "To": COMPANY, "Called": COMPANY,
              "CallbackSource": "call-progress-events", **extra}
    return list(params.items())


async def _twilio(client: TestClient[Any, Any], params: list[tuple[str, str]],
                  token: str = TOKEN) -> int:
    url = str(client.make_url("/webhooks/phone/twilio"))
    async with client.post("/webhooks/phone/twilio", data=urlencode(params), headers={
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": twilio_signature(token, url, params),
    }) as resp:
        text = await resp.text()
        if resp.status == 200:
            assert text == '<?xml version="1.0" encoding="UTF-8"?><Response />'
        return resp.status


async def _all(viewer: Dispatcher) -> list[dict[str, Any]]:
    url = f"{viewer.base}/api/v1/requests?status=queued,claimed,resolved"
    async with viewer.http.get(url) as resp:
        return [await viewer.request(r["id"]) for r in (await resp.json())["requests"]]


async def test_call_answered_on_a_dialled_leg_is_handled_by_that_agent(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings, media: FakeMedia
) -> None:
    client = await _hub(hub, settings, media)
    viewer = await dispatcher(client)
    agent: Agent = await add_agent(client.app[DATABASE], login="liisa", name="Liisa",
                                   role=Role.TEAM, password=PASSWORD, phone="040 111 0000")
    parent, leg = "CA" + "a" * 32, "CA" + "b" * 32

    assert await _twilio(client, _call(parent, "ringing")) == 200
    assert await _twilio(client, _call(parent, "in-progress")) == 200  # the TwiML took it
    [detail] = await _all(viewer)
    assert (detail["status"], detail["calls"][0]["state"]) == ("queued", "ringing")
    assert await _twilio(client, _call(leg, "in-progress", ParentCallSid=parent,
                                       Direction="outbound-dial", To="+358401110000")) == 200
    assert await _twilio(client, _call(leg, "completed", ParentCallSid=parent,
                                       Direction="outbound-dial", To="+358401110000",
                                       CallDuration="42")) == 200
    assert await _twilio(client, _call(parent, "completed", CallDuration="47")) == 200

    [detail] = await _all(viewer)
    assert detail["status"] == "resolved"
    assert detail["last_agent"]["id"] == str(agent.id)
    [call] = detail["calls"]
    assert (call["provider"], call["state"], call["cause"], call["agent"]["id"]) \
        == ("twilio", "ended", "completed", str(agent.id))
    assert [h["action"] for h in detail["history"]] == ["claim", "resolve"]


@pytest.mark.parametrize("status", ["no-answer", "busy", "canceled", "failed"])
async def test_call_ending_unanswered_becomes_a_callback_request(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings, media: FakeMedia,
    status: str
) -> None:
    client = await _hub(hub, settings, media)
    viewer = await dispatcher(client)
    sid = "CA" + "9" * 32
    assert await _twilio(client, _call(sid, "ringing")) == 200
    assert await _twilio(client, _call(sid, status)) == 200
    [callback] = await viewer.open_requests()
    assert (callback["details"]["callback"], callback["details"]["callback_number"]) \
        == ("true", PASSENGER)
    [call] = (await viewer.request(callback["id"]))["calls"]
    assert (call["state"], call["cause"], call["answered_at"]) == ("ended", status, None)


async def test_missed_call_with_voicemail_and_transcription_is_a_callback_request(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings, media: FakeMedia
) -> None:
    client = await _hub(hub, settings, media)
    viewer = await dispatcher(client)
    sid = "CA" + "c" * 32
    recording_url = media.url(f"/2010-04-01/Accounts/{ACCOUNT}/Recordings/{RECORDING}")
    recorded = [("AccountSid", ACCOUNT), ("CallSid", sid), ("RecordingSid", RECORDING),
                ("RecordingUrl", recording_url), ("RecordingStatus", "completed"),
                ("RecordingDuration", "12"), ("RecordingChannels", "1"),
                ("RecordingSource", "RecordVerb"),
                ("RecordingStartTime", "Mon, 07 Dec 2026 10:15:30 +0000")]

    assert await _twilio(client, _call(sid, "ringing")) == 200
    assert await _twilio(client, _call(sid, "in-progress")) == 200
    assert await _twilio(client, recorded) == 200
    assert await _twilio(client, _call(sid, "completed", CallDuration="20")) == 200
    assert await _twilio(client, [*recorded[:3], ("TranscriptionSid", "TR" + "1" * 32),
                                  ("TranscriptionText", "Taksi Kamppiin heti, kiitos"),
                                  ("TranscriptionStatus", "completed"),
                                  ("RecordingUrl", recording_url)]) == 200
    before = await _all(viewer)
    assert await _twilio(client, recorded) == 200  # Twilio's retry: nothing new
    assert await _all(viewer) == before

    [detail] = before
    assert detail["status"] == "queued"
    assert (detail["details"]["callback"], detail["details"]["callback_number"]) \
        == ("true", PASSENGER)
    [voicemail] = detail["recordings"]
    assert (voicemail["kind"], voicemail["name"], voicemail["duration_s"]) \
        == ("voicemail", RECORDING, 12)
    assert voicemail["transcription"] == "Taksi Kamppiin heti, kiitos"
    assert voicemail["call_id"] == detail["calls"][0]["id"]
    # Twilio's time: when the recording started plus its duration.
    assert voicemail["completed_at"] == "2026-12-07T10:15:42+00:00"
    assert voicemail["listens"] == 0
    assert "location" not in voicemail  # played through the hub, never fetched around it


async def test_playing_a_voicemail_streams_it_and_records_each_listen(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings, media: FakeMedia
) -> None:
    client = await _hub(hub, settings, media)
    viewer = await dispatcher(client)
    outsider = await dispatcher(client, role=Role.EXTERNAL)
    sid = "CA" + "d" * 32
    await _twilio(client, _call(sid, "ringing"))
    await _twilio(client, [("AccountSid", ACCOUNT), ("CallSid", sid),
                           ("RecordingSid", RECORDING), ("RecordingStatus", "completed"),
                           ("RecordingUrl", media.url(
                               f"/2010-04-01/Accounts/{ACCOUNT}/Recordings/{RECORDING}")),
                           ("RecordingDuration", "3")])
    [detail] = await _all(viewer)
    audio_url = viewer.base + detail["recordings"][0]["audio_url"]

    listens = []
    for _ in range(2):
        async with viewer.http.get(audio_url) as resp:
            assert resp.status == 200
            assert resp.content_type == "audio/x-wav"
            assert await resp.read() == AUDIO
            listens.append(uuid.UUID(resp.headers["X-Listen-Id"]))
    assert listens[0] != listens[1]
    assert (await viewer.request(detail["id"]))["recordings"][0]["listens"] == 2

    async with outsider.http.get(audio_url) as resp:
        assert resp.status == 404  # not assigned to them
    async with client.get(audio_url.removeprefix(viewer.base)) as resp:
        assert resp.status == 401  # no session

    async with client.app[DATABASE].read() as conn:
        rows = (await conn.execute(
            select(schema.recording_listens.c.id, schema.recording_listens.c.agent_id)
            .order_by(schema.recording_listens.c.at))).all()
        audit = (await conn.execute(
            select(schema.audit_log.c.agent_id, schema.audit_log.c.detail)
            .where(schema.audit_log.c.action == "recording.listen")
            .order_by(schema.audit_log.c.id))).all()
    assert [(row.id, row.agent_id) for row in rows] \
        == [(listen, viewer.agent.id) for listen in listens]
    assert [(a.agent_id, a.detail["listen_id"]) for a in audit] \
        == [(viewer.agent.id, str(listen)) for listen in listens]
    assert len(media.requests) == 2


async def test_unsigned_or_missigned_callbacks_store_nothing(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings, media: FakeMedia
) -> None:
    client = await _hub(hub, settings, media)
    viewer = await dispatcher(client)
    sid = "CA" + "e" * 32
    assert await _twilio(client, _call(sid, "ringing"), token="another-account") == 403
    async with client.post("/webhooks/phone/twilio", data=dict(_call(sid, "ringing"))) as resp:
        assert resp.status == 403
    assert await _all(viewer) == []
    orphan = [("AccountSid", ACCOUNT), ("CallSid", "CA" + "f" * 32),
              ("RecordingSid", RECORDING), ("RecordingStatus", "completed"),
              ("RecordingUrl", media.url("/r"))]
    assert await _twilio(client, orphan) == 404  # a recording of a call never reported


# The phone fixes of issue 12, as test_phone_cti.py proves them for generic CTI, here with
# Twilio's signed status callbacks: the agent named by the Twilio Client identity their
# dialled leg rang (their phone login), a leg dialled to a number no agent has, and a leg's
# answer that arrives after the caller's call completed (Twilio does not promise to deliver
# status callbacks in order).

def _leg(parent: str, leg: str, status: str, to: str, **extra: str) -> list[tuple[str, str]]:
    """A status callback of the leg a <Dial> in the parent call's TwiML rang."""
    return _call(leg, status, ParentCallSid=parent, Direction="outbound-dial", To=to,
                 Called=to, **extra)


async def _only(viewer: Dispatcher) -> dict[str, Any]:
    found = await _all(viewer)
    assert len(found) == 1, found
    return found[0]


async def _published(raw_redis: Redis, settings: Settings) -> int:
    """Console events published so far, once none has come for a while."""
    key = Keys(settings.redis.prefix).events

    async def settled() -> int | None:
        before = await raw_redis.xlen(key)
        await asyncio.sleep(SETTLE_S)
        return before if before == await raw_redis.xlen(key) else None
    return await eventually(settled, what="the event stream settling")


async def test_client_identity_of_the_answering_leg_is_matched_to_the_phone_login(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings, media: FakeMedia
) -> None:
    client = await _hub(hub, settings, media)
    viewer = await dispatcher(client)
    liisa: Agent = await add_agent(client.app[DATABASE], login="liisa", name="Liisa Laine",
                                   role=Role.TEAM, password=PASSWORD, phone_login="tc-liisa")
    parent, leg = "CA" + "1" * 32, "CA" + "2" * 32
    assert await _twilio(client, _call(parent, "ringing")) == 200
    assert await _twilio(client, _call(parent, "in-progress")) == 200
    # <Dial><Client>TC-Liisa</Client></Dial>: her identity, her phone login in another case.
    assert await _twilio(client, _leg(parent, leg, "in-progress", "client:TC-Liisa")) == 200

    claimed = await _only(viewer)
    assert claimed["status"] == "claimed"
    assert claimed["assigned_agent"]["id"] == str(liisa.id)
    assert await _twilio(client, _leg(parent, leg, "completed", "client:TC-Liisa",
                                      CallDuration="30")) == 200
    assert await _twilio(client, _call(parent, "completed", CallDuration="35")) == 200
    detail = await _only(viewer)
    assert detail["status"] == "resolved" and detail["last_agent"]["id"] == str(liisa.id)
    assert [(h["action"], h["agent"]["id"]) for h in detail["history"]] \
        == [("claim", str(liisa.id)), ("resolve", str(liisa.id))]
    assert detail["calls"][0]["agent"]["id"] == str(liisa.id)


async def test_a_call_answered_on_a_number_no_agent_has_ends_resolved_with_no_agent(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings, media: FakeMedia
) -> None:
    client = await _hub(hub, settings, media)
    viewer = await dispatcher(client)
    console = await viewer.console()
    await add_agent(client.app[DATABASE], login="liisa", name="Liisa", role=Role.TEAM,
                    password=PASSWORD, phone="040 111 0000")
    parent, leg, stranger = "CA" + "3" * 32, "CA" + "4" * 32, "+358401119999"
    assert await _twilio(client, _call(parent, "ringing")) == 200
    assert await _twilio(client, _call(parent, "in-progress")) == 200
    assert await _twilio(client, _leg(parent, leg, "in-progress", stranger)) == 200

    answered = await _only(viewer)
    assert (answered["status"], answered["assigned_agent"]) == ("queued", None)
    assert answered["calls"][0]["state"] == "answered"
    assert answered["timings"]["service_started_at"] == answered["calls"][0]["answered_at"]
    assert await _twilio(client, _leg(parent, leg, "completed", stranger,
                                      CallDuration="40")) == 200
    assert await _twilio(client, _call(parent, "completed", CallDuration="44")) == 200

    ended = (await console.until(lambda e: e["type"] == "call.ended"))[-1]
    assert ended["request"]["status"] == "resolved"
    detail = await _only(viewer)
    assert (detail["status"], detail["last_agent"], detail["history"]) \
        == ("resolved", None, [])
    [recorded] = detail["calls"]
    assert (recorded["state"], recorded["agent"], recorded["cause"]) \
        == ("ended", None, "completed")
    timings = detail["timings"]
    assert timings["service_started_at"] == recorded["answered_at"]
    assert timings["first_response_at"] == recorded["answered_at"]
    assert timings["ended_at"] == recorded["ended_at"]
    assert await viewer.open_requests() == []


async def test_a_call_completed_before_any_answer_is_missed_and_a_late_answer_is_ignored(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings, media: FakeMedia,
    raw_redis: Redis
) -> None:
    client = await _hub(hub, settings, media)
    viewer = await dispatcher(client)
    await add_agent(client.app[DATABASE], login="liisa", name="Liisa", role=Role.TEAM,
                    password=PASSWORD, phone="040 111 0000")
    parent, leg = "CA" + "5" * 32, "CA" + "6" * 32
    assert await _twilio(client, _call(parent, "ringing")) == 200
    assert await _twilio(client, _call(parent, "in-progress")) == 200  # into the queue
    # The caller leaves before anyone answers: the call itself completed normally.
    assert await _twilio(client, _call(parent, "completed", CallDuration="25")) == 200

    missed = await _only(viewer)
    assert missed["status"] == "queued" and missed["assigned_agent"] is None
    details = missed["details"]
    assert (details["callback"], details["callback_number"], details["missed_calls"]) \
        == ("true", PASSENGER, "1")
    assert datetime.fromisoformat(details["callback_due_at"]) \
        - datetime.fromisoformat(details["missed_at"]) == timedelta(minutes=15)
    assert (missed["calls"][0]["state"], missed["calls"][0]["cause"],
            missed["calls"][0]["answered_at"]) == ("ended", "completed", None)

    published = await _published(raw_redis, settings)
    assert await _twilio(client, _leg(parent, leg, "in-progress", "+358401110000")) == 200
    assert await _only(viewer) == missed  # no claim, no agent, same version
    assert await _published(raw_redis, settings) == published
