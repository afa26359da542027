"""The console's JSON API for requests: list, detail and the handling actions."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from sqlalchemy import select

from dispatch.actions import Actions, Outcome
from dispatch.auth import current_agent
from dispatch.replies import Replies
from dispatch.request_search import (
    filter_clause,
    parse_filter,
    parse_query,
    queue_order,
    word_matches,
)
from dispatch.views import detail, r, summaries, summary_query
from hub import schema
from hub.appkeys import DATABASE, LANES, RELAY, REPLY_SENDERS, SETTINGS
from hub.clock import utcnow
from hub.errors import BadInput, Forbidden, NotFound
from hub.model import Channel, RequestStatus, Role
from hub.request_body import read_json_object

PLAIN_ACTIONS = ("claim", "release", "resolve", "reopen")
DEFAULT_LIMIT = 500
MAX_LIMIT = 2000


def _request_id(request: web.Request) -> uuid.UUID:
    try:
        return uuid.UUID(request.match_info["request_id"])
    except ValueError as exc:
        raise NotFound("no such request") from exc


def _actions(request: web.Request) -> Actions:
    return Actions(request.app[DATABASE], request.app[RELAY], request.app[LANES])


async def list_requests(request: web.Request) -> web.Response:
    """Open requests in queue order. `q` searches (number in any form, name, reference,
    message text), `lane` picks a lane, `filter` is mine, unassigned or callbacks, `status`
    a comma-separated list (default: every open status), `channel` one channel."""
    agent = await current_agent(request)
    query = summary_query()
    q = request.query
    statuses = [s for s in q.get("status", "").split(",") if s]
    if statuses:
        try:
            query = query.where(r.c.status.in_([RequestStatus(s).value for s in statuses]))
        except ValueError as exc:
            raise BadInput(f"status must be one of {[s.value for s in RequestStatus]}") from exc
    else:
        query = query.where(r.c.status != RequestStatus.RESOLVED.value)
    if "channel" in q:
        try:
            query = query.where(r.c.channel == Channel(q["channel"]).value)
        except ValueError as exc:
            raise BadInput(f"channel must be one of {[c.value for c in Channel]}") from exc
    if q.get("lane"):
        query = query.where(r.c.lane == q["lane"])
    chosen = parse_filter(q.get("filter", ""))
    if chosen is not None:
        query = query.where(filter_clause(chosen, agent.id))
    if q.get("mine") in {"1", "true"} or agent.role is Role.EXTERNAL:
        query = query.where(r.c.assigned_agent_id == agent.id)
    region = request.app[SETTINGS].phone.default_region
    for word in parse_query(q.get("q", ""), region):
        query = query.where(word_matches(word))
    try:
        limit = int(q.get("limit", DEFAULT_LIMIT))
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_LIMIT:
        raise BadInput(f"limit must be a whole number from 1 to {MAX_LIMIT}")
    query = query.order_by(*queue_order(utcnow(), chosen)).limit(limit)
    async with request.app[DATABASE].read() as conn:
        found = await summaries(conn, query)
    return web.json_response({"requests": found})


async def get_request(request: web.Request) -> web.Response:
    agent = await current_agent(request)
    request_id = _request_id(request)
    async with request.app[DATABASE].read() as conn:
        found = await detail(conn, request_id)
    if found is None or (agent.role is Role.EXTERNAL and (found["assigned_agent"] or {})
                         .get("id") != str(agent.id)):
        raise NotFound("no such request")
    return web.json_response({"request": found})


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
    body = await read_json_object(request)
    try:
        target = uuid.UUID(str(body.get("agent_id", "")))
    except ValueError as exc:
        raise BadInput("agent_id must be an agent's id", {"agent_id": "invalid"}) from exc
    return _answer(await _actions(request).transfer(_request_id(request), agent, target))


async def add_note(request: web.Request) -> web.Response:
    agent = await current_agent(request)
    body: dict[str, Any] = await read_json_object(request)
    text = body.get("text")
    if not isinstance(text, str):
        raise BadInput("text is required", {"text": "required"})
    return _answer(await _actions(request).note(_request_id(request), agent, text))


async def add_reply(request: web.Request) -> web.Response:
    """Reply to the passenger. The composer sends a key of its own (`client_key`, or an
    Idempotency-Key header) so that a resend after a network drop is sent once."""
    agent = await current_agent(request)
    body: dict[str, Any] = await read_json_object(request)
    text, subject = body.get("body"), body.get("subject")
    key = body.get("client_key") or request.headers.get("Idempotency-Key", "")
    if not isinstance(text, str):
        raise BadInput("body is required", {"body": "required"})
    if subject is not None and not isinstance(subject, str):
        raise BadInput("subject must be text", {"subject": "invalid"})
    if not isinstance(key, str):
        raise BadInput("client_key must be text", {"client_key": "invalid"})
    channel = None
    if body.get("channel") is not None:
        try:
            channel = Channel(str(body["channel"]))
        except ValueError as exc:
            raise BadInput(f"channel must be one of {[c.value for c in Channel]}",
                           {"channel": "invalid"}) from exc
    replies = Replies(request.app[DATABASE], request.app[RELAY], request.app[REPLY_SENDERS])
    done = await replies.reply(_request_id(request), agent, body=text, key=key,
                               channel=channel, subject=subject)
    return web.json_response(
        {"request": done.request, "message_id": str(done.message_id), "changed": done.changed},
        status=201 if done.changed else 200)


async def list_agents(request: web.Request) -> web.Response:
    """Active agents, for the transfer picker (not for external users)."""
    if (await current_agent(request)).role is Role.EXTERNAL:
        raise Forbidden("external users do not transfer requests")
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
        web.get("/api/v1/agents", list_agents),
    ]
