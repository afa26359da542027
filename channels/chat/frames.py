"""The widget's frames, parsed and checked; pure, no I/O.

From the widget (JSON text frames):

    hello    {token: str|null, last_seen: message id|null, lang: "fi"|"sv"|"en"|null}  first
    message  {id: client id, text}          a passenger message; answered `ack` once stored
    typing   {on: bool}
    prechat  {name?, phone?, email?, pickup_address?, pickup_time?}
    seen     {message_id}                    a dispatcher message was shown
    close    {email?}                        the passenger ends the chat
    ping     {}                              answered `pong`: the widget's liveness check

From the hub:

    welcome       {token, available, reason: ok|no_dispatcher|closed_hours, max_chars,
                   messages: [line...]}             lines after `last_seen`, in order
    message       {id, at, from: passenger|dispatcher, text, agent, client_id}   one line
    ack           {id: client id, message_id, at}   only once the message is committed
    nack          {id, reason, retry: bool, retry_after?, announced?}   not stored; resend if
                  `retry`; `announced`: the reason is an announcement-only service notice
    typing        {on, name}                        a dispatcher is writing
    availability  {available, reason}               it changed while the socket was open
    prechat       {ok, fields: {name: "invalid"}}   what was not accepted
    closed        {transcript: queued|unavailable|invalid|empty|none|null}
    pong          {}

A frame that cannot be understood raises `FrameError` with the close code the socket is
closed with: 1003 for binary data, 1009 for a message over the size limit, 4400 otherwise.
The hub also closes with 4408 (no hello within 10 s), 4429 (over the message rate), 1011
(a store failed: reconnect) and 1001 (shutdown).
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

from hub import catalogue

CLOSE_UNSUPPORTED = 1003  # binary frames: the protocol is JSON text
CLOSE_TOO_BIG = 1009
CLOSE_MALFORMED = 4400  # private use: a frame the hub cannot understand
CLOSE_TOO_MANY = 4429  # private use: over the message rate
CLOSE_NO_HELLO = 4408  # private use: no hello in time
CLOSE_RESTART = 1012  # the hub is restarting or lost its fan-out: reconnect and catch up

CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
LANGUAGES = catalogue.LANGUAGES
PRECHAT_LIMITS = {"name": 200, "phone": 40, "email": 320, "pickup_address": 300,
                  "pickup_time": 40}


class FrameError(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Hello:
    token: str | None
    last_seen: uuid.UUID | None
    lang: str


@dataclass(frozen=True, slots=True)
class ChatMessage:
    id: str
    text: str


@dataclass(frozen=True, slots=True)
class Typing:
    on: bool


@dataclass(frozen=True, slots=True)
class Prechat:
    fields: dict[str, str]


@dataclass(frozen=True, slots=True)
class Seen:
    message_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class Close:
    email: str | None


@dataclass(frozen=True, slots=True)
class Ping:
    pass


Frame = Hello | ChatMessage | Typing | Prechat | Seen | Close | Ping


def parse_frame(text: str, *, max_chars: int) -> Frame:
    """One client frame; raises FrameError with the close code for anything else."""
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        raise FrameError(CLOSE_MALFORMED, "a frame must be a JSON object") from None
    if not isinstance(data, dict):
        raise FrameError(CLOSE_MALFORMED, "a frame must be a JSON object")
    kind = data.get("type")
    if kind == "hello":
        return _hello(data)
    if kind == "message":
        return _message(data, max_chars)
    if kind == "typing":
        if not isinstance(data.get("on"), bool):
            raise FrameError(CLOSE_MALFORMED, "typing needs on: true or false")
        return Typing(data["on"])
    if kind == "prechat":
        return Prechat(_texts(data, PRECHAT_LIMITS))
    if kind == "seen":
        return Seen(_message_id(data.get("message_id"), "seen needs a message_id"))
    if kind == "ping":
        return Ping()
    if kind == "close":
        email = _texts(data, {"email": PRECHAT_LIMITS["email"]}).get("email")
        return Close(email)
    raise FrameError(CLOSE_MALFORMED, f"unknown frame type {str(kind)[:20]!r}")


def _hello(data: dict[str, Any]) -> Hello:
    token = data.get("token")
    if token is not None and not isinstance(token, str):
        raise FrameError(CLOSE_MALFORMED, "hello: token must be a string or null")
    last_seen = data.get("last_seen")
    seen = None if last_seen is None else _message_id(last_seen, "hello: bad last_seen")
    lang = data.get("lang")
    return Hello(token, seen, lang if lang in LANGUAGES else "fi")


def _message(data: dict[str, Any], max_chars: int) -> ChatMessage:
    client_id, text = data.get("id"), data.get("text")
    if not isinstance(client_id, str) or not CLIENT_ID.match(client_id):
        raise FrameError(CLOSE_MALFORMED, "message: id must be 8-64 letters, digits, - or _")
    if not isinstance(text, str):
        raise FrameError(CLOSE_MALFORMED, "message: text must be a string")
    text = text.strip()
    if not text:
        raise FrameError(CLOSE_MALFORMED, "message: text is empty")
    if len(text) > max_chars:
        raise FrameError(CLOSE_TOO_BIG, f"a message is at most {max_chars} characters")
    return ChatMessage(client_id, text)


def _message_id(value: object, reason: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value)) if isinstance(value, str) else _fail(reason)
    except ValueError:
        raise FrameError(CLOSE_MALFORMED, reason) from None


def _fail(reason: str) -> uuid.UUID:
    raise FrameError(CLOSE_MALFORMED, reason)


def _texts(data: dict[str, Any], limits: dict[str, int]) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, limit in limits.items():
        value = data.get(name)
        if value is None:
            continue
        if not isinstance(value, str) or len(value) > limit:
            raise FrameError(CLOSE_MALFORMED, f"{name} must be text of at most {limit} "
                                              "characters")
        if value.strip():
            found[name] = " ".join(value.split())
    return found
