"""The generic SMS gateway format, for any gateway that is not Twilio or Vonage.

A gateway (for example a Finnish operator's) integrates with TaxiConnect through three
HTTP calls, all JSON in UTF-8. The TaxiConnect operator gives the gateway an inbound URL,
a delivery-report URL, and a shared signing secret; the gateway gives TaxiConnect its
base URL and a bearer token.

1. An SMS from a passenger: the gateway POSTs to the inbound URL

    Content-Type: application/json
    X-TaxiConnect-Signature: t=…,v1=…        (see "The signature" below)

    {"message_id":"gw-000123","from":"+358401234567","to":"+358451234567","text":"Taksi Kamppiin"}

    message_id   required  the gateway's own id for this SMS, at most 100 characters. A
                           retry must carry the same id: TaxiConnect stores it only once.
    from         required  the passenger's number, in E.164 ("+358401234567"); a national
                           number ("0401234567") is read in the hub's default country.
    to           required  the number the passenger wrote to, as the gateway knows it.
    text         required  the whole message, at most 1600 characters; put the parts of
                           a long SMS together before sending it.
    received_at  optional  when the gateway received the SMS, RFC 3339 with an offset
                           ("2024-06-10T08:15:00Z", "2024-06-10T11:15:00+03:00").
                           Without it, the time TaxiConnect received the request.

    Other fields are ignored, so a gateway may send more. TaxiConnect answers 2xx when the
    SMS is stored (also for a repeated message_id), 4xx when the request is wrong (the
    JSON body says why; do not send the same request again), and 5xx when it cannot take
    the SMS now: retry after 5xx, a timeout or a lost connection, with growing pauses.

2. A delivery report for an SMS TaxiConnect sent: the gateway POSTs to the delivery-report
   URL, signed the same way

    {"message_id":"9b2f6c1e-…","status":"delivered"}
    {"message_id":"9b2f6c1e-…","status":"failed","error":"absent subscriber"}

    message_id   required  the message_id TaxiConnect sent with the SMS (preferred), or
                           the id the gateway answered when it accepted it.
    status       required  "sent": handed to the mobile network; "delivered": the phone
                           received it; "failed": it will not be delivered.
    error        optional  why it failed, in the gateway's words (at most 200 characters).

    Reports may come in any order and more than once; a late "sent" never undoes
    "delivered".

3. Sending an SMS: TaxiConnect POSTs to {gateway base URL}/send

    Authorization: Bearer <token>
    Content-Type: application/json

    {"message_id":"9b2f6c1e-…","to":"+358401234567","text":"Taksi ABC-123 saapuu 5 min."}

    The gateway answers 202 {"id": "<its id for the SMS>"} once it has taken the SMS.
    TaxiConnect retries after 429, 5xx and timeouts, so the same message_id sent twice
    must send only one SMS and answer the same id. Other 4xx answers are not retried.

The signature. X-TaxiConnect-Signature is `t=<unix seconds>,v1=<hex>` where

    v1 = lower-case hex of HMAC-SHA256(key = shared secret, message = "<t>." + body)

over the exact bytes of the body as sent. With the secret "whsec_example" and t=1718007300
(2024-06-10T08:15:00Z), the first example body above is sent with the header value

    t=1718007300,v1=ffe111871f5f6a423bf77b3bd28defbcb6887d342f724812cc748c4e9fbcf0aa

TaxiConnect refuses a request whose t is more than 300 seconds away from its own clock, so
a recorded request cannot be replayed later.
To change the secret without downtime, send one v1= per secret
(`t=…,v1=<with old>,v1=<with new>`); a request is accepted when any v1 matches.
(hub.signature holds the scheme; the hub's outbound webhooks are signed the same way.)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from channels.sms.delivery import DeliveryState, DeliveryUpdate
from hub.errors import BadInput
from hub.phone import to_e164
from hub.signature import HEADER, TOLERANCE_S, sign, verify
from hub.text import is_storable

# The signature scheme is the hub's (hub.signature), named here too for the gateway's side.
__all__ = ["HEADER", "TOLERANCE_S", "GenericInbound", "parse_inbound", "parse_status",
           "sign", "verify"]

MAX_ID_CHARS = 100
MAX_TEXT_CHARS = 1600
MAX_ERROR_CHARS = 200
STATES = {"sent": DeliveryState.SENT, "delivered": DeliveryState.DELIVERED,
          "failed": DeliveryState.FAILED}


@dataclass(frozen=True, slots=True)
class GenericInbound:
    """One SMS from a passenger: `phone` in E.164, `received_at` in UTC."""

    message_id: str
    phone: str
    to: str
    text: str
    received_at: datetime


def parse_inbound(obj: Mapping[str, Any], *, default_region: str,
                  now: datetime) -> GenericInbound:
    """The SMS in a decoded inbound body; BadInput names the field that is wrong."""
    if not isinstance(obj, Mapping):
        raise BadInput("the body must be a JSON object")
    message_id = _text(obj, "message_id", MAX_ID_CHARS)
    sender = _text(obj, "from", MAX_ID_CHARS)
    to = _text(obj, "to", MAX_ID_CHARS)
    text = _text(obj, "text", MAX_TEXT_CHARS, allow_empty=True)
    try:
        phone = to_e164(sender, default_region)
    except BadInput as exc:
        raise BadInput(f"from: {exc.reason}", {"from": "invalid"}) from exc
    received_at = now
    if obj.get("received_at") is not None:
        # A gateway clock ahead of ours must not put a message in the future of the queue.
        received_at = min(_rfc3339(obj["received_at"]), now)
    return GenericInbound(message_id=message_id, phone=phone, to=to, text=text,
                          received_at=received_at)


def parse_status(obj: Mapping[str, Any]) -> DeliveryUpdate:
    """The delivery report in a decoded body, as a `DeliveryUpdate`."""
    if not isinstance(obj, Mapping):
        raise BadInput("the body must be a JSON object")
    message_id = _text(obj, "message_id", MAX_ID_CHARS)
    status = obj.get("status")
    if status not in STATES:
        raise BadInput("status must be sent, delivered or failed", {"status": "invalid"})
    error = None
    if obj.get("error") is not None:
        error = _text(obj, "error", MAX_ERROR_CHARS, allow_empty=True) or None
    state = STATES[status]
    reason = error if error is not None else ("failed" if state is DeliveryState.FAILED
                                              else None)
    return DeliveryUpdate(provider_id=message_id, state=state, reason=reason)


def _text(obj: Mapping[str, Any], name: str, max_chars: int, *,
          allow_empty: bool = False) -> str:
    value = obj.get(name)
    if value is None or (value == "" and not allow_empty):
        raise BadInput(f"{name} is missing", {name: "required"})
    if not isinstance(value, str):
        raise BadInput(f"{name} must be a string", {name: "invalid"})
    if len(value) > max_chars or not is_storable(value):
        raise BadInput(f"{name} is longer than {max_chars} characters or not storable",
                       {name: "invalid"})
    return value


def _rfc3339(value: Any) -> datetime:
    if isinstance(value, str) and "T" in value.upper():
        try:
            parsed = datetime.fromisoformat(value.upper())  # RFC 3339 allows 't' and 'z'
        except ValueError:
            pass
        else:
            if parsed.tzinfo is not None:
                return parsed.astimezone(UTC)
    raise BadInput("received_at is not an RFC 3339 time with an offset",
                   {"received_at": "invalid"})
