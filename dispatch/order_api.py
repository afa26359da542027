"""A dispatcher's "Send order": the request's order (pickup address and time, destination,
passengers: hub.webhook_body.order_of) sent to the company's dispatch system now.

`POST /api/v1/requests/{id}/order` records the `order` handling action (hub.handling.order:
the request's history names who sent it, its console event tells every console); that
console event is what the outbound webhooks turn into `order.ready`, so the order goes the
way every webhook event goes: once per endpoint, signed, retried with backoff, in the
delivery log. Each press is an event of its own (its id comes from the request's new
version); a receiver de-duplicates retries of one press by its Idempotency-Key.

`GET /api/v1/requests/{id}/order` answers which endpoints take orders and how the request's
orders reached them, newest first, so that a console offers the action only where it can be
done and shows whether the order was delivered.
"""

from __future__ import annotations

import uuid

import msgspec
from aiohttp import web

from hub import audit, handling
from hub.agent_auth import current_agent
from hub.appkeys import DATABASE, RELAY, SETTINGS
from hub.clock import utcnow
from hub.error_codes import ErrorCode
from hub.errors import Conflict, NotFound
from hub.model import Agent, Role
from hub.read_json import RequestSummaryJson
from hub.read_models import summaries_by_id
from hub.webhook_body import WebhookEventType, event_id, order_of
from hub.webhook_log import DeliveryRow, WebhookLog

ORDER = WebhookEventType.ORDER_READY.value


class OrderSent(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The answer to a "Send order": the request after it, and the event on its way."""

    request: RequestSummaryJson
    event_id: str  # the order.ready event's id (its Idempotency-Key)
    endpoints: list[str]  # the endpoints it goes to


class OrderDeliveries(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    endpoints: list[str]  # those that take orders now; none: there is nowhere to send one
    deliveries: list[DeliveryRow]  # newest first


def _request_id(request: web.Request) -> uuid.UUID:
    try:
        return uuid.UUID(request.match_info["request_id"])
    except ValueError as exc:
        raise NotFound(ErrorCode.REQUEST_NOT_FOUND) from exc


def _takers(request: web.Request) -> list[str]:
    """The endpoints subscribed to order.ready."""
    return [e.name for e in request.app[SETTINGS].webhooks.endpoints if ORDER in e.events]


async def _visible(request: web.Request, agent: Agent, request_id: uuid.UUID
                   ) -> RequestSummaryJson:
    """The request's summary, if this agent may see it (an external user: only one held)."""
    async with request.app[DATABASE].read() as conn:
        found = (await summaries_by_id(conn, [request_id])).get(str(request_id))
    if found is None or (agent.role is Role.EXTERNAL
                         and (found["assigned_agent"] is None
                              or found["assigned_agent"]["id"] != str(agent.id))):
        raise NotFound(ErrorCode.REQUEST_NOT_FOUND)
    return found


async def send_order(request: web.Request) -> web.Response:
    agent = await current_agent(request)
    request_id = _request_id(request)
    found = await _visible(request, agent, request_id)
    endpoints = _takers(request)
    if not endpoints:
        raise Conflict(ErrorCode.NO_ENDPOINT)
    details = found.get("details")
    if order_of(details if isinstance(details, dict) else None) is None:
        raise Conflict(ErrorCode.NO_ORDER)
    async with request.app[DATABASE].write() as conn:
        done = await handling.order(conn, request_id, agent, at=utcnow())
        version = int(done.request["version"])
        sent = event_id(str(request_id), version, WebhookEventType.ORDER_READY)
        # Last in the transaction: the audit chain stays locked until the commit.
        await audit.record(conn, "request.order", agent_id=agent.id, subject=str(request_id),
                           detail={"event_id": sent, "endpoints": endpoints})
    request.app[RELAY].notify(list(done.events))
    answer = OrderSent(request=done.request, event_id=sent, endpoints=endpoints)
    return web.Response(body=msgspec.json.encode(answer), status=202,
                        content_type="application/json")


async def order_deliveries(request: web.Request) -> web.Response:
    agent = await current_agent(request)
    request_id = _request_id(request)
    await _visible(request, agent, request_id)
    rows = await WebhookLog(request.app[DATABASE]).of_request(str(request_id), ORDER)
    answer = OrderDeliveries(endpoints=_takers(request), deliveries=rows)
    return web.Response(body=msgspec.json.encode(answer), content_type="application/json")


def routes() -> list[web.RouteDef]:
    path = "/api/v1/requests/{request_id}/order"
    return [web.post(path, send_order), web.get(path, order_deliveries)]
