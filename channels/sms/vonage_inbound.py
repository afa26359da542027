"""Pure parsing of Vonage's inbound-SMS webhook (SMS API) into a `VonageInbound`.

Vonage calls the webhook with GET query parameters, a POST form or a POST JSON body,
as configured; the handler flattens whichever it got into one str mapping. Fields:
`msisdn` (sender, E.164 without '+'), `to` (our virtual number), `messageId`, `type`
(text | unicode | binary), `text`, `keyword`, `message-timestamp` (UTC
'YYYY-MM-DD HH:MM:SS'), and for one part of a long message `concat=true`, `concat-ref`,
`concat-total`, `concat-part`. Signed webhooks add `timestamp`, `nonce` and `sig`
(see vonage_signature).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from channels.sms.concat import ConcatPart
from hub.errors import BadInput
from hub.phone import to_e164
from hub.text import is_storable

MAX_ID_CHARS = 100
MAX_TEXT_CHARS = 1600  # one part is far shorter; this only bounds what a caller can post
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
TEXT_TYPES = frozenset({"text", "unicode"})


@dataclass(frozen=True, slots=True)
class VonageInbound:
    """One inbound SMS, or one part of a long one when `concat` is set.

    `phone` is the sender in E.164; `to` is our number as Vonage wrote it (digits, no '+').
    `received_at` is when Vonage first pushed the message (UTC), never later than `now`.
    """

    message_id: str
    phone: str
    to: str
    text: str
    received_at: datetime
    concat: ConcatPart | None = None


def parse_inbound(params: Mapping[str, str], *, default_region: str,
                  now: datetime) -> VonageInbound:
    """The inbound SMS (or part) in `params`; BadInput names the field that is wrong."""
    message_id = params.get("messageId", "")
    if not message_id or len(message_id) > MAX_ID_CHARS:
        raise BadInput("messageId is missing or too long", {"messageId": "required"})
    kind = params.get("type", "")
    if kind == "binary":
        raise BadInput("binary SMS carry no text to show a dispatcher", {"type": "binary"})
    if kind not in TEXT_TYPES:
        raise BadInput("type must be text or unicode", {"type": "invalid"})
    text = params.get("text")
    if text is None:
        raise BadInput("text is missing", {"text": "required"})
    if len(text) > MAX_TEXT_CHARS or not is_storable(text):
        raise BadInput("text is too long or not storable", {"text": "invalid"})
    to = params.get("to", "")
    if not to or len(to) > MAX_ID_CHARS:
        raise BadInput("to is missing or too long", {"to": "required"})
    phone = _sender(params.get("msisdn", ""), default_region)
    # A gateway clock ahead of ours must not put a message in the future of the queue.
    pushed_at = parse_timestamp(params, "message-timestamp")
    received_at = now if pushed_at is None else min(pushed_at, now)
    return VonageInbound(message_id=message_id, phone=phone, to=to, text=text,
                         received_at=received_at, concat=_concat(params))


def parse_timestamp(params: Mapping[str, str], name: str) -> datetime | None:
    """Vonage's UTC 'YYYY-MM-DD HH:MM:SS' field `name`, or None when it is absent."""
    value = params.get(name)
    if value is None:
        return None
    try:
        return datetime.strptime(value, TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError as exc:
        raise BadInput(f"{name} is not 'YYYY-MM-DD HH:MM:SS'", {name: "invalid"}) from exc


def _sender(msisdn: str, default_region: str) -> str:
    if not msisdn:
        raise BadInput("msisdn is missing", {"msisdn": "required"})
    digits = msisdn.removeprefix("+")  # Vonage writes none, a relaying proxy might
    if not (digits.isascii() and digits.isdigit()):
        raise BadInput("msisdn is not an international number", {"msisdn": "invalid"})
    try:
        return to_e164("+" + digits, default_region)
    except BadInput as exc:
        raise BadInput(f"msisdn: {exc.reason}", {"msisdn": "invalid"}) from exc


def _concat(params: Mapping[str, str]) -> ConcatPart | None:
    names = ("concat-ref", "concat-total", "concat-part")
    if params.get("concat", "").lower() != "true" and not any(n in params for n in names):
        return None
    missing = [name for name in names if not params.get(name)]
    if missing:
        raise BadInput(f"a message part without {', '.join(missing)}",
                       dict.fromkeys(missing, "required"))
    return ConcatPart(ref=params["concat-ref"], total=_count(params, "concat-total"),
                      part=_count(params, "concat-part"))


def _count(params: Mapping[str, str], name: str) -> int:
    value = params[name]
    # int() would also take ' 3', '1_0' and non-ASCII digits
    if not (value.isascii() and value.isdigit()) or len(value) > 3:
        raise BadInput(f"{name} is not a number", {name: "invalid"})
    return int(value)
