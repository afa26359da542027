"""The OpenAPI path of the outbound webhooks' delivery log (given to `hub.openapi.routes`).

The webhooks themselves (what the hub POSTs to an endpoint) are described in README
"Webhooks", in hub.webhook_body and by examples/webhook_receiver.py.
"""

from __future__ import annotations

from typing import Any

from hub.openapi_lanes import ADMIN, ERROR, SESSION, _ok


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
            _query("before", {"type": "integer"}, "a row's seq: the rows after it (the "
                   "answer's next_before continues a page)"),
            _query("endpoint", {"type": "string"}, "one endpoint's rows"),
            _query("state", {"enum": ["pending", "delivered", "failed"]}, "rows in one state"),
        ],
        "responses": {"200": _ok("{deliveries: [{seq, endpoint, event_id, event_type, "
                                 "request_id, state, attempts, last_status, last_error, "
                                 "created_at, last_attempt_at, finished_at}], next_before}"),
                      "422": ERROR, **ADMIN}}},
}
