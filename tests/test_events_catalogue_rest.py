"""The catalogue's types the main live test (tests/test_events_catalogue.py) leaves to this
one, each brought about through the public interfaces on a hub set up for them: an offer
lane (offered, let lapse, declined over HTTP), a staff group messaged by SMS through a local
server speaking Twilio's API, a PBX's recording fetched from a local recording server, an
automatic answer to a chat, a console told to resync once the events stream no longer keeps
where it resumes from, and a widget (the `websockets` library, as any client reads the wire)
hearing a refusal, a dispatcher typing and the availability changing. Every frame received
must fit its catalogue struct and the AsyncAPI schema.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from typing import Any

import pytest
import websockets
from aiohttp import web
from aiohttp.test_utils import TestServer
from websockets.typing import Origin

from hub.model import Role
from hub.settings import (
    AnswersSettings,
    ChannelsSettings,
    HttpSettings,
    PhoneSettings,
    QueueSettings,
    Secret,
    Settings,
    SmsSettings,
    TwilioSettings,
)
from tests.channels.test_phone_recordings_cti import FETCH_TOKEN, RecordingServer
from tests.chat_site import ORIGIN, chat_settings
from tests.conftest import DispatcherFactory, HubFactory, free_port, server_url
from tests.gateways import FakeTwilio
from tests.helpers import Dispatcher, eventually, submit
from tests.test_events_catalogue import DRIVEN_ELSEWHERE, Recorder, fitting

CTI_SECRET = "cti-catalogue-rest-secret"
TWILIO_TOKEN = "twilio-catalogue-rest-token"
TWILIO_ACCOUNT = "AC" + "7" * 32
# The shortest offer the lanes API allows: the test lets one lapse.
OFFERS = {"key": "orders", "name_fi": "Tilaukset", "name_en": "Orders", "strategy": "offer",
          "offer_timeout_s": 5, "target_wait_s": 60}
# Few events kept: a console that was away for a few dozen must reload its list.
EVENTS_KEPT = 20


async def _json(agent: Dispatcher, method: str, path: str,
                body: dict[str, Any] | None = None, status: int = 200) -> Any:
    async with agent.http.request(method, agent.base + path, json=body) as resp:
        assert resp.status == status, (method, path, resp.status, await resp.text())
        return await resp.json() if resp.status != 204 else None


async def test_offers_groups_recordings_auto_answers_resync_and_widget_frames_fit(
    hub: HubFactory, settings: Settings, dispatcher: DispatcherFactory,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    # The widget's availability is looked at on its beat: often, so a change is seen soon.
    monkeypatch.setattr("channels.chat.session.BEAT_S", 0.2)
    recordings = RecordingServer()
    pbx = web.Application()
    pbx.router.add_get("/rec/{name}", recordings.serve)
    recordings.server = TestServer(pbx, host="127.0.0.1")
    await recordings.server.start_server()
    async with FakeTwilio(account_sid=TWILIO_ACCOUNT, auth_token=TWILIO_TOKEN) as twilio:
        try:
            await _drive(hub, settings, dispatcher, recordings, twilio)
        finally:
            await recordings.server.close()


async def _drive(hub: HubFactory, settings: Settings, dispatcher: DispatcherFactory,
                 recordings: RecordingServer, twilio: FakeTwilio) -> None:
    port = free_port()
    client = await hub(dataclasses.replace(
        chat_settings(settings),
        channels=ChannelsSettings(enabled=("webform", "chat", "phone_cti", "twilio_sms")),
        http=HttpSettings(public_url=f"http://127.0.0.1:{port}"),
        queue=QueueSettings(reclaim_idle_ms=500, events_maxlen=EVENTS_KEPT,
                            outbox_sweep_s=0.5, offer_check_s=0.1),
        answers=AnswersSettings(acknowledge=("chat",)),
        phone=PhoneSettings(cti_secret=Secret(CTI_SECRET),
                            recording_sources=(recordings.url("").removesuffix("/rec/"),),
                            recording_fetch_token=Secret(FETCH_TOKEN)),
        sms=SmsSettings(twilio=TwilioSettings(
            auth_token=Secret(TWILIO_TOKEN), account_sid=TWILIO_ACCOUNT,
            from_number="+358451234567", api_url=twilio.url)),
    ), port=port)
    base = server_url(client)
    admin = await dispatcher(client, role=Role.ADMIN, name="Ylläpitäjä")
    await _json(admin, "POST", "/api/v1/admin/lanes", OFFERS, 201)
    await _json(admin, "POST", "/api/v1/admin/routing-rules",
                {"lane": OFFERS["key"], "keywords": ["tilau"]}, 201)
    group = (await _json(admin, "POST", "/api/v1/admin/groups", {"name": "Yövuoro"}, 201)
             )["group"]
    await _json(admin, "POST", f"/api/v1/admin/groups/{group['id']}/members/import",
                {"csv": "nimi;puhelin;sähköposti\nKuljettaja Yksi;040 100 0001;"})

    # The widget opens while no dispatcher is online, and hears when one comes.
    widget_ws = await websockets.connect(base.replace("http://", "ws://") + "/chat/ws",
                                         origin=Origin(ORIGIN))
    widget = Recorder(widget_ws).start()
    await widget_ws.send(json.dumps({"type": "hello", "token": None, "last_seen": None,
                                     "lang": "fi"}))
    welcome = await widget.until(lambda f: f["type"] == "welcome", "welcome")
    assert (welcome["available"], welcome["reason"]) == (False, "no_dispatcher")
    anna = await dispatcher(client, name="Anna Ajaja")
    ben = await dispatcher(client, name="Ben Bensow")
    console = Recorder(await anna.http.ws_connect(f"{base}/api/v1/console/ws")).start()
    await ben.console()  # online too: the offer moves on to him, or from him
    await widget.until(lambda f: f["type"] == "availability" and f["available"],
                       "the dispatchers' availability")

    def seen(kind: str, **match: Any) -> Any:
        return console.until(lambda e: e.get("type") == kind and all(
            e.get(k) == v for k, v in match.items()), kind)

    # An order into the offer lane: offered at once; the offer lapses in its own time.
    offered = await submit(admin.http, base, "cat-rest-offer", phone="040 555 0101",
                           message="Tilaus: taksi lentoasemalle")
    first_offer = await seen("request.offer")
    assert first_offer["request"]["id"] == offered["id"]

    # A chat: acknowledged by the hub itself, a refused line, a dispatcher typing.
    await widget_ws.send(json.dumps({"type": "message", "id": uuid.uuid4().hex,
                                     "text": "Taksi rautatieasemalle"}))
    await widget.until(lambda f: f["type"] == "ack", "ack")
    chat_request = (await seen("request.auto_answer"))["request"]["id"]
    await widget_ws.send(json.dumps({"type": "message", "id": "nul-00001",
                                     "text": "Taksi\x00"}))
    await widget.until(lambda f: f["type"] == "nack", "nack")
    await _json(anna, "POST", f"/api/v1/requests/{chat_request}/typing", {"on": True}, 204)
    await widget.until(lambda f: f["type"] == "typing", "a dispatcher typing")

    # The staff group messaged by SMS.
    await _json(anna, "POST", f"/api/v1/groups/{group['id']}/messages", {
        "body": "Lumimyrsky: vapaat autot lentoasemalle.", "channels": ["sms"],
        "client_key": "cat-rest-group"}, 201)
    await seen("request.group_message")

    # A missed call whose voice message the PBX's recording server holds.
    call = {"from": "0409990101", "to": "0912345678", "direction": "in",
            "callId": "1700000000.901"}
    for step in ({**call, "event": "newCall"}, {**call, "event": "hangup", "cause": "cancel"},
                 {"event": "voicemail", "callId": call["callId"],
                  "url": recordings.url("901.wav")}):
        async with admin.http.post(f"{base}/webhooks/phone/cti", json=step,
                                   headers={"X-CTI-Token": CTI_SECRET}) as resp:
            assert resp.status == 200, await resp.text()
    await seen("call.recording")

    # A console back from where the stream no longer reaches is told to reload (while the
    # offer lapses).
    oldest_seen = console.events()[0]["id"]
    returning: list[Recorder] = []

    async def told_to_resync() -> Recorder | None:
        await _json(anna, "POST", f"/api/v1/requests/{chat_request}/notes",
                    {"text": "Matkustaja odottaa"})
        again = Recorder(await anna.http.ws_connect(
            f"{base}/api/v1/console/ws?last_event_id={oldest_seen}")).start()
        returning.append(again)
        first = await again.until(lambda f: f["type"] in ("hello", "resync"), "first frame")
        await again.close()
        return again if first["type"] == "resync" else None
    await eventually(told_to_resync, what="a resync once the stream was trimmed")

    # The first offer lapsed; the next dispatcher offered declines.
    await seen("request.offer_timeout")
    second = await console.until(lambda e: e.get("type") == "request.offer"
                                 and e["id"] != first_offer["id"], "the next offer")
    decliner = next(d for d in (anna, ben)
                    if str(d.agent.id) == second["request"]["offer"]["agent"]["id"])
    await _json(decliner, "POST", f"/api/v1/requests/{offered['id']}/decline")
    await seen("request.decline")

    await widget.close()
    await console.close()
    sent = await fitting(client, [console, *returning], [widget])
    assert DRIVEN_ELSEWHERE - sent == set(), "left to this test but not seen"
