"""Pure parsing of Twilio's status callback for an outbound message into a `DeliveryUpdate`.

Twilio POSTs a form to the message's StatusCallback URL on every status change after the
first (no callback for the initial queued/accepted/scheduled): `MessageSid` (and the
deprecated `SmsSid`), `MessageStatus` (and `SmsStatus`), `AccountSid`, `From`, `To`,
`ApiVersion`, `ErrorCode` when delivery failed, and on delivered/undelivered SMS sometimes
`RawDlrDoneDate`. That last one has no time zone (it varies by carrier), so the update's
`at` is left None. Twilio adds parameters without notice; unknown ones are ignored here.
"""

from __future__ import annotations

from collections.abc import Mapping

from channels.sms.delivery import DeliveryState, DeliveryUpdate
from hub.errors import BadInput

MAX_SID_CHARS = 64
MAX_ERROR_MESSAGE_CHARS = 200

STATES: dict[str, DeliveryState] = {
    "queued": DeliveryState.QUEUED,
    "accepted": DeliveryState.QUEUED,  # by a Messaging Service, no sender chosen yet
    "scheduled": DeliveryState.QUEUED,
    "sending": DeliveryState.QUEUED,  # Twilio is still handing it to the carrier
    "sent": DeliveryState.SENT,
    "delivered": DeliveryState.DELIVERED,
    "read": DeliveryState.DELIVERED,  # read receipts (WhatsApp, RCS) imply delivery
    "undelivered": DeliveryState.FAILED,
    "failed": DeliveryState.FAILED,
    "canceled": DeliveryState.FAILED,  # a scheduled message canceled before sending
}


def parse_status(params: Mapping[str, str]) -> DeliveryUpdate:
    """The delivery update in one status callback; BadInput names the field that is wrong."""
    sid = params.get("MessageSid") or params.get("SmsSid") or ""
    if not sid or len(sid) > MAX_SID_CHARS:
        raise BadInput("MessageSid is missing", {"MessageSid": "required"})
    status = params.get("MessageStatus") or params.get("SmsStatus") or ""
    if status not in STATES:
        raise BadInput(f"MessageStatus {status[:32]!r} is not an outbound message status",
                       {"MessageStatus": "invalid"})
    code = params.get("ErrorCode", "")
    if code and not (code.isascii() and code.isdigit() and len(code) <= 10):
        raise BadInput("ErrorCode is not a number", {"ErrorCode": "invalid"})
    state = STATES[status]
    reason = None
    if state is DeliveryState.FAILED:
        reason = status + (f", error {code}" if code else "")
        message = params.get("ErrorMessage", "")[:MAX_ERROR_MESSAGE_CHARS]
        if message:
            reason += f": {message}"
    return DeliveryUpdate(provider_id=sid, state=state, reason=reason)
