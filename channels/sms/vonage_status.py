"""Pure parsing of Vonage's delivery receipt (SMS API DLR) into a `DeliveryUpdate`.

Vonage sends one receipt per *segment* of a long message, each with the message-id that
segment got when it was sent; fields: `messageId`, `status`, `err-code` ("0" when
delivered), `msisdn` (the recipient), `to` (our sender id), `network-code`, `price`,
`scts` (carrier time 'YYMMDDHHMM', zone unstated), `message-timestamp` (UTC
'YYYY-MM-DD HH:MM:SS', when Vonage pushed the receipt), `client-ref`, and when signed
`timestamp`, `nonce`, `sig`. Like the inbound webhook it may come as GET, form or JSON.
"""

from __future__ import annotations

from collections.abc import Mapping

from channels.sms.delivery import DeliveryState, DeliveryUpdate
from channels.sms.vonage_inbound import parse_timestamp
from hub.errors import BadInput

MAX_ID_CHARS = 100

STATES: dict[str, DeliveryState] = {
    "accepted": DeliveryState.SENT,  # accepted by the carrier, not yet delivered
    "buffered": DeliveryState.SENT,  # the carrier holds it for a later attempt
    "unknown": DeliveryState.SENT,  # the carrier gave no usable receipt
    "delivered": DeliveryState.DELIVERED,
    "expired": DeliveryState.FAILED,
    "failed": DeliveryState.FAILED,
    "rejected": DeliveryState.FAILED,
}


def parse_status(params: Mapping[str, str]) -> DeliveryUpdate:
    """The delivery update in one receipt; BadInput names the field that is wrong."""
    message_id = params.get("messageId", "")
    if not message_id or len(message_id) > MAX_ID_CHARS:
        raise BadInput("messageId is missing", {"messageId": "required"})
    status = params.get("status", "")
    if status not in STATES:
        raise BadInput(f"status {status[:32]!r} is not a Vonage receipt status",
                       {"status": "invalid"})
    code = params.get("err-code", "0") or "0"
    if not (code.isascii() and code.isdigit() and len(code) <= 10):
        raise BadInput("err-code is not a number", {"err-code": "invalid"})
    state = STATES[status]
    reason = None
    if state is DeliveryState.FAILED or status == "unknown":
        reason = f"{status}, err-code {code}"
    at = parse_timestamp(params, "message-timestamp")
    return DeliveryUpdate(provider_id=message_id, state=state, reason=reason, at=at)
