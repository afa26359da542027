"""SMS channels. Twilio's inbound webhook: `POST /webhooks/sms/twilio`.

Replies, delivery receipts, Vonage and the generic gateway come with the rest of the SMS
issue.
"""

from __future__ import annotations

import json
from typing import ClassVar
from urllib.parse import parse_qsl

from aiohttp import web

from channels.base import HubServices
from channels.sms.twilio_inbound import MAX_BODY_CHARS, parse_inbound
from channels.sms.twilio_signature import is_valid
from hub.clock import utcnow
from hub.errors import BadInput, OperatorMustAct, RetryLater
from hub.model import Channel
from hub.request_body import receive_body

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response />'
FORM_TYPE = "application/x-www-form-urlencoded"


class TwilioSmsChannel:
    name: ClassVar[str] = "twilio_sms"
    channel: ClassVar[Channel] = Channel.SMS
    max_body_chars: ClassVar[int] = MAX_BODY_CHARS
    can_reply: ClassVar[bool] = False  # sending through Twilio's Messages API comes next

    def __init__(self) -> None:
        self._services: HubServices | None = None

    def __repr__(self) -> str:
        return f"<TwilioSmsChannel started={self._services is not None}>"

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/webhooks/sms/twilio", self.inbound)]

    async def start(self, services: HubServices) -> None:
        if not services.settings.sms.twilio.auth_token:
            raise OperatorMustAct("twilio_sms is enabled but sms.twilio.auth_token is not set")
        self._services = services

    async def stop(self) -> None:
        self._services = None

    async def inbound(self, request: web.Request) -> web.Response:
        services = self._services
        if services is None:
            raise RetryLater("the hub is starting")
        if request.content_type != FORM_TYPE:
            raise web.HTTPUnsupportedMediaType(text=f"Twilio posts {FORM_TYPE}")
        raw = await receive_body(request)
        try:
            params = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, errors="strict")
        except UnicodeDecodeError as exc:
            raise BadInput("the body is not valid UTF-8") from exc
        token = services.settings.sms.twilio.auth_token.reveal()
        signature = request.headers.get("X-Twilio-Signature", "")
        if not is_valid(token, _called_url(request, services), params, signature):
            raise web.HTTPForbidden(text=json.dumps({"error": "X-Twilio-Signature invalid"}),
                                    content_type="application/json")
        with services.ingestor.admission():
            contact = parse_inbound(dict(params),
                                    default_region=services.settings.phone.default_region,
                                    now=utcnow())
            await services.ingest(contact)
        return web.Response(text=EMPTY_TWIML, content_type="text/xml", charset="utf-8")


def _called_url(request: web.Request, services: HubServices) -> str:
    """The URL as Twilio called it: behind a TLS proxy the hub sees another one."""
    public = services.settings.http.public_url.rstrip("/")
    return public + request.path_qs if public else str(request.url)
