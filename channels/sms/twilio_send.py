"""Sending an SMS through Twilio's Messages API, errors mapped onto the hub's tree.

`POST {api_url}/2010-04-01/Accounts/{AccountSid}/Messages.json`, form-encoded `To`, `From`
(or `MessagingServiceSid`), `Body`, `StatusCallback`; HTTP Basic auth with the account SID
and auth token. 201 answers the message resource (`sid`, `status`); errors are JSON with
Twilio's `code` and `message`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping

from aiohttp import ClientError, ClientSession

from hub.errors import BadInput, OperatorMustAct, RetryLater
from hub.model import DeliveryState, SendReceipt
from hub.settings import TwilioSettings

MAX_ERROR_CHARS = 200


async def send_sms(http: ClientSession, twilio: TwilioSettings, *, to: str, body: str,
                   sender: str | None, status_callback: str | None) -> SendReceipt:
    form: dict[str, str] = {"To": to, "Body": body}
    if twilio.messaging_service_sid:
        form["MessagingServiceSid"] = twilio.messaging_service_sid
    elif sender or twilio.from_number:
        form["From"] = sender or twilio.from_number
    else:
        raise OperatorMustAct("sms.twilio.from_number or messaging_service_sid is not set")
    if status_callback:
        form["StatusCallback"] = status_callback
    url = (f"{twilio.api_url.rstrip('/')}/2010-04-01/Accounts/{twilio.account_sid}"
           "/Messages.json")
    credentials = f"{twilio.account_sid}:{twilio.auth_token.reveal()}".encode()
    auth = {"Authorization": "Basic " + base64.b64encode(credentials).decode("ascii")}
    try:
        async with http.post(url, data=form, headers=auth) as response:
            text = await response.text()
            status = response.status
    except (ClientError, TimeoutError) as exc:
        raise RetryLater(f"Twilio unreachable: {type(exc).__name__}") from exc
    answer = _json(text)
    if status in (200, 201):
        sid = answer.get("sid")
        if not isinstance(sid, str):
            raise RetryLater("Twilio answered without a message sid")
        # Accepted by the gateway: "sent" as far as the hub goes; the callbacks say more.
        return SendReceipt(provider_id=sid, state=DeliveryState.SENT)
    reason = _reason(status, answer)
    if status in (401, 403):
        raise OperatorMustAct(f"Twilio refused the credentials: {reason}")
    if status == 429 or status >= 500:
        raise RetryLater(reason)
    raise BadInput(reason)


def _json(text: str) -> Mapping[str, object]:
    try:
        found = json.loads(text)
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def _reason(status: int, answer: Mapping[str, object]) -> str:
    code, message = answer.get("code"), str(answer.get("message") or "")[:MAX_ERROR_CHARS]
    return f"Twilio {status}" + (f" error {code}" if code else "") + (
        f": {message}" if message else "")
