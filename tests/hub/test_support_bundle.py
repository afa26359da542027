"""The support bundle (issue 14, item 8): a hub run as an operator runs it, at DEBUG with its
access log on, takes a passenger's contacts by form, signed SMS, SMTP, chat and a CTI call;
`taxiconnect support-bundle --log <its log>` then writes an archive in which no file holds
the passenger's number (in any form), address, name or texts, nor a secret of the
configuration, while the versions, the schema and the counts per table are there. The hub's
own log, at that level, holds no address or number either (aiosmtpd's included)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import smtplib
import sys
import tarfile
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import websockets
from sqlalchemy import func, select
from websockets.typing import Origin

from hub import schema
from hub.backup import hub_version
from hub.database import Database
from hub.log_privacy import mask_text
from hub.settings import Settings
from tests.conftest import free_port
from tests.helpers import WAIT_S, http_session
from tests.hub_process import REPO, HubProcess, hub_env, kill_leftovers, start_hub

NAME = "Tuula Tukipyyntö"
PHONE, NATIONAL = "+358401239876", "040 123 9876"
EMAIL = "tuula.tukipyynto@example.fi"
TEXTS = {"form": "Nouto Tukikatu 1", "sms": "Tekstiviesti Tukikatu 2",
         "mail": "Sähköposti Tukikatu 3", "subject": "Kuitti Tukikatu 3",
         "chat": "Chatti Tukikatu 4"}
COMPANY_MAIL, COMPANY_NUMBER = "taksi@taxi.example", "+358451112233"
CHAT_ORIGIN = "https://www.taksi.example"
SECRETS = {"sms": "whsec-tuki-s3cret", "chat": "chat-tuki-s3cret",
           "reply": "reply-tuki-s3cret", "cti": "cti-tuki-s3cret"}
CONFIG = f"""\
# the operator's configuration
[email]
address = "{COMPANY_MAIL}"
reply_token_secret = "{SECRETS['reply']}"

[sms.generic]
signing_secret = "{SECRETS['sms']}"
from_number = "{COMPANY_NUMBER}"

[chat]
allowed_origins = ["{CHAT_ORIGIN}"]
token_secret = "{SECRETS['chat']}"
"""


@pytest.fixture
def support_hub(tmp_path: Path, settings: Settings) -> Iterator[tuple[HubProcess, int]]:
    (tmp_path / "taxiconnect.toml").write_text(CONFIG)  # the hub's folder: its default file
    smtp_port = free_port()
    hub = start_hub(settings, tmp_path, free_port(), env_settings={
        "TAXICONNECT_LOG_LEVEL": "debug", "TAXICONNECT_HTTP_ACCESS_LOG": "true",
        "TAXICONNECT_CHANNELS_ENABLED": "webform,generic_sms,email,chat,phone_cti",
        "TAXICONNECT_EMAIL_SMTP_PORT": str(smtp_port),
        "TAXICONNECT_EMAIL_SMTP_DOMAINS": "taxi.example",
        "TAXICONNECT_PHONE_CTI_SECRET": SECRETS["cti"],
        "TAXICONNECT_ANSWERS_ACKNOWLEDGE": "",  # no gateway to send acknowledgements to
    })
    yield hub, smtp_port
    kill_leftovers([hub], {tmp_path / "data"})


async def _contacts(hub: HubProcess, smtp_port: int) -> None:
    """One contact per channel, each acknowledged only once stored (design, invariant 1)."""
    async with http_session() as http:
        form = {"name": NAME, "phone": NATIONAL, "email": EMAIL, "message": TEXTS["form"],
                "submission_token": "tok-support-0001"}
        async with http.post(f"{hub.base}/form", data=form) as answer:
            assert answer.status == 201, await answer.text()
        raw = json.dumps({"message_id": "gw-support-1", "from": PHONE, "to": COMPANY_NUMBER,
                          "text": TEXTS["sms"]}).encode()
        t = int(time.time())
        digest = hmac.new(SECRETS["sms"].encode(), f"{t}.".encode() + raw, hashlib.sha256)
        async with http.post(f"{hub.base}/webhooks/sms/generic", data=raw, headers={
                "Content-Type": "application/json",
                "X-TaxiConnect-Signature": f"t={t},v1={digest.hexdigest()}"}) as answer:
            assert answer.status == 200, await answer.text()
        call = {"callId": "support-call-1", "from": NATIONAL, "to": "0912345678",
                "direction": "in"}
        for event in ("newCall", "hangup"):
            async with http.post(f"{hub.base}/webhooks/phone/cti", json={"event": event, **call},
                                 headers={"X-CTI-Token": SECRETS["cti"]}) as answer:
                assert answer.status == 200, await answer.text()
    await _chat(hub)

    def send_mail() -> None:
        mail = EmailMessage()
        mail["From"], mail["To"] = f"{NAME} <{EMAIL}>", COMPANY_MAIL
        mail["Subject"] = TEXTS["subject"]
        mail.set_content(TEXTS["mail"])
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=WAIT_S) as smtp:
            smtp.send_message(mail)
    await asyncio.to_thread(send_mail)


async def _chat(hub: HubProcess) -> None:
    url = hub.base.replace("http://", "ws://") + "/chat/ws"
    async with websockets.connect(url, origin=Origin(CHAT_ORIGIN)) as ws:
        await ws.send(json.dumps({"type": "hello", "token": None, "last_seen": None,
                                  "lang": "fi"}))
        welcome = json.loads(await asyncio.wait_for(ws.recv(), WAIT_S))
        assert welcome["type"] == "welcome", welcome
        await ws.send(json.dumps({"type": "prechat", "name": NAME, "phone": NATIONAL}))
        await ws.send(json.dumps({"type": "message", "id": "support-chat-1",
                                  "text": TEXTS["chat"]}))
        while True:
            frame = json.loads(await asyncio.wait_for(ws.recv(), WAIT_S))
            if frame["type"] == "ack" and frame["id"] == "support-chat-1":
                return


def _needles(settings: Settings) -> list[str]:
    """The passenger's data in every form it may take in text, and the secrets."""
    needles = [NAME, json.dumps(NAME)[1:-1], *NAME.split(), PHONE, PHONE[1:], PHONE[4:],
               NATIONAL, NATIONAL.replace(" ", ""), EMAIL, EMAIL.partition("@")[0],
               *TEXTS.values(), COMPANY_MAIL, COMPANY_NUMBER, COMPANY_NUMBER[1:],
               *SECRETS.values()]
    for url in (settings.database.url.reveal(), settings.redis.url.reveal()):
        if "@" in url:  # a DSN with credentials: they stay out
            needles.append(url.partition("://")[2].rpartition("@")[0] + "@")
    return needles


def _read_archive(path: Path) -> dict[str, str]:
    with tarfile.open(path, "r:gz") as tar:
        files = {}
        for member in tar.getmembers():
            assert member.isfile(), member.name
            found = tar.extractfile(member)
            assert found is not None
            files[member.name] = found.read().decode("utf-8")
    return files


async def _rows(database_url: str, table: Any) -> int:
    db = Database(database_url)
    try:
        async with db.read() as conn:
            return int((await conn.execute(select(func.count()).select_from(table)))
                       .scalar_one())
    finally:
        await db.close()


async def test_the_bundle_holds_the_facts_and_no_passenger_data(
    support_hub: tuple[HubProcess, int], settings: Settings, tmp_path: Path
) -> None:
    hub, smtp_port = support_hub
    await hub.ready()
    await _contacts(hub, smtp_port)
    archive = tmp_path / "bundle.tar.gz"
    said = await hub.cli("support-bundle", "--output", str(archive), "--log", str(hub.log))
    assert f"wrote support bundle {archive}" in said
    assert archive.stat().st_mode & 0o077 == 0  # personal to its writer, like an export

    files = _read_archive(archive)
    everything = "\n".join([*files, *files.values()])
    leaks = [needle for needle in _needles(settings) if needle in everything]
    assert not leaks, f"{leaks} in the support bundle"

    root = "taxiconnect-support/"
    version = json.loads(files[root + "facts/version.json"])
    assert version["taxiconnect"] == hub_version() and version["python"]
    assert version["libraries"]["SQLAlchemy"] and version["libraries"]["aiohttp"]
    database = json.loads(files[root + "facts/database.json"])
    assert database["schema_up_to_date"] is True, database
    for table in (schema.messages, schema.contact_requests, schema.calls):
        assert database["rows"][table.name] == await _rows(settings.database_url, table) > 0
    assert database["rows"]["messages"] >= len(TEXTS) - 1  # the mail's subject is no message
    redis = json.loads(files[root + "facts/redis.json"])
    assert redis["info"]["redis_version"] and redis["streams"]["events"]["length"] > 0, redis
    assert "router" in redis["streams"]["inbound"]["groups"], redis
    health = json.loads(files[root + "facts/health.json"])
    assert health["readyz"]["status"] == 200, health
    assert "taxiconnect_ingest_committed_total" in files[root + "facts/metrics.txt"]
    settings_in = json.loads(files[root + "config/settings.json"])
    assert settings_in["sms"]["generic"]["signing_secret"] == "********"
    assert settings_in["sms"]["generic"]["from_number"] == "+***33"
    assert settings_in["email"]["address"] == "***@taxi.example"
    assert 'signing_secret = "********"' in files[root + "config/taxiconnect.toml"]
    log = files[f"{root}logs/1-{hub.log.name}"]
    assert '"POST /webhooks/sms/generic" 200' in log  # the log is there, masked

    assert await hub.stop() == 0
    own_log = hub.log.read_text()  # the hub's own log, unmasked by the bundle
    assert "DEBUG mail.log" not in own_log and "INFO mail.log" not in own_log
    for needle in (EMAIL, PHONE, PHONE[1:], NATIONAL, NATIONAL.replace(" ", "")):
        assert needle not in own_log, f"{needle!r} in the hub's log at DEBUG"


async def test_an_unreadable_log_or_an_existing_output_is_refused_and_nothing_written(
    tmp_path: Path, settings: Settings
) -> None:
    env = hub_env(settings, tmp_path / "data", free_port())
    archive, taken = tmp_path / "bundle.tar.gz", tmp_path / "taken.tar.gz"
    taken.write_bytes(b"an earlier bundle")
    for output, log, reason in ((archive, tmp_path / "missing.log", b"cannot read log file"),
                                (taken, None, b"exists already")):
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "hub.cli", "support-bundle", "--output", str(output),
            *(["--log", str(log)] if log else []), env=env, cwd=REPO,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        _, err = await asyncio.wait_for(process.communicate(), WAIT_S * 3)
        assert process.returncode == 1 and reason in err and b"Traceback" not in err, err
    assert not archive.exists() and taken.read_bytes() == b"an earlier bundle"


@pytest.mark.parametrize(("line", "masked"), [
    ("database <Database postgresql+asyncpg://tc:pw@db.local:5432/tc>",
     "database <Database postgresql+asyncpg://***@db.local:5432/tc>"),
    ("Redis redis://:p@ss@10.0.0.5:6379/0, https://hub.example/form?to=a@b.fi",
     "Redis redis://***@10.0.0.5:6379/0, https://hub.example/form?to=***@b.fi"),
])
def test_a_urls_credentials_are_masked_in_any_text(line: str, masked: str) -> None:
    """The hub's start-up line names its database; a log given to the bundle keeps no user."""
    assert mask_text(line) == masked
