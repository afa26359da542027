"""Twilio SMS: the inbound webhook `POST /webhooks/sms/twilio`, status callbacks
`POST /webhooks/sms/twilio/status`, and replies through the Messages API."""

from __future__ import annotations

from typing import ClassVar
from xml.sax.saxutils import escape

from aiohttp import web

from channels.base import HubServices
from channels.sms.opt_out import mark_keywords
from channels.sms.twilio_inbound import MAX_BODY_CHARS, parse_inbound
from channels.sms.twilio_send import send_sms
from channels.sms.twilio_signature import is_valid
from channels.sms.twilio_status import parse_status
from channels.sms.webhooks import (
    FORM_TYPE,
    announcement,
    forbidden,
    form_pairs,
    report_when_known,
)
from hub.clock import utcnow
from hub.errors import AnnouncementOnly, NotFound, OperatorMustAct, RetryLater
from hub.model import Channel, OutboundMessage, SendReceipt
from hub.request_body import receive_body

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response />'


def _twiml(reply: str | None) -> web.Response:
    text = EMPTY_TWIML if reply is None else (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f"<Response><Message>{escape(reply)}</Message></Response>")
    return web.Response(text=text, content_type="text/xml", charset="utf-8")
STATUS_PATH = "/webhooks/sms/twilio/status"
# A status callback can overtake the commit of the send it reports on by a few milliseconds.
UNKNOWN_SID_WAIT_S = (0.05, 0.2, 0.5, 1.0)


class TwilioSmsChannel:
    name: ClassVar[str] = "twilio_sms"
    channel: ClassVar[Channel] = Channel.SMS
    max_body_chars: ClassVar[int] = MAX_BODY_CHARS
    can_reply: ClassVar[bool] = True

    def __init__(self) -> None:
        self._services: HubServices | None = None
        self.received = 0
        self.sent = 0

    def __repr__(self) -> str:
        return (f"<TwilioSmsChannel started={self._services is not None} "
                f"received={self.received} sent={self.sent}>")

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/webhooks/sms/twilio", self.inbound),
                web.post(STATUS_PATH, self.status)]

    async def start(self, services: HubServices) -> None:
        if not services.settings.sms.twilio.auth_token:
            raise OperatorMustAct("twilio_sms is enabled but sms.twilio.auth_token is not set")
        self._services = services

    async def stop(self) -> None:
        self._services = None

    async def inbound(self, request: web.Request) -> web.Response:
        services, params = await self._signed_form(request)
        with services.ingestor.admission():
            contact = parse_inbound(params, default_region=services.settings.phone.default_region,
                                    now=utcnow())
            contact = mark_keywords(contact, services.settings.sms)
            try:
                await services.ingest(contact)
            except AnnouncementOnly as exc:
                # Nothing was kept; the reply in the answer costs no delivery row. An opt-out
                # (kept at the door) gets no text.
                if contact.details.get("sms_opt") == "out":
                    return _twiml(None)
                return _twiml(announcement(exc.notice, contact.phone, contact.body))
        self.received += 1
        return _twiml(None)

    async def status(self, request: web.Request) -> web.Response:
        services, params = await self._signed_form(request)
        report = parse_status(params)
        if await report_when_known(services.deliveries, self.name, report, UNKNOWN_SID_WAIT_S):
            return web.Response(status=204)
        raise NotFound("no reply was sent with this MessageSid")

    async def send(self, message: OutboundMessage) -> SendReceipt:
        services = self._services
        if services is None:
            raise RetryLater("twilio_sms is not started")
        public = services.settings.http.public_url.rstrip("/")
        receipt = await send_sms(services.http, services.settings.sms.twilio,
                                 to=message.recipient, body=message.body,
                                 sender=message.thread.get("from"),
                                 status_callback=public + STATUS_PATH if public else None)
        self.sent += 1
        return receipt

    async def _signed_form(self, request: web.Request) -> tuple[HubServices, dict[str, str]]:
        services = self._services
        if services is None:
            raise RetryLater("the hub is starting")
        if request.content_type != FORM_TYPE:
            raise web.HTTPUnsupportedMediaType(text=f"Twilio posts {FORM_TYPE}")
        params = form_pairs(await receive_body(request))
        token = services.settings.sms.twilio.auth_token.reveal()
        signature = request.headers.get("X-Twilio-Signature", "")
        if not is_valid(token, _called_url(request, services), params, signature):
            raise forbidden("X-Twilio-Signature invalid")
        return services, dict(params)


def _called_url(request: web.Request, services: HubServices) -> str:
    """The URL as Twilio called it: behind a TLS proxy the hub sees another one."""
    public = services.settings.http.public_url.rstrip("/")
    return public + request.path_qs if public else str(request.url)
