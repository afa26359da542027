"""The deployments bench/ingest.py measures the hub in (`--profile`).

- `bare`: the embedded defaults and nothing else: the web form, no notice, no lanes, an
  empty queue (the bench's behaviour before issue 11).
- `realistic` (the default): what a taxi centre runs. Every channel adapter is enabled with
  dummy-but-valid settings on loopback (gateways' APIs point at a closed port: the bench
  sends only form POSTs, so nothing is sent), the email SMTP listener on a free loopback port,
  acknowledgements on SMS and the web form, an active service notice on every channel
  (published through the notices API as a dispatcher would), the default lane on the offer
  strategy with 10 dispatchers logged in, each with a console websocket and presence
  "available", and 2,000 open requests created through the public JSON API.

Everything here goes through the hub's public interfaces (its TOML configuration and its HTTP
API), so the same code sets up any checkout's hub (`--hub-dir`).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

HOST = "127.0.0.1"
PROFILES = ("realistic", "bare")
ADMIN_LOGIN = "benchadmin"
DISPATCHERS = 10
OPEN_REQUESTS = 2000
OFFER_LANE = "default"  # the lane every form contact lands in without routing rules
OFFER_TIMEOUT_S = 30  # an unanswered offer moves on to the next dispatcher after this
NOTICE_CHANNELS = ("phone", "sms", "email", "chat", "webform")  # hub.model.Channel values
CLOSED_PORT = 9  # discard: nothing listens there, so a send would fail at once, not hang
OPEN_CONCURRENCY = 32  # JSON POSTs in flight while the queue is filled
OPEN_TIMEOUT_S = 10.0  # per POST while filling; a timed-out POST is retried with its token
OPEN_DEADLINE_S = 600.0  # the whole fill
RETRY_PAUSE_S = 0.2  # after a 503 (the hub's Retry-After is whole seconds: too coarse here)


@dataclass(frozen=True, slots=True)
class Profile:
    """What a profile adds to the bare hub."""

    name: str
    dispatchers: int = 0
    open_requests: int = 0

    @property
    def realistic(self) -> bool:
        return self.name == "realistic"


def profile(name: str) -> Profile:
    if name == "realistic":
        return Profile(name, DISPATCHERS, OPEN_REQUESTS)
    if name == "bare":
        return Profile(name)
    raise ValueError(f"unknown profile {name!r}; known: {', '.join(PROFILES)}")


def write_config(path: Path, port: int, smtp_port: int) -> Path:
    """The realistic deployment's configuration file (TOML), every channel enabled."""
    closed = f"http://{HOST}:{CLOSED_PORT}"
    secret = secrets.token_hex(32)
    path.write_text(f"""\
# Written by bench/profile.py: a realistic deployment on loopback (dummy credentials).
[http]
public_url = "http://{HOST}:{port}"

[channels]
enabled = ["webform", "twilio_sms", "vonage_sms", "generic_sms", "email", "chat",
           "phone_cti", "twilio_voice"]

[phone]
cti_secret = "{secrets.token_hex(16)}"

[sms.twilio]
auth_token = "{secrets.token_hex(16)}"
account_sid = "AC{secrets.token_hex(16)}"
from_number = "+358100100"
api_url = "{closed}"

[sms.vonage]
api_key = "benchkey"
api_secret = "{secrets.token_hex(8)}"
signature_secret = "{secrets.token_hex(16)}"
signature_method = "sha256"
from_number = "358100200"
api_url = "{closed}"

[sms.generic]
signing_secret = "{secrets.token_hex(16)}"
send_url = "{closed}/send"
send_token = "{secrets.token_hex(16)}"
from_number = "+358100300"

[email]
address = "ajojarjestely@taksi.example"
reply_token_secret = "{secret}"

[email.smtp]
host = "{HOST}"
port = {smtp_port}
domains = ["taksi.example"]

[chat]
token_secret = "{secrets.token_hex(32)}"
allowed_origins = ["http://{HOST}:{port}"]

[answers]
acknowledge = ["sms", "webform"]
""")
    return path


def dispatcher_accounts(count: int) -> list[tuple[str, str]]:
    return [(f"benchoffer{i:02d}", secrets.token_urlsafe(12)) for i in range(count)]


async def _call(session: aiohttp.ClientSession, method: str, url: str,
                body: dict[str, Any], expect: tuple[int, ...]) -> dict[str, Any]:
    async with session.request(method, url, json=body) as answer:
        if answer.status not in expect:
            raise RuntimeError(f"{method} {url} answered {answer.status}: {await answer.text()}")
        found: dict[str, Any] = await answer.json()
        return found


async def furnish(base_url: str, admin: tuple[str, str],
                  accounts: list[tuple[str, str]]) -> None:
    """As an admin: the offer strategy on the default lane, an active service notice on
    every channel, and one dispatcher account per entry of `accounts`."""
    jar = aiohttp.CookieJar(unsafe=True)  # keep the session cookie of an IP address host
    async with aiohttp.ClientSession(cookie_jar=jar) as session:
        await _call(session, "POST", f"{base_url}/api/v1/auth/login",
                    {"login": admin[0], "password": admin[1]}, (200,))
        await _call(session, "PUT", f"{base_url}/api/v1/admin/lanes/{OFFER_LANE}",
                    {"name_fi": "Yleinen", "name_en": "General", "strategy": "offer",
                     "offer_timeout_s": OFFER_TIMEOUT_S}, (200,))
        await _call(session, "POST", f"{base_url}/api/v1/notices",
                    {"text_fi": "Lumimyräkkä: odotusajat ovat tavallista pidempiä.",
                     "text_en": "Snowstorm: waiting times are longer than usual.",
                     "channels": list(NOTICE_CHANNELS)}, (201,))
        for login, password in accounts:
            await _call(session, "POST", f"{base_url}/api/v1/admin/agents",
                        {"login": login, "name": f"Bench {login}", "role": "team",
                         "password": password}, (201,))


@dataclass
class Filled:
    """How the queue was filled."""

    wanted: int
    created: int = 0
    retries: int = 0  # after a 503 or a timeout
    server_errors: dict[int, int] = field(default_factory=dict)  # other 5xx, by status
    seconds: float = 0.0

    @property
    def complete(self) -> bool:
        return self.created == self.wanted

    def describe(self) -> str:
        errors = ", ".join(f"{n} x {status}" for status, n in sorted(self.server_errors.items()))
        return (f"{self.created} of {self.wanted} open requests created through the JSON API "
                f"in {self.seconds:g} s ({self.retries} retries after a 503 or a timeout"
                f"{'; server errors ' + errors if errors else ''})")


async def fill_queue(base_url: str, count: int, phone_base: int, tag: str,
                     deadline_s: float = OPEN_DEADLINE_S) -> Filled:
    """`count` open requests, each from a new passenger, through the public JSON API at
    OPEN_CONCURRENCY in flight. 503s, timeouts and other 5xx are retried with the same
    submission token (a retry is stored once) until `deadline_s`; what came of it is counted."""
    filled = Filled(count)
    began = time.monotonic()
    deadline = began + deadline_s
    numbers = iter(range(count))
    timeout = aiohttp.ClientTimeout(total=OPEN_TIMEOUT_S)
    connector = aiohttp.TCPConnector(limit=OPEN_CONCURRENCY)

    async def one(session: aiohttp.ClientSession, seq: int) -> None:
        body = {"name": "Queued Passenger", "phone": f"+3585{phone_base + seq:09d}",
                "message": f"Taksi Pasilaan, jonossa {seq}",
                "pickup_address": "Ratapihantie 6, Helsinki",
                "submission_token": f"{tag}-queue-{seq}", "language": "fi"}
        while time.monotonic() < deadline:
            try:
                async with session.post(f"{base_url}/api/v1/contact-requests",
                                        json=body) as answer:
                    text = await answer.text()
                    if answer.status in (200, 201):
                        filled.created += 1
                        return
                    if answer.status < 500:
                        raise RuntimeError(f"filling the queue: {answer.status} {text}")
                    if answer.status != 503:
                        filled.server_errors[answer.status] = filled.server_errors.get(
                            answer.status, 0) + 1
            except (TimeoutError, aiohttp.ClientConnectionError):
                pass
            filled.retries += 1
            await asyncio.sleep(RETRY_PAUSE_S)

    async def worker(session: aiohttp.ClientSession) -> None:
        for seq in numbers:
            if time.monotonic() >= deadline:
                return
            await one(session, seq)

    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        await asyncio.gather(*(worker(session) for _ in range(OPEN_CONCURRENCY)))
    filled.seconds = round(time.monotonic() - began, 1)
    return filled
