"""Sending an SMS through Vonage's SMS API, errors mapped onto the hub's tree.

`POST {api_url}/sms/json`, form-encoded `api_key`, `api_secret`, `from`, `to` (numbers
without '+'), `text`, `client-ref`, `type=unicode` when the text is not GSM-7, and the
delivery receipt `callback`. Errors come as HTTP statuses or, inside a 200, as a per-part
`status` code with an `error-text`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aiohttp import ClientError, ClientSession

from channels.sms.segments import Encoding, count_segments
from hub.errors import BadInput, OperatorMustAct, RetryLater
from hub.model import DeliveryState, SendReceipt
from hub.settings import VonageSettings

MAX_ERROR_CHARS = 200
# SMS API `status` codes answered inside a 200. Throttled and internal errors pass; bad
# credentials or signature, a barred account and an empty balance are the operator's to fix,
# not a reason to fail the reply as if the number were wrong.
RETRY_STATUSES = frozenset({"1", "5"})
OPERATOR_STATUSES = frozenset({"4", "8", "9", "14", "32"})


async def send_sms(http: ClientSession, vonage: VonageSettings, *, to: str, body: str,
                   sender: str | None, client_ref: str, callback: str | None) -> SendReceipt:
    if not vonage.api_key or not vonage.api_secret:
        raise OperatorMustAct("sms.vonage.api_key and api_secret are not set")
    sender = (sender or vonage.from_number).removeprefix("+")
    if not sender:
        raise OperatorMustAct("sms.vonage.from_number is not set")
    form = {"api_key": vonage.api_key, "api_secret": vonage.api_secret.reveal(),
            "from": sender, "to": to.removeprefix("+"), "text": body, "client-ref": client_ref}
    if count_segments(body).encoding is Encoding.UCS2:
        form["type"] = "unicode"
    if callback:
        form["callback"] = callback
    try:
        async with http.post(f"{vonage.api_url.rstrip('/')}/sms/json", data=form) as response:
            text = await response.text()
            status = response.status
    except (ClientError, TimeoutError) as exc:
        raise RetryLater(f"Vonage unreachable: {type(exc).__name__}") from exc
    return _receipt(status, text)


def _receipt(status: int, text: str) -> SendReceipt:
    """Vonage's answer to one send: success, or the error it means for the hub."""
    if status == 429 or status >= 500:
        raise RetryLater(f"Vonage HTTP {status}")
    if status in (401, 403, 404):
        raise OperatorMustAct(f"Vonage HTTP {status}: check sms.vonage.api_url and the keys")
    if not 200 <= status < 300:
        raise BadInput(f"Vonage HTTP {status}")
    first = _first_message(text)
    code = str(first.get("status", ""))
    if code == "0":
        message_id = first.get("message-id")
        if not isinstance(message_id, str) or not message_id:
            raise RetryLater("Vonage answered without a message-id")
        # Accepted by the gateway: "sent" as far as the hub goes; the receipts say more.
        return SendReceipt(provider_id=message_id, state=DeliveryState.SENT)
    error = str(first.get("error-text") or "")[:MAX_ERROR_CHARS]
    reason = f"Vonage status {code}" + (f": {error}" if error else "")
    if code in RETRY_STATUSES:
        raise RetryLater(reason)
    if code in OPERATOR_STATUSES:
        raise OperatorMustAct(reason)
    raise BadInput(reason)


def _first_message(text: str) -> Mapping[str, Any]:
    """The answer for the first part, which decides: the hub tracks a reply by that part."""
    try:
        messages = json.loads(text).get("messages")
    except (ValueError, AttributeError):
        messages = None
    if not isinstance(messages, list) or not messages or not isinstance(messages[0], dict):
        raise RetryLater("Vonage answered without messages")
    return messages[0]
