"""The chaos bench's clients: passengers, gateways, mail servers and a PBX that retry like
real ones, and consoles that reconnect and resume like the console page.

Every contact carries a submission id of its own (the form's submission token, the SMS
gateway's message id, the chat client's message id, the mail's Message-ID, the PBX's
callId) and, but for calls, a marker in its text, so that the bench can find it in the
database afterwards. A send that fails, times out or is answered 5xx/429 (SMTP: 4xx) is
retried with the same submission id until it is acknowledged or the bench gives up; a
contact counts as acknowledged once a 2xx (form, SMS), an `ack` frame (chat), a 250 to the
mail's data (email) or a 2xx to the call's `hangup` (phone: a missed call, which makes the
request a callback request) came.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import random
import re
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import formatdate
from typing import Any
from urllib.parse import urlencode

import aiohttp
from chaos_smtp import send_mail

HOST = "127.0.0.1"
ATTEMPT_TIMEOUT_S = 5.0  # a gateway's or a browser's patience with one request
# Each wait drawn between half the step and the step, which doubles up to the cap: senders
# held back by one outage must not come back in step, or the hub that has just started
# again meets hundreds of retries a second on two cores and answers nothing (not even
# /readyz) until they thin out.
BACKOFF_FIRST_S, BACKOFF_MAX_S = 0.25, 4.0
CHAT_ORIGIN = "http://chaos.example"  # the site the chat widget is embedded in
SMS_SIGNATURE_HEADER = "X-TaxiConnect-Signature"
COMPANY_NUMBER = "+358451234567"
COMPANY_DOMAIN = "taxi.example"  # the hub's SMTP listener takes mail for it
COMPANY_ADDRESS = f"taksi@{COMPANY_DOMAIN}"
CTI_TOKEN_HEADER = "X-CTI-Token"
RETRYABLE_4XX = {408, 425, 429}  # "later", as gateways read them
REFERENCE_HTML = re.compile(r'<strong class="reference">([^<]+)</strong>')
RECONNECT_S = 0.2  # a console's wait between reconnection attempts
RELOAD_LIMIT = 2000


@dataclass
class Submission:
    """One contact as its sender sees it."""

    sid: str  # the submission id; also the marker in the contact's text
    channel: str  # form, sms, chat, email, phone
    phase: str
    phone: str
    first_sent: float = 0.0
    attempts: int = 0
    acked_at: float | None = None
    reference: str = ""  # as answered (form, SMS)
    statuses: list[str] = field(default_factory=list)  # each attempt's outcome
    refused: str = ""  # a 4xx that a retry cannot change
    rang: bool = False  # phone: the call's newCall was answered 2xx

    @property
    def text(self) -> str:
        return f"{self.sid} taksi Kamppiin, chaos bench"

    @property
    def address(self) -> str:
        """An address of its own: a passenger's second mail would thread into the first."""
        return f"p{self.phone.lstrip('+')}@passenger.example"

    def mail(self) -> bytes:
        mail = EmailMessage(policy=SMTP_POLICY)
        mail["From"] = f"Chaos Passenger <{self.address}>"
        mail["To"] = COMPANY_ADDRESS
        mail["Subject"] = "Taksi Kamppiin"
        mail["Message-ID"] = f"<{self.sid}@passenger.example>"
        mail["Date"] = formatdate(localtime=False)
        mail.set_content(self.text)
        return mail.as_bytes()


def sms_signature(raw: bytes, secret: str, at: int) -> str:
    digest = hmac.new(secret.encode(), str(at).encode() + b"." + raw, hashlib.sha256)
    return f"t={at},v1={digest.hexdigest()}"


class Senders:
    """Sends each submission through its channel, retrying until acknowledged."""

    def __init__(self, port: int, sms_secret: str, smtp_port: int, cti_secret: str) -> None:
        self.port = port
        self.sms_secret = sms_secret
        self.smtp_port = smtp_port
        self.cti_secret = cti_secret
        self.session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=ATTEMPT_TIMEOUT_S),
            connector=aiohttp.TCPConnector(limit=200))
        self.give_up_at = float("inf")

    async def close(self) -> None:
        await self.session.close()

    @property
    def base(self) -> str:
        return f"http://{HOST}:{self.port}"

    async def deliver(self, sub: Submission) -> None:
        backoff = BACKOFF_FIRST_S
        sub.first_sent = time.monotonic()
        visitor: dict[str, str] = {}  # chat: the token that makes a resend the same visitor
        while sub.acked_at is None and not sub.refused and time.monotonic() < self.give_up_at:
            sub.attempts += 1
            try:
                if sub.channel == "chat":
                    outcome = await asyncio.wait_for(self._chat(sub, visitor),
                                                     ATTEMPT_TIMEOUT_S)
                elif sub.channel == "email":
                    outcome = await asyncio.wait_for(self._email(sub), ATTEMPT_TIMEOUT_S)
                elif sub.channel == "phone":
                    outcome = await self._phone(sub)
                else:
                    outcome = await self._http(sub)
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                outcome = type(exc).__name__
            sub.statuses.append(outcome)
            if outcome == "ok":
                sub.acked_at = time.monotonic()
                return
            await asyncio.sleep(random.uniform(backoff / 2, backoff))
            backoff = min(BACKOFF_MAX_S, backoff * 2)

    async def _http(self, sub: Submission) -> str:
        if sub.channel == "form":
            data = urlencode({"name": "Chaos Passenger", "phone": sub.phone, "message": sub.text,
                              "pickup_address": "Mannerheimintie 1, Helsinki",
                              "submission_token": sub.sid, "language": "fi"})
            request = self.session.post(
                self.base + "/form", data=data,
                headers={"Content-Type": "application/x-www-form-urlencoded"})
        else:
            raw = json.dumps({"message_id": sub.sid, "from": sub.phone, "to": COMPANY_NUMBER,
                              "text": sub.text}).encode()
            request = self.session.post(self.base + "/webhooks/sms/generic", data=raw, headers={
                "Content-Type": "application/json",
                SMS_SIGNATURE_HEADER: sms_signature(raw, self.sms_secret, int(time.time()))})
        async with request as answer:
            body = await answer.text()
            if 200 <= answer.status < 300:
                if sub.channel == "form":
                    found = REFERENCE_HTML.search(body)
                    sub.reference = found.group(1) if found else ""
                else:
                    sub.reference = str(json.loads(body).get("reference", ""))
                return "ok"
            if 400 <= answer.status < 500 and answer.status not in RETRYABLE_4XX:
                sub.refused = f"{answer.status} {body[:200]}"
            return str(answer.status)

    async def _email(self, sub: Submission) -> str:
        """One SMTP session from the passenger's mail server; a resend carries the same
        Message-ID, which is the hub's key for the mail."""
        code, text = await send_mail(HOST, self.smtp_port, sub.address, COMPANY_ADDRESS,
                                     sub.mail())
        if code == 250:
            return "ok"
        if code >= 500:
            sub.refused = f"smtp {code} {text[:200]}"
        return f"smtp {code}"

    async def _phone(self, sub: Submission) -> str:
        """The PBX's events of a call nobody answered: `newCall` (once answered 2xx), then
        `hangup`, each resent until answered 2xx."""
        call = {"callId": sub.sid, "from": sub.phone, "to": COMPANY_NUMBER, "direction": "in"}
        if not sub.rang:
            outcome = await self._cti(sub, {"event": "newCall", **call})
            if outcome != "ok":
                return f"newCall {outcome}"
            sub.rang = True
        outcome = await self._cti(sub, {"event": "hangup", **call, "cause": "noAnswer"})
        return outcome if outcome == "ok" else f"hangup {outcome}"

    async def _cti(self, sub: Submission, event: dict[str, Any]) -> str:
        async with self.session.post(self.base + "/webhooks/phone/cti", json=event,
                                     headers={CTI_TOKEN_HEADER: self.cti_secret}) as answer:
            body = await answer.text()
            if 200 <= answer.status < 300:
                return "ok"
            if 400 <= answer.status < 500 and answer.status not in RETRYABLE_4XX:
                sub.refused = f"{event['event']} {answer.status} {body[:200]}"
            return str(answer.status)

    async def _chat(self, sub: Submission, visitor: dict[str, str]) -> str:
        """One widget connection: hello (as the same visitor on a resend), the message, and
        its ack or nack."""
        async with self.session.ws_connect(self.base + "/chat/ws",
                                           headers={"Origin": CHAT_ORIGIN}) as ws:
            await ws.send_json({"type": "hello", "token": visitor.get("token"),
                                "last_seen": None, "lang": "fi"})
            sent = False
            async for message in ws:
                if message.type != aiohttp.WSMsgType.TEXT:
                    break
                frame = json.loads(message.data)
                kind = frame.get("type")
                if kind == "welcome":
                    visitor["token"] = frame["token"]
                    await ws.send_json({"type": "message", "id": sub.sid, "text": sub.text})
                    sent = True
                elif kind == "ack" and frame.get("id") == sub.sid:
                    return "ok"
                elif kind == "nack" and frame.get("id") == sub.sid:
                    if not frame.get("retry"):
                        sub.refused = f"nack {frame.get('reason')}"
                    return "nack"
            return f"closed {ws.close_code}{' after send' if sent else ''}"


@dataclass
class Console:
    """One dispatcher's console: every reference it was told of, and when first."""

    index: int
    seen: dict[str, float] = field(default_factory=dict)
    # When it first showed the request as waiting for a callback (a missed call's).
    callbacks: dict[str, float] = field(default_factory=dict)
    events: int = 0
    connects: int = 0
    closes: list[str] = field(default_factory=list)
    resyncs: int = 0
    reloaded: int = 0  # references learnt from a list reload after a resync
    last_event_id: str | None = None


class Consoles:
    """Consoles that log in, listen on /api/v1/console/ws, and on any close reconnect with
    the last event id they saw (logging in again when the session is gone), as the console
    page does; a `resync` makes them reload the request list."""

    def __init__(self, port: int, login: str, password: str, count: int) -> None:
        self.port, self.login, self.password = port, login, password
        self.consoles = [Console(i) for i in range(count)]
        self._tasks: list[asyncio.Task[None]] = []
        self._connected = [asyncio.Event() for _ in range(count)]
        self._stopping = asyncio.Event()

    @property
    def base(self) -> str:
        return f"http://{HOST}:{self.port}"

    async def start(self, timeout_s: float = 60.0) -> None:
        self._tasks = [asyncio.create_task(self._run(c)) for c in self.consoles]
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in self._connected)), timeout_s)

    async def stop(self) -> None:
        self._stopping.set()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _run(self, console: Console) -> None:
        jar = aiohttp.CookieJar(unsafe=True)  # cookies for an IP address host
        async with aiohttp.ClientSession(cookie_jar=jar) as session:
            while not self._stopping.is_set():
                try:
                    await self._listen(session, console)
                except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
                    console.closes.append(type(exc).__name__)
                await asyncio.sleep(RECONNECT_S)

    async def _log_in(self, session: aiohttp.ClientSession) -> None:
        async with session.post(self.base + "/api/v1/auth/login", json={
                "login": self.login, "password": self.password},
                timeout=aiohttp.ClientTimeout(total=ATTEMPT_TIMEOUT_S)) as answer:
            if answer.status != 200:
                raise aiohttp.ClientResponseError(answer.request_info, (), status=answer.status,
                                                  message="login")

    async def _listen(self, session: aiohttp.ClientSession, console: Console) -> None:
        query = f"?last_event_id={console.last_event_id}" if console.last_event_id else ""
        try:
            ws = await session.ws_connect(self.base + "/api/v1/console/ws" + query,
                                          timeout=aiohttp.ClientWSTimeout(ws_close=5),
                                          max_msg_size=64 * 1024 * 1024)
        except aiohttp.WSServerHandshakeError as exc:
            if exc.status != 401:
                raise
            await self._log_in(session)
            return
        async with ws:
            console.connects += 1
            self._connected[console.index].set()
            async for message in ws:
                if message.type != aiohttp.WSMsgType.TEXT:
                    break
                await self._take(session, console, json.loads(message.data))
            console.closes.append(f"closed {ws.close_code}")

    async def _take(self, session: aiohttp.ClientSession, console: Console,
                    frame: dict[str, Any]) -> None:
        now = time.monotonic()
        kind = frame.get("type")
        if kind == "hello" and console.last_event_id is None:
            console.last_event_id = frame.get("last_event_id")
        elif kind == "events":
            for event in frame.get("events", []):
                console.events += 1
                console.last_event_id = event.get("id", console.last_event_id)
                note_request(console, event.get("request") or {}, now)
        elif kind == "resync":
            console.resyncs += 1
            console.last_event_id = frame.get("last_event_id")
            await self._reload(session, console)

    async def _reload(self, session: aiohttp.ClientSession, console: Console) -> None:
        cursor = ""
        while True:
            url = f"{self.base}/api/v1/requests?limit={RELOAD_LIMIT}" + (
                f"&cursor={cursor}" if cursor else "")
            async with session.get(url) as answer:
                answer.raise_for_status()
                page = await answer.json()
            now = time.monotonic()
            for summary in page["requests"]:
                if summary["reference"] not in console.seen:
                    console.reloaded += 1
                note_request(console, summary, now)
            cursor = page.get("next_cursor") or ""
            if not cursor:
                return


def note_request(console: Console, request: dict[str, Any], now: float) -> None:
    """A request the console was shown (in an event or a list reload), and whether it
    showed it waiting for a callback."""
    reference = request.get("reference")
    if not reference:
        return
    console.seen.setdefault(reference, now)
    if (request.get("details") or {}).get("callback") == "true":
        console.callbacks.setdefault(reference, now)


def heard_of(console: Console, channel: str) -> dict[str, float]:
    """What counts as the console having a contact: a missed call's request shown waiting
    for a callback; any other contact's request shown at all."""
    return console.callbacks if channel == "phone" else console.seen


async def wait_for_console(consoles: Consoles, references: set[str], callbacks: set[str],
                           timeout_s: float) -> bool:
    """Whether every console has every reference, and shows every callback, before
    `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if all(references <= c.seen.keys() and callbacks <= c.callbacks.keys()
               for c in consoles.consoles):
            return True
        await asyncio.sleep(0.2)
    return False


async def status(port: int, path: str) -> int:
    """The hub's answer to GET `path`; 0 when none came within a second."""
    with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1)) as s, \
                s.get(f"http://{HOST}:{port}{path}") as answer:
            return answer.status
    return 0


async def ready(port: int) -> bool:
    return await status(port, "/readyz") == 200
