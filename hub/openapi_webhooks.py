"""The OpenAPI of outbound webhooks: the delivery log's path (given to `hub.openapi.routes`),
and the webhooks themselves (OpenAPI 3.1 `webhooks`: what the hub POSTs to an endpoint), with
schemas generated from the records that write them (hub.webhook_body, hub.webhook_log).
"""

from __future__ import annotations

from typing import Any

from hub.openapi_lanes import ADMIN, ERROR, JSON, SESSION, _ok
from hub.records import component_schemas
from hub.webhook_body import WebhookBody, WebhookEventType
from hub.webhook_log import DeliveryPage

SCHEMAS = component_schemas(WebhookBody, DeliveryPage)

_HEADERS = [
    {"name": "X-TaxiConnect-Signature", "in": "header", "required": True,
     "schema": {"type": "string", "pattern": "^t=[0-9]+(,v1=[0-9a-f]{64})+$"},
     "description": "t=<unix seconds>,v1=<hex HMAC-SHA256 with the endpoint's secret over "
                    "\"<t>.\" + the body>; the scheme of the generic SMS gateway's requests"},
    {"name": "Idempotency-Key", "in": "header", "required": True,
     "schema": {"type": "string", "format": "uuid"},
     "description": "the event's id: the same on every retry; de-duplicate by it"},
    {"name": "X-TaxiConnect-Event-Id", "in": "header", "required": True,
     "schema": {"type": "string", "format": "uuid"}},
    {"name": "X-TaxiConnect-Event", "in": "header", "required": True,
     "schema": {"enum": [t.value for t in WebhookEventType]}},
]

# What the hub POSTs to a configured endpoint, one entry per event type.
WEBHOOKS: dict[str, Any] = {
    kind.value: {"post": {
        "summary": f"{kind.value}: sent to each endpoint subscribed to it",
        "parameters": _HEADERS,
        "requestBody": {"required": True, "content": {JSON: {"schema": {
            "$ref": "#/components/schemas/WebhookBody"}}}},
        "responses": {
            "200": {"description": "2xx: taken (any 2xx); not sent again"},
            "500": {"description": "5xx, 408 or 429 (Retry-After heeded), a timeout or a lost "
                                   "connection: sent again later, with backoff, same id"},
            "400": {"description": "any other answer: refused, not sent again"},
        }}}
    for kind in WebhookEventType
}


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema,
            "description": description}


PATHS: dict[str, Any] = {
    "/api/v1/admin/webhooks/deliveries": {"get": {
        "summary": "the outbound webhooks' delivery log, newest first (admins only): per "
                   "event and endpoint its state (pending, delivered, failed), attempts, the "
                   "receiver's last status and the last error's reason; never a body or URL",
        "security": SESSION,
        "parameters": [
            _query("limit", {"type": "integer", "minimum": 1, "maximum": 500}, "default 100"),
            _query("before", {"type": "integer", "minimum": 0, "maximum": 2**63 - 1},
                   "a row's seq: the rows after it (the answer's next_before continues a "
                   "page)"),
            _query("endpoint", {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,40}$"},
                   "one endpoint's rows"),
            _query("state", {"enum": ["pending", "delivered", "failed"]}, "rows in one state"),
            _query("event", {"enum": [t.value for t in WebhookEventType]},
                   "rows of one event type"),
        ],
        "responses": {"200": _ok("a page of the log", "DeliveryPage"),
                      "422": ERROR, **ADMIN}}},
}
