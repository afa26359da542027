"""The generic SMS gateway (its format is in channels/sms/generic_inbound.py): inbound SMS at
`POST /webhooks/sms/generic`, delivery reports at `POST /webhooks/sms/generic/status`, both
JSON signed with X-TaxiConnect-Signature; replies POSTed as JSON to `sms.generic.send_url`
with the gateway's bearer token.

A delivery report finds its delivery by the id the gateway answered when it took the SMS
(the delivery's provider id); a gateway that answered no id is known by our message_id.
A report for an id the hub never sent is answered 404, which tells the gateway not to send
it again.
"""

from __future__ import annotations

import json
import time
from typing import ClassVar

from aiohttp import ClientError, web

from channels.base import HubServices
from channels.sms.generic_inbound import (
    HEADER,
    MAX_ERROR_CHARS,
    MAX_ID_CHARS,
    MAX_TEXT_CHARS,
    parse_inbound,
    parse_status,
    verify,
)
from channels.sms.opt_out import mark_keywords
from channels.sms.webhooks import JSON_TYPE, forbidden, report_when_known, unsupported_media
from hub.clock import utcnow
from hub.errors import BadInput, NotFound, OperatorMustAct, RetryLater
from hub.model import Channel, DeliveryState, InboundContact, OutboundMessage, SendReceipt
from hub.request_body import read_json_object, receive_body
from hub.text import is_storable

GATEWAY = "generic"
# A report can overtake the commit of the send it reports on by a few milliseconds.
UNKNOWN_ID_WAIT_S = (0.05, 0.2, 0.5, 1.0)


class GenericSmsChannel:
    name: ClassVar[str] = "generic_sms"
    channel: ClassVar[Channel] = Channel.SMS
    max_body_chars: ClassVar[int] = MAX_TEXT_CHARS
    can_reply: ClassVar[bool] = True

    def __init__(self) -> None:
        self._services: HubServices | None = None
        self.received = 0
        self.sent = 0

    def __repr__(self) -> str:
        return (f"<GenericSmsChannel started={self._services is not None} "
                f"received={self.received} sent={self.sent}>")

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/webhooks/sms/generic", self.inbound),
                web.post("/webhooks/sms/generic/status", self.status)]

    async def start(self, services: HubServices) -> None:
        if not _secrets(services):
            raise OperatorMustAct("generic_sms is enabled but sms.generic.signing_secret is "
                                  "not set")
        self._services = services

    async def stop(self) -> None:
        self._services = None

    async def inbound(self, request: web.Request) -> web.Response:
        services = await self._signed(request)
        with services.ingestor.admission():
            sms = parse_inbound(await read_json_object(request),
                                default_region=services.settings.phone.default_region,
                                now=utcnow())
            contact = InboundContact(
                channel=Channel.SMS, idempotency_key="generic:" + sms.message_id,
                received_at=sms.received_at, body=sms.text, phone=sms.phone,
                details={"gateway": GATEWAY, "from": sms.phone, "to": sms.to})
            result = await services.ingest(mark_keywords(contact, services.settings.sms))
        if not result.duplicate:
            self.received += 1
        return web.json_response({"status": "stored", "reference": result.reference})

    async def status(self, request: web.Request) -> web.Response:
        services = await self._signed(request)
        update = parse_status(await read_json_object(request))
        if await report_when_known(services.deliveries, self.name, update, UNKNOWN_ID_WAIT_S):
            return web.json_response({"status": "recorded"})
        raise NotFound("no SMS was sent with this message_id")

    async def send(self, message: OutboundMessage) -> SendReceipt:
        services = self._started()
        generic = services.settings.sms.generic
        if not generic.send_url or not generic.send_token:
            raise OperatorMustAct("sms.generic.send_url and send_token are not set")
        payload = {"message_id": str(message.delivery_id), "to": message.recipient,
                   "text": message.body}
        sender = message.thread.get("from") or generic.from_number
        if sender:
            payload["from"] = sender
        auth = {"Authorization": f"Bearer {generic.send_token.reveal()}"}
        try:
            async with services.http.post(generic.send_url, json=payload,
                                          headers=auth) as response:
                text = await response.text()
                status = response.status
        except (ClientError, TimeoutError) as exc:
            raise RetryLater(f"the SMS gateway is unreachable: {type(exc).__name__}") from exc
        receipt = _receipt(status, text, fallback_id=payload["message_id"])
        self.sent += 1
        return receipt

    def _started(self) -> HubServices:
        if self._services is None:
            raise RetryLater("generic_sms is not started")
        return self._services

    async def _signed(self, request: web.Request) -> HubServices:
        """The services, once the body is known to come from the gateway (403 otherwise)."""
        services = self._started()
        if request.content_type != JSON_TYPE:
            raise unsupported_media(f"send {JSON_TYPE}")
        raw = await receive_body(request)
        if not verify(raw, request.headers.get(HEADER, ""), _secrets(services), time.time()):
            raise forbidden(f"{HEADER} is missing, wrong or too old")
        return services


def _secrets(services: HubServices) -> list[str]:
    """The signing secrets: two, comma-separated, while the gateway rotates them."""
    return [s.strip() for s in services.settings.sms.generic.signing_secret.reveal().split(",")
            if s.strip()]


def _receipt(status: int, text: str, *, fallback_id: str) -> SendReceipt:
    """The gateway's answer to one send: success, or the error it means for the hub."""
    if 200 <= status < 300:
        found = _json(text).get("id")
        provider_id = found if isinstance(found, str) and 0 < len(found) <= MAX_ID_CHARS \
            else fallback_id
        return SendReceipt(provider_id=provider_id, state=DeliveryState.SENT)
    error = _error_text(text)
    reason = f"SMS gateway HTTP {status}" + (f": {error}" if error else "")
    if status in (401, 403, 404):  # the token or the URL is wrong, not the message
        raise OperatorMustAct(reason)
    if 400 <= status < 500 and status != 429:
        raise BadInput(reason)
    raise RetryLater(reason)


def _json(text: str) -> dict[str, object]:
    try:
        found = json.loads(text)
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def _error_text(text: str) -> str:
    error = _json(text).get("error")
    found = error if isinstance(error, str) else text.strip()
    found = found[:MAX_ERROR_CHARS]
    return found if is_storable(found) else ""
