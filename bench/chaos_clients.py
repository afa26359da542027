"""The chaos bench's clients: passengers and gateways that retry like real ones, and consoles
that reconnect and resume like the console page.

Every contact carries a submission id of its own (the form's submission token, the SMS
gateway's message id, the chat client's message id) and a marker in its text, so that the
bench can find it in the database afterwards. A send that fails, times out or is answered
5xx/429 is retried with the same submission id until it is acknowledged or the bench gives
up; a contact counts as acknowledged once a 2xx (form, SMS) or an `ack` frame (chat) came.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp

HOST = "127.0.0.1"
ATTEMPT_TIMEOUT_S = 5.0  # a gateway's or a browser's patience with one request
BACKOFF_FIRST_S, BACKOFF_MAX_S = 0.25, 2.0
CHAT_ORIGIN = "http://chaos.example"  # the site the chat widget is embedded in
SMS_SIGNATURE_HEADER = "X-TaxiConnect-Signature"
COMPANY_NUMBER = "+358451234567"
RETRYABLE_4XX = {408, 425, 429}  # "later", as gateways read them
REFERENCE_HTML = re.compile(r'<strong class="reference">([^<]+)</strong>')
RECONNECT_S = 0.2  # a console's wait between reconnection attempts
RELOAD_LIMIT = 2000


@dataclass
class Submission:
    """One contact as its sender sees it."""

    sid: str  # the submission id; also the marker in the contact's text
    channel: str  # form, sms, chat
    phase: str
    phone: str
    first_sent: float = 0.0
    attempts: int = 0
    acked_at: float | None = None
    reference: str = ""  # as answered (form, SMS)
    statuses: list[str] = field(default_factory=list)  # each attempt's outcome
    refused: str = ""  # a 4xx that a retry cannot change

    @property
    def text(self) -> str:
        return f"{self.sid} taksi Kamppiin, chaos bench"


def sms_signature(raw: bytes, secret: str, at: int) -> str:
    digest = hmac.new(secret.encode(), str(at).encode() + b"." + raw, hashlib.sha256)
    return f"t={at},v1={digest.hexdigest()}"


class Senders:
    """Sends each submission through its channel, retrying until acknowledged."""

    def __init__(self, port: int, sms_secret: str) -> None:
        self.port = port
        self.sms_secret = sms_secret
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
                else:
                    outcome = await self._http(sub)
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                outcome = type(exc).__name__
            sub.statuses.append(outcome)
            if outcome == "ok":
                sub.acked_at = time.monotonic()
                return
            await asyncio.sleep(backoff)
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
                reference = (event.get("request") or {}).get("reference")
                if reference:
                    console.seen.setdefault(reference, now)
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
                    console.seen[summary["reference"]] = now
            cursor = page.get("next_cursor") or ""
            if not cursor:
                return


async def wait_for_console(consoles: Consoles, references: set[str], timeout_s: float) -> bool:
    """Whether every console has every reference before `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if all(references <= c.seen.keys() for c in consoles.consoles):
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
