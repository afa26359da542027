"""One door in for every channel (design invariant 9), shown over every phone adapter and every
text channel, each driven through its public interface as its gateway or passenger would:

- while an announcement-only service notice is in force, a contact stores nothing (no
  passenger, request, message or call row, nothing on the inbound or events streams, no
  personal data in the logs), and the passenger gets the notice where the channel can carry
  it (the form's page and receipt, Twilio's TwiML answer, the generic gateway's JSON answer,
  the chat widget's frame, the phone's spoken answer);
- the same contact delivered twice (the gateway's message id, the Message-ID, the chat
  client's id, the form's submission token, the call id) is stored once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import json
import logging
import smtplib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlencode

import pytest
import websockets
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis
from sqlalchemy import func, select
from websockets.typing import Origin

from channels.email.channel import EmailChannel
from dispatch.appkeys import ADAPTERS
from hub import schema
from hub.appkeys import DATABASE, KEYS
from hub.settings import (
    AmiSettings,
    ChannelsSettings,
    ChatSettings,
    EmailSettings,
    GenericSmsSettings,
    HttpSettings,
    ImapSettings,
    PhoneSettings,
    Secret,
    Settings,
    SmsSettings,
    SmtpListenerSettings,
    SmtpRelaySettings,
    TwilioSettings,
    VonageSettings,
)
from tests.channels.conftest import dovecot, dovecot_server  # noqa: F401 (fixtures)
from tests.conftest import DispatcherFactory, HubFactory, free_port, server_url
from tests.dovecot import MailUser
from tests.fake_ami import FakeAmi
from tests.gateways import twilio_signature, vonage_signature
from tests.helpers import WAIT_S, eventually

Client = TestClient[Any, Any]

TWILIO_TOKEN, ACCOUNT = "door-twilio-token", "AC" + "7" * 32
VONAGE_KEY, VONAGE_SIGNING = "doorkey", "door-vonage-signing"
GENERIC_SECRET, CTI_SECRET = "whsec_door", "door-cti-secret"
AMI_USER, AMI_SECRET = "taxiconnect", "door-ami-secret"
CHAT_ORIGIN, CHAT_SECRET = "https://www.taksi.example", "door-chat-secret"
COMPANY_NUMBER, COMPANY_MAIL = "+358912345678", "tilaukset@taxi.example"
NOTICE = {"text_fi": "Myrskyvaroitus: emme ota tilauksia vastaan.",
          "text_en": "Storm warning: we take no orders now.",
          "channels": ["phone", "sms", "email", "chat", "webform"], "announcement_only": True}
OURS = {"hub", "channels", "dispatch"}
TABLES = (schema.contacts, schema.contact_identities, schema.contact_requests,
          schema.messages, schema.calls, schema.notice_answers)


@dataclass
class Door:
    """One channel's hub, and what a case needs to drive it."""

    client: Client
    ami: FakeAmi | None = None
    mailbox: MailUser | None = None
    seen: list[int] = field(default_factory=list)  # IMAP UIDs delivered
    chat_token: str | None = None

    @property
    def base(self) -> str:
        return server_url(self.client)


@dataclass(frozen=True)
class Passenger:
    """Personal data one case's contact carries, looked for in rows and logs."""

    phone: str  # E.164
    national: str
    email: str
    body: str


Deliver = Callable[[Door, str, Passenger], Awaitable[str | None]]


@dataclass(frozen=True)
class Case:
    name: str
    enabled: tuple[str, ...]
    deliver: Deliver  # one contact with this key; returns what the passenger was told
    carries_notice: bool
    needs: str = ""  # "ami" or "imap": a real server to start first


# --- one driver per adapter, through its public interface ---------------------------------

async def _webform_page(door: Door, key: str, who: Passenger) -> str | None:
    async with door.client.post("/form", data={
            "name": "Aino Ovi", "phone": who.national, "message": who.body,
            "submission_token": key}) as resp:
        assert resp.status in (200, 201), await resp.text()
        return await resp.text()


async def _webform_json(door: Door, key: str, who: Passenger) -> str | None:
    async with door.client.post("/api/v1/contact-requests", json={
            "name": "Aino Ovi", "phone": who.national, "message": who.body,
            "submission_token": key}) as resp:
        assert resp.status in (200, 201), await resp.text()
        return str((await resp.json()).get("notice"))


async def _twilio_sms(door: Door, key: str, who: Passenger) -> str | None:
    params = [("AccountSid", ACCOUNT), ("MessageSid", key), ("From", who.phone),
              ("To", COMPANY_NUMBER), ("Body", who.body), ("NumMedia", "0")]
    url = str(door.client.make_url("/webhooks/sms/twilio"))
    async with door.client.post("/webhooks/sms/twilio", data=urlencode(params), headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": twilio_signature(TWILIO_TOKEN, url, params)}) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.text()


async def _vonage_sms(door: Door, key: str, who: Passenger) -> str | None:
    params = {"msisdn": who.phone.lstrip("+"), "to": COMPANY_NUMBER.lstrip("+"),
              "messageId": key, "text": who.body, "type": "text", "api-key": VONAGE_KEY,
              "message-timestamp": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"),
              "timestamp": str(int(time.time())), "nonce": str(uuid.uuid4())}
    params["sig"] = vonage_signature(params, VONAGE_SIGNING, "md5hash")
    async with door.client.post("/webhooks/sms/vonage", json=params) as resp:
        assert resp.status in (200, 204), await resp.text()
    return None  # Vonage takes no answer in the response


async def _generic_sms(door: Door, key: str, who: Passenger) -> str | None:
    raw = json.dumps({"message_id": key, "from": who.phone, "to": COMPANY_NUMBER,
                      "text": who.body}).encode()
    t = int(time.time())
    digest = hmac.new(GENERIC_SECRET.encode(), str(t).encode() + b"." + raw, hashlib.sha256)
    async with door.client.post("/webhooks/sms/generic", data=raw, headers={
            "Content-Type": "application/json",
            "X-TaxiConnect-Signature": f"t={t},v1={digest.hexdigest()}"}) as resp:
        assert resp.status == 200, await resp.text()
        return json.dumps(await resp.json(), ensure_ascii=False)


def _mail(key: str, who: Passenger) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = f"Aino Ovi <{who.email}>"
    mail["To"] = COMPANY_MAIL
    mail["Subject"] = "Tilaus"
    mail["Message-ID"] = f"<{key}@example.fi>"
    mail.set_content(who.body)
    return mail


async def _email_smtp(door: Door, key: str, who: Passenger) -> str | None:
    channel = door.client.app[ADAPTERS]["email"]
    assert isinstance(channel, EmailChannel) and channel.smtp_port
    port, mail = channel.smtp_port, _mail(key, who)

    def blocking() -> None:
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
            smtp.send_message(mail, to_addrs=[COMPANY_MAIL])  # raises unless 250
    await asyncio.to_thread(blocking)
    return None


async def _email_imap(door: Door, key: str, who: Passenger) -> str | None:
    assert door.mailbox is not None
    raw = _mail(key, who).as_bytes().replace(b"\n", b"\r\n")
    uid = await door.mailbox.append(raw)
    door.seen.append(uid)
    mailbox = door.mailbox

    async def taken() -> bool | None:
        return True if "\\Seen" in await mailbox.flags_of(uid) else None
    await eventually(taken, what="the mail taken from the mailbox")
    return None


async def _chat(door: Door, key: str, who: Passenger) -> str | None:
    url = door.base.replace("http://", "ws://") + "/chat/ws"
    async with websockets.connect(url, origin=Origin(CHAT_ORIGIN)) as ws:
        # A resend comes from the same visitor: the widget keeps its token.
        await ws.send(json.dumps({"type": "hello", "token": door.chat_token,
                                  "last_seen": None, "lang": "fi"}))
        welcome = json.loads(await asyncio.wait_for(ws.recv(), WAIT_S))
        assert welcome["type"] == "welcome", welcome
        door.chat_token = welcome["token"]
        await ws.send(json.dumps({"type": "prechat", "phone": who.national}))
        await ws.send(json.dumps({"type": "message", "id": key, "text": who.body}))
        while True:
            frame = json.loads(await asyncio.wait_for(ws.recv(), WAIT_S))
            if frame["type"] == "ack" and frame["id"] == key:
                return None
            if frame["type"] == "nack" and frame["id"] == key:
                assert frame.get("announced") is True, frame
                return str(frame["reason"])


async def _twilio_voice(door: Door, key: str, who: Passenger) -> str | None:
    sid = "CA" + hashlib.md5(key.encode()).hexdigest()  # Twilio's form: CA and 32 hex digits
    params = [("AccountSid", ACCOUNT), ("CallSid", sid), ("CallStatus", "ringing"),
              ("Direction", "inbound"), ("From", who.phone), ("To", COMPANY_NUMBER)]
    url = str(door.client.make_url("/webhooks/phone/twilio"))
    async with door.client.post("/webhooks/phone/twilio", data=urlencode(params), headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": twilio_signature(TWILIO_TOKEN, url, params)}) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.text()


async def _phone_cti(door: Door, key: str, who: Passenger) -> str | None:
    async with door.client.post("/webhooks/phone/cti", headers={"X-CTI-Token": CTI_SECRET},
                                json={"event": "newCall", "callId": key, "from": who.national,
                                      "to": "0912345678", "direction": "in"}) as resp:
        assert resp.status == 200, await resp.text()
        return json.dumps(await resp.json(), ensure_ascii=False)


async def _asterisk_ami(door: Door, key: str, who: Passenger) -> str | None:
    assert door.ami is not None
    adapter = door.client.app[ADAPTERS]["asterisk_ami"]
    handled = adapter.events
    linked = key
    caller = "".join(f"{name}: {value}\n" for name, value in (
        ("Channel", f"PJSIP/trunk-{key[-4:]}"), ("ChannelState", "6"),
        ("ChannelStateDesc", "Up"), ("CallerIDNum", who.national),
        ("CallerIDName", "<unknown>"), ("ConnectedLineNum", "<unknown>"),
        ("ConnectedLineName", "<unknown>"), ("Language", "fi"), ("AccountCode", ""),
        ("Context", "from-trunk"), ("Exten", "0912345678"), ("Priority", "1"),
        ("Uniqueid", linked), ("Linkedid", linked)))
    await door.ami.send(f"Event: Newchannel\nPrivilege: call,all\n{caller}\n"
                        f"Event: QueueCallerJoin\nPrivilege: agent,all\n{caller}"
                        "Queue: taksi\nPosition: 1\nCount: 1\n\n")

    async def done() -> bool | None:
        return True if adapter.events >= handled + 2 else None
    await eventually(done, what="the AMI events handled")
    return None  # the PBX plays its own announcement; AMI carries no answer


CASES = [
    Case("webform_page", ("webform",), _webform_page, True),
    Case("webform_json", ("webform",), _webform_json, True),
    Case("twilio_sms", ("webform", "twilio_sms"), _twilio_sms, True),
    Case("vonage_sms", ("webform", "vonage_sms"), _vonage_sms, False),
    Case("generic_sms", ("webform", "generic_sms"), _generic_sms, True),
    Case("email_smtp", ("webform", "email"), _email_smtp, False),
    Case("email_imap", ("webform", "email"), _email_imap, False, needs="imap"),
    Case("chat", ("webform", "chat"), _chat, True),
    Case("twilio_voice", ("webform", "twilio_voice"), _twilio_voice, True),
    Case("phone_cti", ("webform", "phone_cti"), _phone_cti, True),
    Case("asterisk_ami", ("webform", "asterisk_ami"), _asterisk_ami, False, needs="ami"),
]


def _passenger(n: int) -> Passenger:
    local = f"40{n:03d}7{n:03d}"
    return Passenger(phone=f"+358{local}", national=f"0{local}",
                     email=f"ovi.matkustaja{n}@example.fi",
                     body=f"Taksi Ovikatu {100 + n} heti, kiitos")


def _settings(settings: Settings, case: Case, door_port: int, ami: FakeAmi | None,
              mailbox: MailUser | None) -> Settings:
    email = EmailSettings(
        address=COMPANY_MAIL, reply_token_secret=Secret("door-reply-secret"),
        smtp=SmtpListenerSettings(port=0, domains=("taxi.example",)),
        relay=SmtpRelaySettings(host="127.0.0.1", port=9, security="none"),
        imap=ImapSettings(host=mailbox.host, port=mailbox.port, security="none",
                          user=mailbox.user, password=Secret(mailbox.password), poll_s=0.3)
        if mailbox is not None else ImapSettings())
    ami_settings = (AmiSettings(host="127.0.0.1", port=ami.port, user=AMI_USER,
                                secret=Secret(AMI_SECRET)) if ami is not None
                    else AmiSettings())
    return dataclasses.replace(
        settings, channels=ChannelsSettings(enabled=case.enabled),
        http=HttpSettings(public_url=f"http://127.0.0.1:{door_port}"),
        sms=SmsSettings(
            twilio=TwilioSettings(auth_token=Secret(TWILIO_TOKEN), account_sid=ACCOUNT),
            vonage=VonageSettings(api_key=VONAGE_KEY, api_secret=Secret("unused"),
                                  signature_secret=Secret(VONAGE_SIGNING),
                                  from_number="TaksiOvi", api_url="http://127.0.0.1:9"),
            generic=GenericSmsSettings(signing_secret=Secret(GENERIC_SECRET),
                                       send_url="http://127.0.0.1:9/send",
                                       send_token=Secret("unused"))),
        phone=PhoneSettings(cti_secret=Secret(CTI_SECRET), ami=ami_settings),
        chat=ChatSettings(allowed_origins=(CHAT_ORIGIN,), token_secret=Secret(CHAT_SECRET)),
        email=email)


@pytest.fixture
async def door_stack() -> AsyncIterator[AsyncExitStack]:
    async with AsyncExitStack() as stack:
        yield stack


async def _open(case: Case, hub: HubFactory, settings: Settings, stack: AsyncExitStack,
                request: pytest.FixtureRequest) -> Door:
    ami = await stack.enter_async_context(FakeAmi(AMI_USER, AMI_SECRET)) \
        if case.needs == "ami" else None
    mailbox: MailUser | None = request.getfixturevalue("dovecot") \
        if case.needs == "imap" else None
    port = free_port()
    client = await hub(_settings(settings, case, port, ami, mailbox), port=port)
    if ami is not None:
        await ami.wait_for_logins(1)
    return Door(client, ami=ami, mailbox=mailbox)


async def _counts(door: Door) -> dict[str, int]:
    async with door.client.app[DATABASE].read() as conn:
        return {t.name: int(await conn.scalar(select(func.count()).select_from(t)) or 0)
                for t in TABLES}


async def _streams(door: Door, redis: Redis) -> dict[str, int]:
    keys = door.client.app[KEYS]
    return {name: int(await redis.xlen(getattr(keys, name))) for name in ("inbound", "events")}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_announcement_only_keeps_the_contact_out_and_answers_with_the_notice(
    case: Case, hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings,
    door_stack: AsyncExitStack, request: pytest.FixtureRequest,
    caplog: pytest.LogCaptureFixture, raw_redis: Redis
) -> None:
    door = await _open(case, hub, settings, door_stack, request)
    agent = await dispatcher(door.client)
    async with agent.http.post(f"{agent.base}/api/v1/notices", json=NOTICE) as resp:
        assert resp.status == 201, await resp.text()
    await asyncio.sleep(0.3)  # the notice's own console event settles on the stream
    rows, streams = await _counts(door), await _streams(door, raw_redis)
    who = _passenger(CASES.index(case))
    caplog.set_level(logging.DEBUG)

    told = await case.deliver(door, f"door-{case.name}-{uuid.uuid4().hex[:8]}", who)

    await asyncio.sleep(0.5)  # anything published late would be on the streams by now
    assert await _counts(door) == rows
    assert await _streams(door, raw_redis) == streams
    async with door.client.app[DATABASE].read() as conn:
        identities = set((await conn.execute(
            select(schema.contact_identities.c.value))).scalars())
    assert not identities & {who.phone, who.email}
    # Everything at the hub's default level (INFO), and the hub's own debug lines too
    # (libraries' debug output, such as SQL parameters, is a developer's switch).
    logged = "\n".join(r.getMessage() for r in caplog.records
                       if r.levelno >= logging.INFO or r.name.split(".")[0] in OURS)
    for secret in (who.phone, who.national, who.email, who.body):
        assert secret not in logged, (secret, logged)
    if case.carries_notice:
        assert told is not None and (NOTICE["text_fi"] in told or NOTICE["text_en"] in told), \
            told


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_the_same_contact_delivered_twice_is_stored_once(
    case: Case, hub: HubFactory, settings: Settings, door_stack: AsyncExitStack,
    request: pytest.FixtureRequest
) -> None:
    door = await _open(case, hub, settings, door_stack, request)
    who = _passenger(50 + CASES.index(case))
    key = f"twice-{case.name}-{uuid.uuid4().hex[:8]}"
    await case.deliver(door, key, who)

    async def stored() -> dict[str, int] | None:
        counts = await _counts(door)
        return counts if counts["messages"] == 1 else None
    first = await eventually(stored, what="the first delivery stored")
    await case.deliver(door, key, who)
    await asyncio.sleep(0.5)
    assert await _counts(door) == first
    assert first["contact_requests"] == 1
    assert first["calls"] == (1 if case.name in ("twilio_voice", "phone_cti",
                                                 "asterisk_ami") else 0)


async def test_an_sms_opt_out_is_still_kept_while_the_notice_keeps_the_text_out(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings,
    door_stack: AsyncExitStack, request: pytest.FixtureRequest
) -> None:
    case = next(c for c in CASES if c.name == "twilio_sms")
    door = await _open(case, hub, settings, door_stack, request)
    agent = await dispatcher(door.client)
    async with agent.http.post(f"{agent.base}/api/v1/notices", json=NOTICE) as resp:
        assert resp.status == 201, await resp.text()
    who = dataclasses.replace(_passenger(99), body="STOP")
    told = await _twilio_sms(door, "SM" + "9" * 32, who)
    assert told is not None and "<Message>" not in told  # no text to who just said STOP
    async with door.client.app[DATABASE].read() as conn:
        opted = set((await conn.execute(select(schema.sms_opt_outs.c.phone))).scalars())
    assert opted == {who.phone}
    assert (await _counts(door))["messages"] == 0
