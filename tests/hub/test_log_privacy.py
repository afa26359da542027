"""A hub run as an operator runs it, access log on, takes a form, a mail over SMTP and a
search by number: its log holds no passenger's number, address, name or text, and no token
from a query string (issue 13, item 14)."""

from __future__ import annotations

import asyncio
import smtplib
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import aiohttp
import pytest

from hub.log_privacy import mask_text
from hub.settings import Settings
from tests.conftest import free_port
from tests.hub_process import HubProcess, kill_leftovers, start_hub

PHONE = "+358 40 765 4321"
EMAIL = "maija.meikalainen@example.fi"
NAME = "Maija Meikäläinen"
TEXT = "Taksi Kamppiin kello kuusi"
SECRET = "cti-token-s3cr3t"


@dataclass
class MailHub:
    process: HubProcess
    smtp_port: int


@pytest.fixture
def mail_hub(tmp_path: Path, settings: Settings) -> Iterator[MailHub]:
    smtp_port = free_port()
    hub = start_hub(settings, tmp_path, free_port(), env_settings={
        "TAXICONNECT_HTTP_ACCESS_LOG": "true", "TAXICONNECT_LOG_LEVEL": "info",
        "TAXICONNECT_CHANNELS_ENABLED": "webform,email",
        "TAXICONNECT_EMAIL_ADDRESS": "taksi@taxi.example",
        "TAXICONNECT_EMAIL_REPLY_TOKEN_SECRET": "reply-secret",
        "TAXICONNECT_EMAIL_SMTP_PORT": str(smtp_port),
        "TAXICONNECT_EMAIL_SMTP_DOMAINS": "taxi.example",
    })
    yield MailHub(hub, smtp_port)
    kill_leftovers([hub], {tmp_path / "data"})


async def test_the_log_holds_no_number_address_name_text_or_token(mail_hub: MailHub) -> None:
    hub_process = mail_hub.process
    await hub_process.ready()
    async with aiohttp.ClientSession() as http:
        form = {"name": NAME, "phone": PHONE, "email": EMAIL, "message": TEXT,
                "submission_token": "tok-privacy-0001"}
        async with http.post(f"{hub_process.base}/form?phone={PHONE}", data=form) as answer:
            assert answer.status == 201
        async with http.get(f"{hub_process.base}/api/v1/contacts?q={PHONE}&token={SECRET}"
                            ) as answer:
            assert answer.status == 401

    def send_mail() -> None:
        mail = EmailMessage()
        mail["From"], mail["To"], mail["Subject"] = f"{NAME} <{EMAIL}>", "taksi@taxi.example", TEXT
        mail.set_content(TEXT)
        with smtplib.SMTP("127.0.0.1", mail_hub.smtp_port, timeout=10) as smtp:
            smtp.send_message(mail)
    await asyncio.to_thread(send_mail)
    await asyncio.sleep(1)
    assert await hub_process.stop() == 0

    log = hub_process.log.read_text()
    assert '"POST /form?…" 201' in log and '"GET /api/v1/contacts?…" 401' in log
    for secret in (EMAIL, "765 4321", "7654321", NAME, TEXT, SECRET):
        assert secret not in log, f"{secret!r} in the hub's log"


@pytest.mark.parametrize(("line", "masked"), [
    ("from <maija@example.fi> to taksi@taxi.example",
     "from <***@example.fi> to ***@taxi.example"),
    ("caller +358407654321 hung up", "caller +***21 hung up"),
    ("call 040 765 4321 ended", "call ***21 ended"),
    ("SMS to +358 40 765 4321 sent", "SMS to +***21 sent"),
    ("120 in 35 ms at 12:30:01, port 8080", "120 in 35 ms at 12:30:01, port 8080"),
    ('"POST /form" 201 2349 0.9 ms', '"POST /form" 201 2349 0.9 ms'),
])
def test_masking_keeps_what_is_not_personal(line: str, masked: str) -> None:
    assert mask_text(line) == masked
