"""Recordings and voice messages from a generic CTI PBX: the call's events, then a
`recording` / `voicemail` event naming the audio's URL on the PBX's recording server (a
local server here, speaking the fetch docs/generic-cti.md documents: GET with a Bearer
token). The hub keeps the audio in its data folder and a dispatcher plays it through the
recordings API; the PBX's completion time is the recording's. URLs off the allowed origins,
unknown calls and a server without the file are refused with a reason, and keep nothing."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from hub import schema
from hub.agents import add_agent
from hub.appkeys import DATABASE
from hub.model import Role
from hub.settings import ChannelsSettings, PhoneSettings, Secret, Settings
from tests.conftest import PASSWORD, DispatcherFactory, HubFactory
from tests.helpers import Dispatcher

SECRET = "cti-shared-secret"
FETCH_TOKEN = "recording-server-token"
AUDIO = b"RIFF" + bytes(range(256)) * 40  # 10 kB of "audio"
CALL = {"from": "0401234567", "to": "0912345678", "direction": "in"}


class RecordingServer:
    """The PBX's recording server: `GET /rec/{name}` with the Bearer token, else 401; an
    unknown name is 404."""

    def __init__(self) -> None:
        self.fetched: list[str] = []
        self.server: TestServer | None = None

    async def serve(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {FETCH_TOKEN}":
            return web.Response(status=401)
        self.fetched.append(request.match_info["name"])
        if request.match_info["name"] == "gone.wav":
            return web.Response(status=404)
        return web.Response(body=AUDIO, content_type="audio/x-wav")

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


async def _hub(hub: HubFactory, settings: Settings, server: RecordingServer
               ) -> TestClient[Any, Any]:
    origin = server.url("").removesuffix("/rec/")
    return await hub(dataclasses.replace(
        settings, channels=ChannelsSettings(enabled=("webform", "phone_cti")),
        phone=PhoneSettings(cti_secret=Secret(SECRET), recording_sources=(origin,),
                            recording_fetch_token=Secret(FETCH_TOKEN))))


async def _post(client: TestClient[Any, Any], **fields: Any) -> tuple[int, Any]:
    async with client.post("/webhooks/phone/cti", json=fields,
                           headers={"X-CTI-Token": SECRET}) as resp:
        return resp.status, await resp.json()


async def _only(viewer: Dispatcher) -> dict[str, Any]:
    url = f"{viewer.base}/api/v1/requests?status=queued,claimed,resolved"
    async with viewer.http.get(url) as resp:
        [found] = (await resp.json())["requests"]
    return await viewer.request(found["id"])


async def test_recording_of_an_answered_call_is_fetched_kept_and_played(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings,
    recording_server: RecordingServer
) -> None:
    client = await _hub(hub, settings, recording_server)
    viewer = await dispatcher(client)
    await add_agent(client.app[DATABASE], login="anna", name="Anna Ajaja", role=Role.TEAM,
                    password=PASSWORD, phone_login="201")
    call = {**CALL, "callId": "1700000000.501"}
    assert (await _post(client, event="newCall", **call))[0] == 200
    assert (await _post(client, event="answer", answeringNumber="201", **call))[0] == 200
    assert (await _post(client, event="hangup", cause="normalClearing", **call))[0] == 200
    recorded = {"event": "recording", "callId": call["callId"], "recordingId": "rec-501",
                "url": recording_server.url("501.wav"), "duration": "42",
                "completedAt": "2026-12-07T10:15:30+02:00"}

    assert await _post(client, **recorded) == (200, {})
    assert await _post(client, **recorded) == (200, {})  # the PBX's retry: fetched once
    assert recording_server.fetched == ["501.wav"]

    detail = await _only(viewer)
    [recording] = detail["recordings"]
    assert (recording["kind"], recording["provider"], recording["name"],
            recording["duration_s"]) == ("recording", "cti", "rec-501", 42)
    assert recording["completed_at"] == "2026-12-07T08:15:30+00:00"  # the PBX's, in UTC
    assert recording["call_id"] == detail["calls"][0]["id"]
    kept = list((settings.data_dir / "recordings").iterdir())
    assert [p.read_bytes() for p in kept] == [AUDIO]

    async with viewer.http.get(viewer.base + recording["audio_url"]) as resp:
        assert resp.status == 200, await resp.text()
        assert resp.content_type == "audio/wav"
        assert await resp.read() == AUDIO
        listen = uuid.UUID(resp.headers["X-Listen-Id"])
    async with client.app[DATABASE].read() as conn:
        listens = (await conn.execute(select(schema.recording_listens.c.id))).scalars().all()
    assert listens == [listen]
    assert recording_server.fetched == ["501.wav"]  # played from the hub's copy


async def test_voicemail_without_a_time_takes_the_hubs_and_refusals_keep_nothing(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings,
    recording_server: RecordingServer
) -> None:
    client = await _hub(hub, settings, recording_server)
    viewer = await dispatcher(client)
    call = {**CALL, "callId": "1700000000.601"}
    await _post(client, event="newCall", **call)
    await _post(client, event="hangup", cause="cancel", **call)

    off_list = await _post(client, event="voicemail", callId=call["callId"],
                           url="https://recordings.example.com/601.wav")
    assert off_list[0] == 422 and off_list[1]["fields"] == {"url": "not allowed"}
    assert "recording_sources" in off_list[1]["error"]
    unknown = await _post(client, event="voicemail", callId="no-such-call",
                          url=recording_server.url("601.wav"))
    assert unknown == (404, {"error": "no call with this callId is known", "code": "not_found",
                             "params": {}})
    gone = await _post(client, event="voicemail", callId=call["callId"],
                       url=recording_server.url("gone.wav"))
    assert gone[0] == 422 and gone[1]["fields"] == {"url": "not found"}
    bad_time = await _post(client, event="voicemail", callId=call["callId"],
                           url=recording_server.url("601.wav"), completedAt="yesterday")
    assert bad_time[0] == 422 and bad_time[1]["fields"] == {"completedAt": "invalid"}
    async with client.post("/webhooks/phone/cti", json={
            "event": "voicemail", "callId": call["callId"],
            "url": recording_server.url("601.wav")}) as resp:
        assert resp.status == 401  # no token
    assert recording_server.fetched == ["gone.wav"]
    assert not _files(settings.data_dir)
    async with client.app[DATABASE].read() as conn:
        assert await conn.scalar(select(func.count()).select_from(schema.recordings)) == 0

    assert (await _post(client, event="voicemail", callId=call["callId"],
                        url=recording_server.url("601.wav")))[0] == 200
    detail = await _only(viewer)
    assert detail["details"]["callback"] == "true"
    [voicemail] = detail["recordings"]
    assert (voicemail["kind"], voicemail["duration_s"]) == ("voicemail", None)
    completed, created = (datetime.fromisoformat(voicemail[k])
                          for k in ("completed_at", "created_at"))
    assert abs(created - completed) < timedelta(seconds=5)  # the hub's clock
    async with viewer.http.get(viewer.base + voicemail["audio_url"]) as resp:
        assert await resp.read() == AUDIO


def _files(data_dir: Path) -> list[Path]:
    folder = data_dir / "recordings"
    return list(folder.iterdir()) if folder.exists() else []
