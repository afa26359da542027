"""Fake SMS gateways: local HTTP servers that speak Twilio's, Vonage's and the generic
gateway's send APIs, so the hub's sender is tested over real HTTP.

Each fake is an async context manager listening on 127.0.0.1 (a free port), with `.url`
(its base URL, to configure in place of the gateway's), `.received` (every request in
arrival order) and `.messages` (what it accepted, by its id). A `script` gives the answer
to each authenticated request in turn, one entry per request; once it is used up every
request succeeds. A request with wrong credentials is refused without using an entry.

Status callbacks and delivery receipts go the other way: `FakeTwilio.send_status` and
`FakeVonage.send_dlr` post them, signed, to the callback URL the hub gave with the message.
The signatures here are written out independently of channels/sms, so a test that checks
them with the hub's own code compares two implementations.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from types import TracebackType
from typing import Any, Literal, Self
from urllib.parse import parse_qsl, urlencode

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from channels.sms.segments import count_segments

WAIT_S = 10.0
FORM = "application/x-www-form-urlencoded"

TWILIO_ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
TWILIO_AUTH_TOKEN = "fake-twilio-auth-token"
TWILIO_API_VERSION = "2010-04-01"
TWILIO_SERVICE_SENDER = "+15005550006"  # the number a Messaging Service "picks"
# Twilio's error JSON per HTTP status: {"code", "message", "more_info", "status"}.
TWILIO_ERRORS: dict[int, tuple[int, str]] = {
    400: (21211, "The 'To' number {to} is not a valid phone number."),
    401: (20003, "Authenticate"),
    404: (20404, "The requested resource {path} was not found"),
    429: (20429, "Too Many Requests"),
    500: (20500, "Internal Server Error"),
    503: (20503, "Service Unavailable"),
}

VONAGE_API_KEY = "abcd1234"
VONAGE_API_SECRET = "abcdef0123456789"
VONAGE_NETWORK = "23420"  # as in Vonage's SDK samples
VONAGE_PRICE = "0.03330000"
# SMS API `status` codes answered inside a 200 (Vonage's API spec; 1 and 7 worded as its SDK
# test data, 4 as its older SDK tests).
VONAGE_ERRORS: dict[str, str] = {
    "1": "You are sending SMS faster than the account limit.",
    "2": "Missing Parameters",
    "3": "Invalid Parameters",
    "4": "Bad Credentials",
    "5": "Internal Error",
    "6": "Invalid Message",
    "7": "Number barred.",
    "9": "Partner Quota Violation",
    "14": "Invalid Signature",
    "15": "Invalid Sender Address",
    "29": "Non-Whitelisted Destination",
    "32": "Signature And API Secret Disallowed",
}

GENERIC_TOKEN = "fake-generic-gateway-token"

# An int is an HTTP status answered with the gateway's error (or success) body; a pair
# gives the status and the exact JSON body; a str is a Vonage status code inside a 200.
Scripted = int | str | tuple[int, Mapping[str, Any]]


@dataclass(frozen=True, slots=True)
class Received:
    """One request as the fake saw it; `data` is the body parsed (a form as str -> str,
    the last value winning; JSON as decoded)."""

    method: str
    path: str
    headers: Mapping[str, str]
    data: Any
    body: bytes


@dataclass(slots=True)
class SentMessage:
    """What a fake accepted: enough to send its status callbacks later."""

    id: str
    to: str
    sender: str
    text: str
    callback: str | None
    fields: Mapping[str, Any] = field(default_factory=dict)


class _FakeGateway:
    def __init__(self, script: Sequence[Scripted]) -> None:
        self.script: list[Scripted] = list(script)
        self.received: list[Received] = []
        self.messages: dict[str, SentMessage] = {}
        self._server: TestServer | None = None
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        return (f"<{type(self).__name__} url={self.url if self._server else None} "
                f"received={len(self.received)} script_left={len(self.script)}>")

    @property
    def url(self) -> str:
        assert self._server is not None, "use the fake as `async with`"
        return str(self._server.make_url("")).rstrip("/")

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.add_routes(self._routes())
        self._server = TestServer(app, host="127.0.0.1")
        await self._server.start_server()
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=WAIT_S))
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._session is not None:
            await self._session.close()
        if self._server is not None:
            await self._server.close()

    def _routes(self) -> list[web.RouteDef]:
        raise NotImplementedError

    def _next(self) -> Scripted | None:
        return self.script.pop(0) if self.script else None

    async def _record(self, request: web.Request) -> Received:
        body = await request.read()
        data: Any = {}
        if request.content_type == "application/json":
            try:
                data = json.loads(body)
            except ValueError:
                data = None
        elif request.content_type == FORM:
            data = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        received = Received(request.method, request.path, request.headers.copy(), data, body)
        self.received.append(received)
        return received

    async def _post(self, url: str, *, data: bytes, headers: Mapping[str, str]) -> int:
        assert self._session is not None, "use the fake as `async with`"
        async with self._session.post(url, data=data, headers=headers) as response:
            await response.read()
            return response.status


class FakeTwilio(_FakeGateway):
    """Twilio's Messages API: `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`, form
    fields To, From or MessagingServiceSid, Body, StatusCallback; HTTP Basic auth
    AccountSid:AuthToken. Answers 201 with the Message resource, or Twilio's error JSON.
    Script entries: 201 or a status in TWILIO_ERRORS, or (status, body)."""

    def __init__(self, account_sid: str = TWILIO_ACCOUNT_SID,
                 auth_token: str = TWILIO_AUTH_TOKEN, script: Sequence[Scripted] = ()) -> None:
        for entry in script:
            if not (entry == 201 or entry in TWILIO_ERRORS or isinstance(entry, tuple)):
                raise ValueError(f"FakeTwilio cannot answer {entry!r}")
        super().__init__(script)
        self.account_sid = account_sid
        self.auth_token = auth_token

    def _routes(self) -> list[web.RouteDef]:
        return [web.post("/2010-04-01/Accounts/{account_sid}/Messages.json", self._create)]

    async def _create(self, request: web.Request) -> web.Response:
        received = await self._record(request)
        form: dict[str, str] = received.data if isinstance(received.data, dict) else {}
        if not _basic_auth_is(request, self.account_sid, self.auth_token):
            return self._error(401, request)
        if request.match_info["account_sid"] != self.account_sid:
            return self._error(404, request)
        scripted = self._next()
        if isinstance(scripted, tuple):
            return web.json_response(dict(scripted[1]), status=scripted[0])
        if isinstance(scripted, int) and scripted != 201:
            return self._error(scripted, request, to=form.get("To", ""))
        missing = _twilio_missing(form)
        if missing is not None:
            code, message = missing
            return web.json_response(_twilio_error(code, message, 400), status=400)
        return web.json_response(self._accept(form), status=201)

    def _accept(self, form: Mapping[str, str]) -> dict[str, Any]:
        sid = "SM" + uuid.uuid4().hex
        service = form.get("MessagingServiceSid") or None
        body = form.get("Body", "")
        self.messages[sid] = SentMessage(
            id=sid, to=form["To"], sender=form.get("From") or TWILIO_SERVICE_SENDER,
            text=body, callback=form.get("StatusCallback"), fields=dict(form))
        now = format_datetime(datetime.now(UTC).replace(microsecond=0))
        base = f"/{TWILIO_API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}"
        return {
            "account_sid": self.account_sid, "api_version": TWILIO_API_VERSION, "body": body,
            "date_created": now, "date_sent": None, "date_updated": now,
            "direction": "outbound-api", "error_code": None, "error_message": None,
            "from": form.get("From") or None, "messaging_service_sid": service,
            "num_media": "0",
            # Twilio answers 0 segments until a Messaging Service has picked a sender.
            "num_segments": "0" if service else str(max(1, count_segments(body).count)),
            "price": None, "price_unit": "USD", "sid": sid,
            "status": "accepted" if service else "queued",
            "subresource_uris": {"media": f"{base}/Media.json"},
            "to": form["To"], "uri": f"{base}.json",
        }

    def _error(self, status: int, request: web.Request, to: str = "") -> web.Response:
        code, template = TWILIO_ERRORS[status]
        message = template.format(to=to, path=request.path)
        return web.json_response(_twilio_error(code, message, status), status=status)

    async def send_status(self, sid: str, status: str, error_code: str | int | None = None,
                          *, url: str | None = None) -> int:
        """POST a status callback for message `sid` as Twilio does (form-encoded, signed
        with X-Twilio-Signature) to `url` or the message's StatusCallback; returns the
        HTTP status the receiver answered."""
        message = self.messages[sid]
        target = url or message.callback
        if not target:
            raise ValueError(f"message {sid} was sent without a StatusCallback")
        params = [("SmsSid", sid), ("SmsStatus", status), ("MessageStatus", status),
                  ("To", message.to), ("MessageSid", sid), ("AccountSid", self.account_sid),
                  ("From", message.sender), ("ApiVersion", TWILIO_API_VERSION)]
        if message.fields.get("MessagingServiceSid"):
            params.append(("MessagingServiceSid", message.fields["MessagingServiceSid"]))
        if error_code is not None:
            params.append(("ErrorCode", str(error_code)))
        if status in ("delivered", "undelivered"):
            params.append(("RawDlrDoneDate", datetime.now(UTC).strftime("%y%m%d%H%M")))
        headers = {"Content-Type": FORM, "User-Agent": "TwilioProxy/1.1",
                   "X-Twilio-Signature": twilio_signature(self.auth_token, target, params)}
        return await self._post(target, data=urlencode(params).encode(), headers=headers)


class FakeVonage(_FakeGateway):
    """Vonage's SMS API: `POST /sms/json`, form or JSON, with api_key and api_secret, or
    api_key, timestamp and sig when `signature_secret` is set. Answers 200 with
    {"message-count", "messages": [one per segment]}; errors as Vonage does, a non-zero
    `status` with `error-text` inside a 200. Script entries: 200, an HTTP error status
    (answered as plain text), a Vonage status code in VONAGE_ERRORS, or (status, body)."""

    def __init__(self, api_key: str = VONAGE_API_KEY, api_secret: str = VONAGE_API_SECRET, *,
                 signature_secret: str | None = None, signature_method: str = "md5hash",
                 script: Sequence[Scripted] = ()) -> None:
        for entry in script:
            if isinstance(entry, str) and entry not in VONAGE_ERRORS:
                raise ValueError(f"FakeVonage has no error text for status {entry!r}")
        super().__init__(script)
        self.api_key = api_key
        self.api_secret = api_secret
        self.signature_secret = signature_secret
        self.signature_method = signature_method
        self.balance = 10.0

    def _routes(self) -> list[web.RouteDef]:
        return [web.post("/sms/json", self._send)]

    async def _send(self, request: web.Request) -> web.Response:
        received = await self._record(request)
        if not isinstance(received.data, dict):
            return _vonage_failure("3", "Invalid Parameters")
        fields = {key: str(value) for key, value in received.data.items()}
        refused = self._refuse(fields)
        if refused is not None:
            return _vonage_failure(refused, VONAGE_ERRORS[refused])
        scripted = self._next()
        if isinstance(scripted, tuple):
            return web.json_response(dict(scripted[1]), status=scripted[0])
        if isinstance(scripted, str):
            return _vonage_failure(scripted, VONAGE_ERRORS[scripted])
        if isinstance(scripted, int) and scripted != 200:
            return web.Response(status=scripted, text=f"HTTP {scripted}")
        for name in ("from", "to", "text"):
            if not fields.get(name):
                return _vonage_failure("2", f"Missing {name} param")
        return web.json_response(self._accept(fields))

    def _refuse(self, fields: Mapping[str, str]) -> str | None:
        if fields.get("api_key") != self.api_key:
            return "4"
        if "sig" in fields:
            if "api_secret" in fields:
                return "32"
            if not self.signature_secret:
                return "4"
            expected = vonage_signature(fields, self.signature_secret, self.signature_method)
            given = fields["sig"].lower().encode()
            return None if hmac.compare_digest(expected.encode(), given) else "14"
        return None if fields.get("api_secret") == self.api_secret else "4"

    def _accept(self, fields: Mapping[str, str]) -> dict[str, Any]:
        parts = max(1, count_segments(fields["text"]).count)
        messages = []
        for _ in range(parts):
            message_id = str(uuid.uuid4())
            self.balance -= float(VONAGE_PRICE)
            self.messages[message_id] = SentMessage(
                id=message_id, to=fields["to"], sender=fields["from"], text=fields["text"],
                callback=fields.get("callback"), fields=dict(fields))
            entry = {"to": fields["to"], "message-id": message_id, "status": "0",
                     "remaining-balance": f"{self.balance:.8f}",
                     "message-price": VONAGE_PRICE, "network": VONAGE_NETWORK}
            if "client-ref" in fields:
                entry["client-ref"] = fields["client-ref"]
            messages.append(entry)
        return {"message-count": str(parts), "messages": messages}

    async def send_dlr(self, message_id: str, status: str, err_code: str = "0", *,
                       url: str | None = None,
                       encoding: Literal["json", "form"] = "json") -> int:
        """POST a delivery receipt for one segment's `message_id` as Vonage does, to `url`
        or the `callback` sent with the message; signed (timestamp, nonce, sig) when the
        fake has a signature secret. Returns the HTTP status the receiver answered."""
        message = self.messages[message_id]
        target = url or message.callback
        if not target:
            raise ValueError(f"message {message_id} was sent without a callback URL")
        now = datetime.now(UTC)
        params = {"msisdn": message.to, "to": message.sender, "network-code": VONAGE_NETWORK,
                  "messageId": message_id, "price": VONAGE_PRICE, "status": status,
                  "scts": now.strftime("%y%m%d%H%M"), "err-code": err_code,
                  "api-key": self.api_key,
                  "message-timestamp": now.strftime("%Y-%m-%d %H:%M:%S")}
        if "client-ref" in message.fields:
            params["client-ref"] = message.fields["client-ref"]
        if self.signature_secret:
            params["timestamp"] = str(int(now.timestamp()))
            params["nonce"] = str(uuid.uuid4())
            params["sig"] = vonage_signature(params, self.signature_secret,
                                             self.signature_method)
        if encoding == "json":
            return await self._post(target, data=json.dumps(params).encode(),
                                    headers={"Content-Type": "application/json"})
        return await self._post(target, data=urlencode(params).encode(),
                                headers={"Content-Type": FORM})


class FakeGenericGateway(_FakeGateway):
    """The send side of the generic format: `POST /send` JSON {"message_id", "to", "text"}
    with `Authorization: Bearer <token>`; answers 202 {"id": ...}, the same id again for a
    message_id it has seen. Script entries: 202, any HTTP status (answered with
    {"error": ...}), or (status, body)."""

    def __init__(self, token: str = GENERIC_TOKEN, script: Sequence[Scripted] = ()) -> None:
        super().__init__(script)
        self.token = token
        self.ids: dict[str, str] = {}  # our message_id -> the gateway's id

    def _routes(self) -> list[web.RouteDef]:
        return [web.post("/send", self._send)]

    async def _send(self, request: web.Request) -> web.Response:
        received = await self._record(request)
        given = request.headers.get("Authorization", "").encode()
        if not hmac.compare_digest(given, f"Bearer {self.token}".encode()):
            return web.json_response({"error": "unauthorized"}, status=401)
        scripted = self._next()
        if isinstance(scripted, tuple):
            return web.json_response(dict(scripted[1]), status=scripted[0])
        if isinstance(scripted, int) and scripted != 202:
            return web.json_response({"error": f"scripted failure {scripted}"}, status=scripted)
        data = received.data
        if not (isinstance(data, dict)
                and all(isinstance(data.get(name), str) and data[name]
                        for name in ("message_id", "to", "text"))):
            return web.json_response({"error": "message_id, to and text are required strings"},
                                     status=400)
        gateway_id = self.ids.get(data["message_id"])
        if gateway_id is None:
            gateway_id = self.ids[data["message_id"]] = "gw-" + uuid.uuid4().hex[:16]
            self.messages[gateway_id] = SentMessage(
                id=gateway_id, to=data["to"], sender="", text=data["text"], callback=None,
                fields=dict(data))
        return web.json_response({"id": gateway_id}, status=202)


def twilio_signature(auth_token: str, url: str, params: Sequence[tuple[str, str]]) -> str:
    """X-Twilio-Signature: base64(HMAC-SHA1(token, url + every name+value, sorted))."""
    signed = url + "".join(name + value for name, value in sorted(params))
    digest = hmac.new(auth_token.encode(), signed.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def vonage_signature(params: Mapping[str, str], secret: str, method: str) -> str:
    """Vonage's `sig`: '&k=v' for every parameter but sig, sorted, with & and = in values
    made '_'; md5(that + secret) for "md5hash", else HMAC(secret, that)."""
    signed = "".join(f"&{key}={params[key].replace('&', '_').replace('=', '_')}"
                     for key in sorted(params) if key != "sig").encode()
    if method == "md5hash":
        return hashlib.md5(signed + secret.encode()).hexdigest()
    return hmac.new(secret.encode(), signed, method).hexdigest()


def _basic_auth_is(request: web.Request, user: str, password: str) -> bool:
    scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
    try:
        decoded = base64.b64decode(encoded, validate=True)
    except ValueError:
        return False
    expected = f"{user}:{password}".encode()
    return scheme.lower() == "basic" and hmac.compare_digest(decoded, expected)


def _twilio_missing(form: Mapping[str, str]) -> tuple[int, str] | None:
    if not form.get("To"):
        return 21604, "A 'To' phone number is required."
    if not (form.get("From") or form.get("MessagingServiceSid")):
        return 21603, "A 'From' phone number is required."
    if not (form.get("Body") or form.get("MediaUrl")):
        return 21602, "Message body is required."
    return None


def _twilio_error(code: int, message: str, status: int) -> dict[str, Any]:
    return {"code": code, "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status}


def _vonage_failure(status: str, text: str) -> web.Response:
    return web.json_response({"message-count": "1",
                              "messages": [{"status": status, "error-text": text}]})
