"""The console's JSON API for requests: list, detail and the handling actions."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from aiohttp import web
from sqlalchemy import ColumnElement, select

from dispatch import order_api, upload_api
from dispatch.actions import Actions, Outcome
from dispatch.query_params import instant, page_limit
from dispatch.replies import Replies
from dispatch.request_search import (
    OPEN,
    CallbackKey,
    Listing,
    NewestKey,
    QueueFilter,
    QueueKey,
    callback_page,
    filter_clause,
    newest_page,
    parse_filter,
    parse_query,
    queue_page,
    r,
    word_matches,
)
from hub import schema
from hub.agent_auth import current_agent
from hub.appkeys import DATABASE, KEYS, LANES, REDIS, RELAY, REPLY_SENDERS, SETTINGS
from hub.audit_web import record_access
from hub.clock import utcnow
from hub.error_codes import ErrorCode
from hub.errors import BadInput, Forbidden, NotFound
from hub.json_answer import json_answer
from hub.model import Agent, Channel, RequestStatus, Role
from hub.read_models import detail, summaries_by_id
from hub.request_body import read_body
from hub.request_models import Note, Reply, Transfer

PLAIN_ACTIONS = ("claim", "release", "resolve", "reopen")
DEFAULT_LIMIT = 500
MAX_LIMIT = 2000  # a page; `next_cursor` leads on past it
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
AUDITED = 50  # requests a search's audit entry names (the count is always whole)
# Not a secret: it marks a cursor as one this list wrote and left intact, so that a damaged
# or edited one is refused with a reason rather than read as some other place.
CURSOR_MAC_KEY = b"taxiconnect/requests-cursor/1"
# How each view's sort keys are written into a cursor: i int, t time (microseconds since
# the epoch), T time or null, u uuid (hex).
QUEUE_KEY_KINDS = "iitu"
CALLBACK_KEY_KINDS = "iiTitu"
NEWEST_KEY_KINDS = "tiu"
ORDERS = ("queue", "newest")  # ?order=: the queue's own order (default), or newest first


def _request_id(request: web.Request) -> uuid.UUID:
    try:
        return uuid.UUID(request.match_info["request_id"])
    except ValueError as exc:
        raise NotFound(ErrorCode.REQUEST_NOT_FOUND) from exc


def _actions(request: web.Request) -> Actions:
    return Actions(request.app[DATABASE], request.app[RELAY], request.app[LANES])


def _micros(at: datetime) -> int:
    return (at - EPOCH) // timedelta(microseconds=1)


def _write_key(value: Any) -> Any:
    if isinstance(value, datetime):
        return _micros(value)
    return value.hex if isinstance(value, uuid.UUID) else value


def _read_key(kind: str, value: Any) -> Any:
    if kind == "i" and type(value) is int:
        return value
    if kind == "u" and isinstance(value, str) and len(value) == 32:
        return uuid.UUID(hex=value)
    if kind == "T" and value is None:
        return None
    if kind in "tT" and type(value) is int:
        return EPOCH + timedelta(microseconds=value)
    raise ValueError(f"not a {kind} key")


def _mac(body: bytes) -> str:
    return hmac.new(CURSOR_MAC_KEY, body, hashlib.sha256).hexdigest()[:16]


def encode_cursor(as_of: datetime, scope: str, keys: Sequence[Any]) -> str:
    """The place after a page: the clock the list was read under (so that a callback falling
    overdue meanwhile does not reshuffle it), the filters, and the last row's sort keys."""
    payload = json.dumps([1, _micros(as_of), scope, [_write_key(k) for k in keys]],
                         separators=(",", ":"))
    body = base64.urlsafe_b64encode(payload.encode()).rstrip(b"=")
    return f"{body.decode()}.{_mac(body)}"


def decode_cursor(text: str, scope: str, kinds: str) -> tuple[datetime, tuple[Any, ...]]:
    """The clock and the keys of a cursor of this list; BadInput naming what is wrong."""
    body, _, mac = text.encode().partition(b".")
    if not hmac.compare_digest(_mac(body).encode(), mac):
        raise BadInput(ErrorCode.CURSOR_DAMAGED)
    try:
        version, as_of, its_scope, keys = json.loads(
            base64.urlsafe_b64decode(body + b"=" * (-len(body) % 4)))
        if version != 1 or type(as_of) is not int or not isinstance(keys, list):
            raise ValueError("not a cursor of this version")
    except (ValueError, TypeError, binascii.Error) as exc:
        raise BadInput(ErrorCode.CURSOR_INVALID) from exc
    if its_scope != scope:
        raise BadInput(ErrorCode.CURSOR_OTHER_FILTERS)
    try:
        if len(keys) != len(kinds):
            raise ValueError("not a cursor of this list")
        place = tuple(_read_key(kind, key) for kind, key in zip(kinds, keys, strict=True))
    except (ValueError, TypeError) as exc:
        raise BadInput(ErrorCode.CURSOR_INVALID) from exc
    return EPOCH + timedelta(microseconds=as_of), place


def _agent_id(q: Mapping[str, str]) -> uuid.UUID | None:
    """`agent`: requests whose last handling agent this is (the search across all requests:
    what did this dispatcher handle yesterday)."""
    if not q.get("agent"):
        return None
    try:
        return uuid.UUID(q["agent"])
    except ValueError as exc:
        raise BadInput(ErrorCode.AGENT_FILTER_INVALID) from exc


def _listing(request: web.Request, agent: Agent) -> tuple[Listing, str]:
    """The list the query asks for, and its scope: what a cursor must have been made for."""
    q = request.query
    try:
        statuses = sorted({RequestStatus(s).value for s in q.get("status", "").split(",") if s})
    except ValueError as exc:
        raise BadInput(ErrorCode.STATUS_INVALID.of(
            allowed=", ".join(s.value for s in RequestStatus))) from exc
    conditions: list[ColumnElement[bool]] = []
    channel = q.get("channel")
    if channel is not None:
        try:
            conditions.append(r.c.channel == Channel(channel).value)
        except ValueError as exc:
            raise BadInput(ErrorCode.CHANNEL_INVALID.of(
                allowed=", ".join(c.value for c in Channel))) from exc
    if q.get("lane"):
        conditions.append(r.c.lane == q["lane"])
    handled_by = _agent_id(q)
    if handled_by is not None:
        conditions.append(r.c.last_agent_id == handled_by)
    chosen = parse_filter(q.get("filter", ""))
    if chosen is not None:
        conditions.append(filter_clause(chosen, agent.id))
    mine = q.get("mine") in {"1", "true"} or agent.role is Role.EXTERNAL
    if mine:
        conditions.append(r.c.assigned_agent_id == agent.id)
    words = parse_query(q.get("q", ""), request.app[SETTINGS].phone.default_region)
    conditions += [word_matches(word) for word in words]
    since, until = instant(q, "from"), instant(q, "to")
    if since is not None:
        conditions.append(r.c.case_started_at >= since)
    if until is not None:
        conditions.append(r.c.case_started_at < until)
    order = q.get("order") or "queue"
    if order not in ORDERS:
        raise BadInput(ErrorCode.ORDER_INVALID.of(allowed=", ".join(ORDERS)), {"order": "invalid"})
    scope = json.dumps([statuses, channel, q.get("lane"), chosen, mine, q.get("q", "").strip(),
                        since and since.isoformat(), until and until.isoformat(),
                        handled_by and str(handled_by)]
                       + ([order] if order != "queue" else []))
    listing = Listing(tuple(statuses) or OPEN, tuple(conditions), bool(words), chosen)
    return listing, hashlib.sha256(scope.encode()).hexdigest()[:12]


async def list_requests(request: web.Request) -> web.Response:
    """Open requests in queue order (or, with `order=newest`, newest case start first), a
    page at a time. `q` searches (number in any form, name, reference, message text), `lane`
    picks a lane, `filter` is mine, unassigned or callbacks, `status` a comma-separated list
    (default: every open status), `channel` one channel, `agent` the last handling agent,
    `from` and `to` bound the case start. `next_cursor` (null on the last page) given back
    as `cursor`, with the same filters, brings the next page."""
    agent = await current_agent(request)
    listing, scope = _listing(request, agent)
    limit = page_limit(request.query, DEFAULT_LIMIT, MAX_LIMIT)
    newest = request.query.get("order") == "newest"
    callbacks = listing.chosen is QueueFilter.CALLBACKS and not newest
    kinds = NEWEST_KEY_KINDS if newest else CALLBACK_KEY_KINDS if callbacks else QUEUE_KEY_KINDS
    as_of, after = utcnow(), None
    if request.query.get("cursor"):
        as_of, after = decode_cursor(request.query["cursor"], scope, kinds)
    async with request.app[DATABASE].read() as conn:
        keys: Sequence[tuple[Any, ...]]
        if newest:
            keys = await newest_page(conn, listing, cast(NewestKey | None, after), limit + 1)
        elif callbacks:
            keys = await callback_page(conn, listing, as_of, cast(CallbackKey | None, after),
                                       limit + 1)
        else:
            keys = await queue_page(conn, listing, as_of, cast(QueueKey | None, after),
                                    limit + 1)
        found = await summaries_by_id(conn, [key[-1] for key in keys[:limit]])
    next_cursor = encode_cursor(as_of, scope, keys[limit - 1]) if len(keys) > limit else None
    next_url = None
    if next_cursor is not None:
        next_url = str(request.rel_url.update_query(cursor=next_cursor))
    if listing.with_contact:  # a search reads passengers' data; the queue as such is not audited
        await record_access(request, "read.request_search", agent_id=agent.id,
                            detail={"count": len(keys[:limit]),
                                    "requests": [str(key[-1]) for key in keys[:AUDITED]]})
    return json_answer({"requests": [found[str(key[-1])] for key in keys[:limit]
                                     if str(key[-1]) in found],
                        "next_cursor": next_cursor, "next": next_url})


async def get_request(request: web.Request) -> web.Response:
    agent = await current_agent(request)
    request_id = _request_id(request)
    async with request.app[DATABASE].read() as conn:
        found = await detail(conn, request_id)
    if found is None or (agent.role is Role.EXTERNAL
                         and (found["assigned_agent"] is None
                              or found["assigned_agent"]["id"] != str(agent.id))):
        raise NotFound(ErrorCode.REQUEST_NOT_FOUND)
    await record_access(request, "read.request", agent_id=agent.id, subject=str(request_id))
    return json_answer({"request": found})


def _answer(outcome: Outcome) -> web.Response:
    return web.json_response({"request": outcome.request, "changed": outcome.changed})


def _plain_action(name: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    """A handler for an action that takes nothing but the request and the agent."""
    async def handle(request: web.Request) -> web.Response:
        agent = await current_agent(request)
        act = getattr(_actions(request), name)
        return _answer(await act(_request_id(request), agent))

    return handle


async def transfer(request: web.Request) -> web.Response:
    agent = await current_agent(request)
    body = await read_body(request, Transfer)
    return _answer(await _actions(request).transfer(_request_id(request), agent, body.agent_id))


async def add_note(request: web.Request) -> web.Response:
    agent = await current_agent(request)
    body = await read_body(request, Note)
    return _answer(await _actions(request).note(_request_id(request), agent, body.text))


async def add_reply(request: web.Request) -> web.Response:
    """Reply to the passenger. The composer sends a key of its own (`client_key`, or an
    Idempotency-Key header) so that a resend after a network drop is sent once."""
    agent = await current_agent(request)
    body = await read_body(request, Reply)
    key = body.client_key or request.headers.get("Idempotency-Key", "")
    request_id = _request_id(request)
    # Read from Redis before the reply's transaction opens: nothing is awaited inside it.
    files = await upload_api.uploaded_files(request.app[REDIS].client, request.app[KEYS],
                                            request_id, body.attachments)
    replies = Replies(request.app[DATABASE], request.app[RELAY], request.app[REPLY_SENDERS])
    done = await replies.reply(request_id, agent, body=body.body, key=key,
                               channel=body.channel, subject=body.subject, attachments=files)
    return web.json_response(
        {"request": done.request, "message_id": str(done.message_id), "changed": done.changed},
        status=201 if done.changed else 200)


async def list_agents(request: web.Request) -> web.Response:
    """Active agents, for the transfer picker (not for external users)."""
    if (await current_agent(request)).role is Role.EXTERNAL:
        raise Forbidden(ErrorCode.EXTERNAL_NO_TRANSFER)
    a = schema.agents
    async with request.app[DATABASE].read() as conn:
        rows = await conn.execute(
            select(a.c.id, a.c.name, a.c.role).where(a.c.active).order_by(a.c.name)
        )
        agents = [{"id": str(i), "name": n, "role": role} for i, n, role in rows]
    return web.json_response({"agents": agents})


def routes() -> list[web.RouteDef]:
    base = "/api/v1/requests"
    return [
        web.get(base, list_requests),
        web.get(base + "/{request_id}", get_request),
        *(web.post(f"{base}/{{request_id}}/{name}", _plain_action(name))
          for name in PLAIN_ACTIONS),
        web.post(base + "/{request_id}/transfer", transfer),
        web.post(base + "/{request_id}/notes", add_note),
        web.post(base + "/{request_id}/replies", add_reply),
        *order_api.routes(),
        *upload_api.routes(),
        web.get("/api/v1/agents", list_agents),
    ]
