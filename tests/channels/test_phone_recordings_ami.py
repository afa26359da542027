"""Recordings and voice messages from Asterisk, in a real AMI session with the fake
Asterisk (tests/fake_ami.py): a queue call MixMonitor records until the caller hangs up,
and a voice message a missed caller leaves, each read from a temporary folder standing for
Asterisk's spool mounted on the hub, kept with the time Asterisk's events carry, and played
by a dispatcher through the recordings API. A file named outside the spool, or leading out
of the mount by `..` or a symbolic link, is not read."""

from __future__ import annotations

import dataclasses
import uuid
import wave
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from dispatch.appkeys import ADAPTERS
from hub import schema
from hub.agents import add_agent
from hub.appkeys import DATABASE
from hub.model import Role
from hub.settings import AmiSettings, ChannelsSettings, PhoneSettings, Secret, Settings
from tests.channels.test_phone_ami import SECRET, USER, _agent_connects, _arrives, _caller
from tests.conftest import PASSWORD, DispatcherFactory, HubFactory
from tests.fake_ami import FakeAmi, event
from tests.helpers import Dispatcher, eventually

SPOOL = "/var/spool/asterisk"
HANGUP_AT = 1765102530.25  # Asterisk's clock when the caller hung up
VOICEMAIL_AT = 1765103000.5


@pytest.fixture
async def asterisk() -> AsyncIterator[FakeAmi]:
    async with FakeAmi(USER, SECRET) as fake:
        yield fake


@pytest.fixture
def mount(tmp_path: Path) -> Path:
    """Asterisk's spool as the hub sees it mounted."""
    return tmp_path / "spool"


def _wav(path: Path, seconds: int) -> bytes:
    """A small WAV file as Asterisk writes one (8 kHz, 16-bit, mono)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as audio:
        audio.setnchannels(1)
        audio.setsampwidth(2)
        audio.setframerate(8000)
        audio.writeframes(bytes(16000 * seconds))
    return path.read_bytes()


async def _hub(hub: HubFactory, settings: Settings, fake: FakeAmi, mount: Path
               ) -> TestClient[Any, Any]:
    return await hub(dataclasses.replace(
        settings, channels=ChannelsSettings(enabled=("webform", "asterisk_ami")),
        phone=PhoneSettings(ami=AmiSettings(
            host="127.0.0.1", port=fake.port, user=USER, secret=Secret(SECRET),
            recordings_dir=str(mount), recordings_pbx_dir=SPOOL))))


def _hangup(linked: str, number: str, at: float) -> str:
    return event("Hangup", f"{_caller(linked, number=number)}Cause: 16\n"
                 "Cause-txt: Normal Clearing\n", at=at)


async def _recorded(viewer: Dispatcher, number: str) -> dict[str, Any]:
    """The request of `number`'s call, once it shows a recording."""
    async def probe() -> dict[str, Any] | None:
        url = f"{viewer.base}/api/v1/requests?status=queued,claimed,resolved"
        async with viewer.http.get(url) as resp:
            found = (await resp.json())["requests"]
        for summary in found:
            detail = await viewer.request(summary["id"])
            if detail["contact"]["phones"] == ["+358" + number[1:]] and detail["recordings"]:
                return detail
        return None
    return await eventually(probe, what=f"a recording of {number}'s call")


async def _play(viewer: Dispatcher, recording: dict[str, Any]) -> bytes:
    async with viewer.http.get(viewer.base + recording["audio_url"]) as resp:
        assert resp.status == 200, await resp.text()
        assert resp.content_type == "audio/wav"
        uuid.UUID(resp.headers["X-Listen-Id"])
        return await resp.read()


def _at(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


async def test_mixmonitor_recording_of_a_queue_call_is_kept_and_played(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings, asterisk: FakeAmi,
    mount: Path
) -> None:
    client = await _hub(hub, settings, asterisk, mount)
    viewer = await dispatcher(client)
    await add_agent(client.app[DATABASE], login="anna", name="Anna Ajaja", role=Role.TEAM,
                    password=PASSWORD, phone_login="201")
    await asterisk.wait_for_logins(1)
    linked, number = "1700000700.11", "0401110071"
    audio = _wav(mount / "monitor/2026/12/07" / f"q-{linked}.wav", seconds=2)

    await asterisk.send(_arrives(linked, number) + _agent_connects(linked, number))
    await asterisk.mixmonitor(_caller(linked, number=number),
                              f"{SPOOL}/monitor/2026/12/07/q-{linked}.wav")
    await asterisk.send(_hangup(linked, number, HANGUP_AT))

    detail = await _recorded(viewer, number)
    assert detail["status"] == "resolved"
    [recording] = detail["recordings"]
    assert (recording["kind"], recording["provider"], recording["duration_s"]) \
        == ("recording", "ami", 2)
    assert recording["completed_at"] == _at(HANGUP_AT)  # Asterisk's time, not the hub's
    assert recording["call_id"] == detail["calls"][0]["id"]
    assert await _play(viewer, recording) == audio
    assert (mount / "monitor/2026/12/07" / f"q-{linked}.wav").read_bytes() == audio  # a copy
    assert client.app[ADAPTERS]["asterisk_ami"].recordings_kept == 1


async def test_voicemail_is_kept_and_files_outside_the_spool_are_not_read(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings, asterisk: FakeAmi,
    mount: Path, tmp_path: Path
) -> None:
    client = await _hub(hub, settings, asterisk, mount)
    viewer = await dispatcher(client)
    adapter = client.app[ADAPTERS]["asterisk_ami"]
    await asterisk.wait_for_logins(1)
    _wav(tmp_path / "secret.wav", seconds=1)  # outside the mount
    (mount / "monitor").mkdir(parents=True)
    (mount / "monitor/link.wav").symlink_to(tmp_path / "secret.wav")
    escapes = {"1700000800.21": f"{SPOOL}/monitor/../../secret.wav",
               "1700000800.31": f"{SPOOL}/monitor/link.wav",
               "1700000800.41": "/etc/asterisk/manager.conf"}
    for i, (linked, path) in enumerate(escapes.items()):
        number = f"04011100{81 + i}"
        await asterisk.send(_arrives(linked, number))
        await asterisk.mixmonitor(_caller(linked, number=number), path)
        await asterisk.stop_mixmonitor(_caller(linked, number=number))

    linked, number = "1700000800.11", "0401110080"
    audio = _wav(mount / "voicemail/default/100/INBOX/msg0000.wav", seconds=1)
    await asterisk.send(_arrives(linked, number))
    await asterisk.voicemail(_caller(linked, number=number),
                             f"{SPOOL}/voicemail/default/100/INBOX/msg0000", at=VOICEMAIL_AT)
    await asterisk.send(_hangup(linked, number, VOICEMAIL_AT + 1))

    detail = await _recorded(viewer, number)
    assert detail["details"]["callback"] == "true"
    [voicemail] = detail["recordings"]
    assert (voicemail["kind"], voicemail["duration_s"]) == ("voicemail", 1)
    assert voicemail["completed_at"] == _at(VOICEMAIL_AT)
    assert await _play(viewer, voicemail) == audio

    async def refused() -> bool | None:
        return True if adapter.recordings_lost == len(escapes) else None
    await eventually(refused, what="the files outside the spool refused")
    async with client.app[DATABASE].read() as conn:
        assert await conn.scalar(select(func.count()).select_from(schema.recordings)) == 1
    assert len(list((settings.data_dir / "recordings").iterdir())) == 1
