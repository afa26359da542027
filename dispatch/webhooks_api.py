"""The outbound webhooks' delivery log for admins: `GET /api/v1/admin/webhooks/deliveries`.

Newest first, a page at a time: `?limit=` (1-500, default 100), `?before=<seq>` continues
after a page's last row (`next_before` in the answer, null on the last page), `?endpoint=` and
`?state=pending|delivered|failed` and `?event=<type>` (request.created, order.ready, …)
narrow it. Admins only: 401 without a session, 403 for team
and external users. Rows carry no body and no URL.
"""

from __future__ import annotations

import msgspec
from aiohttp import web

from hub.agent_auth import require_admin
from hub.appkeys import DATABASE
from hub.error_codes import ErrorCode
from hub.errors import BadInput
from hub.settings import NAME
from hub.webhook_body import WebhookEventType
from hub.webhook_log import WebhookLog, WebhookState

PATH = "/api/v1/admin/webhooks/deliveries"
DEFAULT_LIMIT = 100
MAX_LIMIT = 500
MAX_SEQ = 2**63 - 1  # the log's row numbers are 64-bit; a larger one would fail in the store


def _whole(request: web.Request, name: str, default: int | None) -> int | None:
    text = request.query.get(name)
    if text is None:
        return default
    if not text.isascii() or not text.isdigit() or int(text) > MAX_SEQ:
        raise BadInput(ErrorCode.SEQUENCE_INVALID.of(field=name, max=MAX_SEQ),
                       {name: "invalid"})
    return int(text)


async def deliveries(request: web.Request) -> web.Response:
    await require_admin(request)
    limit = _whole(request, "limit", DEFAULT_LIMIT) or 0
    if not 1 <= limit <= MAX_LIMIT:
        raise BadInput(ErrorCode.LIMIT_INVALID.of(max=MAX_LIMIT), {"limit": "invalid"})
    before = _whole(request, "before", None)
    endpoint = request.query.get("endpoint")
    if endpoint is not None and not NAME.match(endpoint):
        raise BadInput(ErrorCode.WEBHOOK_ENDPOINT_INVALID, {"endpoint": "invalid"})
    state = request.query.get("state")
    if state is not None and state not in {s.value for s in WebhookState}:
        raise BadInput(ErrorCode.DELIVERY_STATE_INVALID, {"state": "invalid"})
    event = request.query.get("event")
    if event is not None and event not in {t.value for t in WebhookEventType}:
        raise BadInput(ErrorCode.WEBHOOK_EVENT_INVALID.of(
            allowed=", ".join(t.value for t in WebhookEventType)), {"event": "invalid"})
    page = await WebhookLog(request.app[DATABASE]).page(
        limit=limit, before=before, endpoint=endpoint,
        state=WebhookState(state) if state else None, event_type=event)
    return web.Response(body=msgspec.json.encode(page), content_type="application/json")


def routes() -> list[web.RouteDef]:
    return [web.get(PATH, deliveries)]
