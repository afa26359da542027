"""What the hub's outbound webhooks say: which console events become which webhook events,
and the versioned JSON body each one carries. Pure: no I/O.

    console event (hub.events)                        webhook event
    request.queued                                    request.created
      … whose request carries pickup address and time order.ready (as well)
    any event recording a `claim` handling action     request.claimed
      … or a reply that took an unheld request
    any event recording a `resolve` handling action   request.resolved
    request.order (a dispatcher's "Send order")       order.ready, if it carries the fields

A webhook event's id is derived from the request, its version after the change and the
webhook type, so it stays the same however often the console event is read (a retry, a
restart, another hub process): a receiver de-duplicates by it. Personal data is kept to what
a receiver needs: only `order.ready` names the passenger and the order's addresses.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

import msgspec

from hub.events import EventType, StreamEvent
from hub.json_types import JsonObject
from hub.records import RequestSummary, Timings

BODY_VERSION = 1
# Fixed forever: event ids are uuid5 names under it, and receivers keep them.
ID_NAMESPACE = uuid.UUID("6f1d2b8e-5a47-4c1e-9d0a-7e3c52b1f4a9")
SAME_INSTANT_S = 0.002


class WebhookEventType(StrEnum):
    REQUEST_CREATED = "request.created"
    REQUEST_CLAIMED = "request.claimed"
    REQUEST_RESOLVED = "request.resolved"
    ORDER_READY = "order.ready"


class _Body(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    pass


class WebhookRequest(_Body, kw_only=True):
    id: str
    reference: str
    channel: str
    lane: str | None
    status: Literal["queued", "claimed", "resolved"]
    version: int
    timings: Timings


class WebhookOrder(_Body, kw_only=True):
    pickup_address: str
    pickup_time: str  # ISO 8601 with the offset
    destination: str | None
    passengers: int | None


class WebhookPassenger(_Body, kw_only=True):
    name: str | None
    phone: str | None  # E.164


class WebhookBody(_Body, kw_only=True):
    """The JSON document POSTed to an endpoint (`version` grows only with a breaking change)."""

    version: int
    id: str  # the event's stable id; also the Idempotency-Key header
    type: WebhookEventType
    occurred_at: datetime
    request: WebhookRequest
    order: WebhookOrder | msgspec.UnsetType = msgspec.UNSET  # order.ready only
    passenger: WebhookPassenger | msgspec.UnsetType = msgspec.UNSET  # order.ready only


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    id: str
    type: WebhookEventType
    request_id: str
    body: bytes  # exactly what is signed and sent


class _Peek(msgspec.Struct):
    type: str


_peek = msgspec.json.Decoder(_Peek)
_decode = msgspec.json.Decoder(StreamEvent)
_encode = msgspec.json.Encoder()
# Console events that can record a claim or a resolve (others are skipped undecoded).
_MAY_HANDLE = frozenset({
    EventType.REQUEST_CLAIM, EventType.REQUEST_RESOLVE, EventType.CALL_ANSWERED,
    EventType.CALL_ENDED, EventType.REQUEST_REPLY, EventType.REQUEST_GROUP_MESSAGE,
    EventType.REQUEST_ORDER,
})
_BY_ACTION = {"claim": WebhookEventType.REQUEST_CLAIMED,
              "resolve": WebhookEventType.REQUEST_RESOLVED}


def webhook_events(data: str | bytes) -> list[WebhookEvent]:
    """The webhook events one console event (as written to the events stream) gives; none
    for most. Raises `msgspec.DecodeError` or `ValidationError` for a malformed event."""
    kind = _peek.decode(data).type
    if kind != EventType.REQUEST_QUEUED and kind not in _MAY_HANDLE:
        return []
    event: Any = _decode.decode(data)
    summary: RequestSummary = event.request
    if kind == EventType.REQUEST_QUEUED:
        at = summary.timings.queued_at or summary.timings.case_started_at or _never()
        found = [_event(WebhookEventType.REQUEST_CREATED, summary, at)]
        order = order_of(summary.details)
        if order is not None:
            found.append(_event(WebhookEventType.ORDER_READY, summary, at, order=order))
        return found
    handling = getattr(event, "handling", msgspec.UNSET)
    if handling is msgspec.UNSET:
        return []
    if handling.action == "reply" and _same_instant(summary.timings.service_started_at,
                                                    handling.at):
        # Replying to a request nobody holds takes it: this reply started its service.
        return [_event(WebhookEventType.REQUEST_CLAIMED, summary, handling.at)]
    if handling.action == "order":
        order = order_of(summary.details)
        return [] if order is None else [
            _event(WebhookEventType.ORDER_READY, summary, handling.at, order=order)]
    if handling.action not in _BY_ACTION:
        return []
    return [_event(_BY_ACTION[handling.action], summary, handling.at)]


def order_of(details: JsonObject | None) -> WebhookOrder | None:
    """The order a request's details carry, when they name a pickup address and time."""
    details = details or {}
    address, time = details.get("pickup_address"), details.get("pickup_time")
    if not (isinstance(address, str) and address and isinstance(time, str) and time):
        return None
    destination = details.get("destination")
    passengers = str(details.get("passengers") or "")
    return WebhookOrder(pickup_address=address, pickup_time=time,
                 destination=destination if isinstance(destination, str) else None,
                 passengers=int(passengers) if passengers.isdigit() else None)


def event_id(request_id: str, version: int, kind: WebhookEventType) -> str:
    return str(uuid.uuid5(ID_NAMESPACE, f"{request_id}/{version}/{kind.value}"))


def _event(kind: WebhookEventType, summary: RequestSummary, at: datetime, *,
           order: WebhookOrder | None = None) -> WebhookEvent:
    found_id = event_id(summary.id, summary.version, kind)
    body = WebhookBody(
        version=BODY_VERSION, id=found_id, type=kind, occurred_at=at,
        request=WebhookRequest(id=summary.id, reference=summary.reference,
                            channel=summary.channel, lane=summary.lane,
                            status=summary.status, version=summary.version,
                            timings=summary.timings),
    )
    if order is not None:
        phones = summary.contact.phones
        body.order = order
        body.passenger = WebhookPassenger(name=summary.contact.name,
                                   phone=phones[0] if phones else None)
    return WebhookEvent(found_id, kind, summary.id, _encode.encode(body))


def _same_instant(a: datetime | None, b: datetime) -> bool:
    # One `at` written twice; a store may keep it to the microsecond or the millisecond.
    return a is not None and abs((a - b).total_seconds()) < SAME_INSTANT_S


def _never() -> datetime:
    raise ValueError("a queued request without a case start")
