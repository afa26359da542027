"""A data folder backed up and restored into another folder (another machine's, issue 16):
the restored hub plays the recordings and serves the mail attachments it kept, on either
database. The database names a kept recording relative to the data folder, so nothing in it
has to change: on SQLite the backup carries the database along, on PostgreSQL the database
stays where it is (restored by pg_restore on another machine) while the data folder moves.
The first data folder is gone before the restored hub starts: nothing can be served from it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from hub.backup import backup, sqlite_file
from hub.restore import restore
from hub.settings import (
    ChannelsSettings,
    EmailSettings,
    PhoneSettings,
    Secret,
    Settings,
    SmtpListenerSettings,
)
from tests.channels.test_phone_recordings_cti import AUDIO, CALL, FETCH_TOKEN, SECRET
from tests.conftest import DispatcherFactory, HubFactory
from tests.dispatch.test_attachments import COMPANY, PDF, listed, mailed_request, photo_mail
from tests.dispatch.test_attachments import send_mail as mail_in
from tests.dispatch.test_attachments import url as attachment_url
from tests.helpers import Dispatcher

SUBJECT = "Kuitti eiliseltä kyydiltä"
RECEIPT_NAME = "kuitti.pdf"


@pytest.fixture
async def recording_server() -> AsyncIterator[str]:
    """The PBX's recording server (docs/generic-cti.md): GET with the Bearer token."""
    async def serve(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {FETCH_TOKEN}":
            return web.Response(status=401)
        return web.Response(body=AUDIO, content_type="audio/x-wav")
    app = web.Application()
    app.router.add_get("/rec/{name}", serve)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("")).rstrip("/")
    await server.close()


def _hub_settings(settings: Settings, recordings: str) -> Settings:
    return dataclasses.replace(
        settings, channels=ChannelsSettings(enabled=("webform", "email", "phone_cti")),
        email=EmailSettings(address=COMPANY, reply_token_secret=Secret("test-reply-secret"),
                            smtp=SmtpListenerSettings(port=0, domains=("taxi.example",))),
        phone=PhoneSettings(cti_secret=Secret(SECRET), recording_sources=(recordings,),
                            recording_fetch_token=Secret(FETCH_TOKEN)))


def _elsewhere(settings: Settings, data_dir: Path) -> Settings:
    """The same hub on another data folder; a SQLite database restored into it."""
    moved = dataclasses.replace(settings, data_dir=data_dir)
    if sqlite_file(settings) is None:
        return moved  # PostgreSQL: restored with its own tools, the same database here
    return dataclasses.replace(moved, database=dataclasses.replace(
        settings.database, url=Secret(f"sqlite+aiosqlite:///{data_dir / 'taxiconnect.db'}")))


async def _recorded_call(team: Dispatcher, recordings: str) -> None:
    call = {**CALL, "callId": "restore.1"}
    for event in ({"event": "newCall", **call}, {"event": "hangup", **call},
                  {"event": "recording", "callId": call["callId"], "recordingId": "rec-1",
                   "url": f"{recordings}/rec/restore-1.wav", "duration": "9"}):
        async with team.http.post(f"{team.base}/webhooks/phone/cti", json=event,
                                  headers={"X-CTI-Token": SECRET}) as resp:
            assert resp.status == 200, await resp.text()


async def _kept(team: Dispatcher) -> dict[str, str]:
    """The audio URL of the recording and the attachment's, as a console finds them."""
    mailed = await mailed_request(team, SUBJECT)
    [called] = [r for r in await team.open_requests() if r["channel"] == "phone"]
    [recording] = (await team.request(called["id"]))["recordings"]
    message = mailed["messages"][0]
    receipt = listed(message)[RECEIPT_NAME]
    return {"audio": recording["audio_url"],
            "receipt": attachment_url(mailed, message["id"], receipt["sha256"])}


async def _read(team: Dispatcher, path: str) -> bytes:
    async with team.http.get(team.base + path) as resp:
        assert resp.status == 200, (path, await resp.text())
        return await resp.read()


async def test_a_data_folder_restored_elsewhere_serves_its_recordings_and_attachments(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings,
    recording_server: str, tmp_path: Path
) -> None:
    first = _hub_settings(settings, recording_server)
    client = await hub(first)
    team = await dispatcher(client)
    await _recorded_call(team, recording_server)
    await mail_in(client, photo_mail(SUBJECT, receipt_name=RECEIPT_NAME))
    kept = await _kept(team)
    assert await _read(team, kept["audio"]) == AUDIO
    await client.close()

    await asyncio.to_thread(backup, first, tmp_path / "backup", config=None)
    await asyncio.to_thread(shutil.rmtree, first.data_dir)
    second = _elsewhere(first, tmp_path / "another-machine" / "data")
    await asyncio.to_thread(restore, second, tmp_path / "backup")

    restored = await hub(second)
    team = await dispatcher(restored)
    assert await _kept(team) == kept
    assert await _read(team, kept["audio"]) == AUDIO
    assert await _read(team, kept["receipt"]) == PDF
