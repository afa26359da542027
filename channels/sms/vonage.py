"""Vonage SMS (the SMS API): inbound SMS at `/webhooks/sms/vonage`, delivery receipts at
`/webhooks/sms/vonage/dlr`, and replies through `POST {api_url}/sms/json` (vonage_send.py).

Vonage calls both webhooks with GET query parameters, a POST form or a POST JSON body, as
the account is set up; each is flattened into one str mapping for the pure parsers. With
`sms.vonage.signature_secret` set, every call must carry a valid `sig` (403 otherwise).

A long SMS arrives as one webhook per part, in any order. Each part is kept in the channel
state before it is acknowledged; the part that completes its set makes it one message. A
sweeper delivers sets whose parts stopped coming (`sms.concat_wait_s`) with what arrived,
each gap marked, details `incomplete: "true"` and `parts: "2/3"`.

Vonage sends one delivery receipt per *part* of a long reply, each with that part's own
message-id, but a delivery keeps one provider id: the first part's. Its receipt moves the
delivery's state; receipts for the other parts match nothing and are answered 200 and
dropped, since Vonage keeps retrying any other answer.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import datetime, timedelta
from typing import Any, ClassVar

from aiohttp import web

from channels.base import HubServices
from channels.sms.concat import ConcatPart, assemble
from channels.sms.opt_out import mark_keywords
from channels.sms.vonage_inbound import MAX_TEXT_CHARS, VonageInbound, parse_inbound
from channels.sms.vonage_send import send_sms
from channels.sms.vonage_signature import METHODS, is_valid
from channels.sms.vonage_status import parse_status
from channels.sms.webhooks import (
    FORM_TYPE,
    JSON_TYPE,
    forbidden,
    form_pairs,
    report_when_known,
    unsupported_media,
)
from hub.channel_state import SmsPart
from hub.clock import utcnow
from hub.errors import AnnouncementOnly, BadInput, OperatorMustAct, RetryLater
from hub.model import Channel, InboundContact, OutboundMessage, SendReceipt
from hub.request_body import receive_body
from hub.settings import VonageSettings
from hub.tasks import stop_task

log = logging.getLogger(__name__)

GATEWAY = "vonage"  # the name parts are kept under in the channel state
INBOUND_PATH = "/webhooks/sms/vonage"
DLR_PATH = "/webhooks/sms/vonage/dlr"
MAX_REF_CHARS = 32  # concat-ref is a one- or two-octet counter; this bounds the stored keys
SWEEP_MAX_S = 1.0
SWEEP_MIN_S = 0.05  # even with concat_wait_s = 0 the sweeper must not spin
# A receipt can overtake the commit of the send it reports on by a few milliseconds.
UNKNOWN_ID_WAIT_S = (0.05, 0.2, 0.5)


class VonageSmsChannel:
    name: ClassVar[str] = "vonage_sms"
    channel: ClassVar[Channel] = Channel.SMS
    max_body_chars: ClassVar[int] = MAX_TEXT_CHARS
    can_reply: ClassVar[bool] = True

    def __init__(self) -> None:
        self._services: HubServices | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self.received = 0
        self.incomplete = 0
        self.sent = 0

    def __repr__(self) -> str:
        return (f"<VonageSmsChannel started={self._services is not None} "
                f"received={self.received} incomplete={self.incomplete} sent={self.sent}>")

    def routes(self) -> list[web.RouteDef]:
        return [web.get(INBOUND_PATH, self.inbound), web.post(INBOUND_PATH, self.inbound),
                web.get(DLR_PATH, self.receipt), web.post(DLR_PATH, self.receipt)]

    async def start(self, services: HubServices) -> None:
        vonage = services.settings.sms.vonage
        if vonage.signature_method not in METHODS:
            raise OperatorMustAct(f"sms.vonage.signature_method {vonage.signature_method!r} "
                                  f"is not one of {', '.join(sorted(METHODS))}")
        if not vonage.signature_secret:
            log.warning("vonage_sms: sms.vonage.signature_secret is not set; webhooks are "
                        "accepted unsigned")
        self._services = services
        self._sweeper = asyncio.create_task(self._sweep(services), name="vonage-sms-parts")

    async def stop(self) -> None:
        if self._sweeper is not None:
            await stop_task(self._sweeper)
            self._sweeper = None
        self._services = None

    async def inbound(self, request: web.Request) -> web.Response:
        services = self._started()
        params = await _signed_params(request, services.settings.sms.vonage)
        with services.ingestor.admission():
            sms = parse_inbound(params, default_region=services.settings.phone.default_region,
                                now=utcnow())
            if sms.concat is None:
                result = await services.ingest(mark_keywords(_contact(sms),
                                                             services.settings.sms))
                self.received += 0 if result.duplicate else 1
            else:
                # Before the part is held: a text the notice answers keeps nothing.
                await services.ingestor.door(_contact(sms))
                await self._keep_part(services, sms, sms.concat)
        return web.Response(status=200)

    async def receipt(self, request: web.Request) -> web.Response:
        services = self._started()
        update = parse_status(await _signed_params(request, services.settings.sms.vonage))
        if await report_when_known(services.deliveries, self.name, update, UNKNOWN_ID_WAIT_S):
            return web.Response(status=200)
        log.debug("vonage_sms: a %s receipt for an unknown message-id was ignored (a later "
                  "part of a long reply, or not sent by this hub)", update.state.value)
        return web.Response(status=200)

    async def send(self, message: OutboundMessage) -> SendReceipt:
        services = self._started()
        public = services.settings.http.public_url.rstrip("/")
        receipt = await send_sms(services.http, services.settings.sms.vonage,
                                 to=message.recipient, body=message.body,
                                 sender=message.thread.get("from"),
                                 client_ref=str(message.delivery_id),
                                 callback=public + DLR_PATH if public else None)
        self.sent += 1
        return receipt

    def _started(self) -> HubServices:
        if self._services is None:
            raise RetryLater("vonage_sms is not started")
        return self._services

    async def _keep_part(self, services: HubServices, sms: VonageInbound,
                         concat: ConcatPart) -> None:
        if len(concat.ref) > MAX_REF_CHARS:
            raise BadInput("concat-ref is too long", {"concat-ref": "invalid"})
        if await services.sms_parts.is_done(GATEWAY, sms.message_id):
            return  # a resend of a part whose message is stored: held, it would be a phantom
        # The wait runs from the part's arrival here, not from Vonage's timestamp: a part
        # Vonage retried for minutes must not make its set look overdue at once.
        held = await services.state.add_sms_part(GATEWAY, SmsPart(
            part_id=sms.message_id, set_key=f"{sms.phone}:{concat.ref}",
            part=concat.part, total=concat.total, body=sms.text,
            details={"phone": sms.phone, "to": sms.to,
                     "pushed_at": sms.received_at.isoformat()},
            received_at=utcnow()))
        total = max(part.total for part in held)
        if {part.part for part in held} >= set(range(1, total + 1)):
            await self._deliver(services, held)

    async def _deliver(self, services: HubServices, parts: list[SmsPart]) -> None:
        contact = mark_keywords(_assembled(parts), services.settings.sms)
        try:
            result = await services.ingest(contact)
        except AnnouncementOnly:  # the parts held for it go: nothing of it is kept
            await services.state.drop_sms_parts(GATEWAY, parts)
            return
        # Vonage resends a webhook it thinks unanswered, for up to a day: the parts are
        # remembered once their message is stored, before they are let go.
        await services.sms_parts.mark_done(GATEWAY, [part.part_id for part in parts])
        await services.state.drop_sms_parts(GATEWAY, parts)
        if not result.duplicate:
            self.received += 1
            if "incomplete" in contact.details:
                self.incomplete += 1

    async def _sweep(self, services: HubServices) -> None:
        wait_s = services.settings.sms.concat_wait_s
        period = max(SWEEP_MIN_S, min(SWEEP_MAX_S, wait_s / 4))
        while True:
            await asyncio.sleep(period)
            try:
                overdue = utcnow() - timedelta(seconds=wait_s)
                for parts in await services.state.waiting_sets(GATEWAY, overdue):
                    await self._deliver_overdue(services, parts)
            except RetryLater:
                pass  # the hub is at capacity: the sets wait for the next round
            except Exception as exc:
                # Only the type: a database error's text carries the query's parameters,
                # and those hold the passenger's number and words.
                log.warning("vonage_sms: delivering overdue SMS parts failed (%s); retrying",
                            type(exc).__name__)

    async def _deliver_overdue(self, services: HubServices, parts: list[SmsPart]) -> None:
        try:
            await self._deliver(services, parts)
        except BadInput as exc:
            # Kept, it would be tried again every round for ever.
            log.warning("vonage_sms: dropped a set of %d SMS parts that cannot be stored: %s",
                        len(parts), exc.reason)
            await services.state.drop_sms_parts(GATEWAY, parts)


def _contact(sms: VonageInbound) -> InboundContact:
    return InboundContact(channel=Channel.SMS, idempotency_key="vonage:" + sms.message_id,
                          received_at=sms.received_at, body=sms.text, phone=sms.phone,
                          details={"gateway": GATEWAY, "from": sms.phone, "to": sms.to})


def _assembled(parts: list[SmsPart]) -> InboundContact:
    """One message from the parts of a set, complete or not.

    The key is derived from the stored parts, so every process that completes or sweeps
    the same set stores one message. An incomplete set's key also names how many parts it
    had: a completion racing the sweep then stores the whole text as well, instead of being
    refused for reusing the key with another text.
    """
    total = max(part.total for part in parts)
    body, complete = assemble({part.part: part.body for part in parts}, total)
    first = min(parts, key=lambda part: part.part_id)
    present = len({part.part for part in parts})
    key = f"vonage:concat:{first.set_key}:{first.part_id}"
    details = {"gateway": GATEWAY, "from": str(first.details["phone"]),
               "to": str(first.details["to"]), "parts": f"{present}/{total}"}
    if not complete:
        key += f":{present}/{total}"
        details["incomplete"] = "true"
    received_at = min(datetime.fromisoformat(str(part.details["pushed_at"])) for part in parts)
    return InboundContact(channel=Channel.SMS, idempotency_key=key, received_at=received_at,
                          body=body, phone=details["from"], details=details)


async def _signed_params(request: web.Request, vonage: VonageSettings) -> dict[str, str]:
    params = await _params(request)
    secret = vonage.signature_secret.reveal()
    if secret and not is_valid(params, secret, vonage.signature_method, now=time.time()):
        raise forbidden("the Vonage signature (sig) is missing, wrong or old")
    return params


async def _params(request: web.Request) -> dict[str, str]:
    """The call's parameters, whichever way Vonage sent them."""
    if request.method != "POST":
        return dict(request.query)
    raw = await receive_body(request)
    if request.content_type == FORM_TYPE:
        return dict(form_pairs(raw))
    if request.content_type == JSON_TYPE:
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            raise BadInput("the body is not valid JSON") from exc
        if not isinstance(data, dict):
            raise BadInput("the body must be a JSON object")
        return {key: _flat(key, value) for key, value in data.items() if value is not None}
    raise unsupported_media(f"send {FORM_TYPE} or {JSON_TYPE}")


def _flat(key: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise BadInput(f"{key[:40]} must be a string", {key[:40]: "invalid"})

