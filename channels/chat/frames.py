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
The hub also closes with 4408 (no hello within 10 s), 4429 (over the frame or message rate),
1011 (a store failed: reconnect) and 1001 (shutdown).

Every close carries a stable code (hub.error_codes) as its reason, never words: `CLOSES`
holds each with its close code. Every refusal in a frame (a `nack`) carries `code` and
`params` beside the English `reason`. The widget says the code in the passenger's language
from its words (`widget.error.<code>` in the passenger catalogue), with a general sentence
for a code it has no words for; `WIDGET_CODES` are the codes it must have words for.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

from hub import catalogue
from hub.error_codes import ErrorCode

CLOSE_UNSUPPORTED = 1003  # binary frames: the protocol is JSON text
CLOSE_TOO_BIG = 1009
CLOSE_MALFORMED = 4400  # private use: a frame the hub cannot understand
CLOSE_TOO_MANY = 4429  # private use: over the message rate
CLOSE_NO_HELLO = 4408  # private use: no hello in time
CLOSE_RESTART = 1012  # the hub is restarting or lost its fan-out: reconnect and catch up
CLOSE_RETRY = 1011  # a store failed: reconnect
CLOSE_GOING_AWAY = 1001  # the hub stops

# Each close reason with its close code.
CLOSES: dict[ErrorCode, int] = {
    ErrorCode.CHAT_FRAME_NOT_TEXT: CLOSE_UNSUPPORTED,
    ErrorCode.CHAT_MESSAGE_TOO_LONG: CLOSE_TOO_BIG,
    ErrorCode.CHAT_FRAME_NOT_OBJECT: CLOSE_MALFORMED,
    ErrorCode.CHAT_FRAME_UNKNOWN: CLOSE_MALFORMED,
    ErrorCode.CHAT_FRAME_INVALID: CLOSE_MALFORMED,
    ErrorCode.CHAT_HELLO_FIRST: CLOSE_MALFORMED,
    ErrorCode.CHAT_HELLO_TWICE: CLOSE_MALFORMED,
    ErrorCode.CHAT_HELLO_LATE: CLOSE_NO_HELLO,
    ErrorCode.CHAT_FRAMES_TOO_MANY: CLOSE_TOO_MANY,
    ErrorCode.CHAT_MESSAGES_TOO_MANY: CLOSE_TOO_MANY,
    ErrorCode.CHAT_INTERRUPTED: CLOSE_RETRY,
    ErrorCode.HUB_STOPPING: CLOSE_GOING_AWAY,  # hub.app closes every socket at shutdown
}
# The refusals a nack carries that the widget shows (a nack with retry is resent silently).
NACK_CODES = frozenset({ErrorCode.ANNOUNCEMENT_ONLY.value, ErrorCode.MESSAGE_UNSTORABLE.value,
                        ErrorCode.BAD_INPUT.value})
WIDGET_CODES = frozenset(code.value for code in CLOSES) | NACK_CODES

CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
LANGUAGES = catalogue.LANGUAGES
PRECHAT_LIMITS = {"name": 200, "phone": 40, "email": 320, "pickup_address": 300,
                  "pickup_time": 40}


class FrameError(Exception):
    """A frame the hub refuses: `error` is the close reason, `code` the close code, `reason`
    the English detail (for the hub's own eyes: the widget gets the code only)."""

    def __init__(self, error: ErrorCode, reason: str = "") -> None:
        super().__init__(reason or error.of().english())
        self.error = error
        self.code = CLOSES[error]
        self.reason = str(self)


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
        raise FrameError(ErrorCode.CHAT_FRAME_NOT_OBJECT) from None
    if not isinstance(data, dict):
        raise FrameError(ErrorCode.CHAT_FRAME_NOT_OBJECT)
    kind = data.get("type")
    if kind == "hello":
        return _hello(data)
    if kind == "message":
        return _message(data, max_chars)
    if kind == "typing":
        if not isinstance(data.get("on"), bool):
            raise FrameError(ErrorCode.CHAT_FRAME_INVALID, "typing needs on: true or false")
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
    raise FrameError(ErrorCode.CHAT_FRAME_UNKNOWN, f"unknown frame type {str(kind)[:20]!r}")


def _hello(data: dict[str, Any]) -> Hello:
    token = data.get("token")
    if token is not None and not isinstance(token, str):
        raise FrameError(ErrorCode.CHAT_FRAME_INVALID, "hello: token must be a string or null")
    last_seen = data.get("last_seen")
    seen = None if last_seen is None else _message_id(last_seen, "hello: bad last_seen")
    lang = data.get("lang")
    return Hello(token, seen, lang if lang in LANGUAGES else "fi")


def _message(data: dict[str, Any], max_chars: int) -> ChatMessage:
    client_id, text = data.get("id"), data.get("text")
    if not isinstance(client_id, str) or not CLIENT_ID.match(client_id):
        raise FrameError(ErrorCode.CHAT_FRAME_INVALID,
                         "message: id must be 8-64 letters, digits, - or _")
    if not isinstance(text, str):
        raise FrameError(ErrorCode.CHAT_FRAME_INVALID, "message: text must be a string")
    text = text.strip()
    if not text:
        raise FrameError(ErrorCode.CHAT_FRAME_INVALID, "message: text is empty")
    if len(text) > max_chars:
        raise FrameError(ErrorCode.CHAT_MESSAGE_TOO_LONG,
                         f"a message is at most {max_chars} characters")
    return ChatMessage(client_id, text)


def _message_id(value: object, reason: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value)) if isinstance(value, str) else _fail(reason)
    except ValueError:
        raise FrameError(ErrorCode.CHAT_FRAME_INVALID, reason) from None


def _fail(reason: str) -> uuid.UUID:
    raise FrameError(ErrorCode.CHAT_FRAME_INVALID, reason)


def _texts(data: dict[str, Any], limits: dict[str, int]) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, limit in limits.items():
        value = data.get(name)
        if value is None:
            continue
        if not isinstance(value, str) or len(value) > limit:
            raise FrameError(ErrorCode.CHAT_FRAME_INVALID,
                             f"{name} must be text of at most {limit} characters")
        if value.strip():
            found[name] = " ".join(value.split())
    return found
