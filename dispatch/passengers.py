"""The console's JSON API for passengers: search, the card, the whole timeline, naming and
merging. Team users and admins only: an external user sees requests, never a passenger's
history (403 on every route).

A merged passenger's id still leads somewhere: a GET answers 308 Permanent Redirect to the
same route of the survivor (the query kept; `merged_into` in the body), so old links and
an open console follow it; a PATCH or a merge of it answers 409 naming the survivor.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from aiohttp import web

from dispatch.passenger_card import SEARCH_MIN_CHARS, card, resolve, search
from dispatch.passenger_changes import PassengerChanges, clean_name
from dispatch.passenger_timeline import DEFAULT_LIMIT, MAX_LIMIT, Cursor, timeline
from hub.agent_auth import current_agent, refuse
from hub.appkeys import DATABASE, RELAY
from hub.audit_web import record_access
from hub.error_codes import ErrorCode
from hub.errors import BadInput, NotFound
from hub.json_answer import json_answer
from hub.model import Agent, Role
from hub.request_body import read_body
from hub.request_models import ContactName, Merge

BASE = "/api/v1/contacts"
MAX_QUERY_CHARS = 320  # the longest identity (an email address)
AUDITED_RESULTS = 50  # passengers a search's audit entry names (the count is always whole)


async def _team(request: web.Request) -> Agent:
    agent = await current_agent(request)
    if agent.role is Role.EXTERNAL:
        await refuse(request, agent, ErrorCode.PASSENGERS_CENTRE_ONLY)
    return agent


def _contact_id(request: web.Request) -> uuid.UUID:
    try:
        return uuid.UUID(request.match_info["contact_id"])
    except ValueError as exc:
        raise NotFound(ErrorCode.PASSENGER_NOT_FOUND) from exc


def _changes(request: web.Request) -> PassengerChanges:
    return PassengerChanges(request.app[DATABASE], request.app[RELAY])


async def _live_id(request: web.Request) -> uuid.UUID:
    """The passenger the path names; a merged one redirects to its survivor."""
    contact_id = _contact_id(request)
    async with request.app[DATABASE].read() as conn:
        found = await resolve(conn, contact_id)
    if found is None:
        raise NotFound(ErrorCode.PASSENGER_NOT_FOUND)
    if found.merged:
        location = request.rel_url.path.replace(str(contact_id), str(found.id), 1)
        if request.rel_url.query_string:
            location += "?" + request.rel_url.query_string
        raise web.HTTPPermanentRedirect(location, text=json.dumps({
            "error": "this passenger was merged into another", "merged_into": str(found.id)}),
            content_type="application/json")
    return found.id


async def _card(request: web.Request, contact_id: uuid.UUID) -> dict[str, Any]:
    async with request.app[DATABASE].read() as conn:
        found = await card(conn, contact_id)
    if found is None:
        raise NotFound(ErrorCode.PASSENGER_NOT_FOUND)
    return found


async def search_contacts(request: web.Request) -> web.Response:
    """`?q=`: at least three characters of a number, an email address or a name. The audit
    names the passengers found, never what was typed (it may be a number)."""
    agent = await _team(request)
    q = request.query.get("q", "").strip()
    if len(q) < SEARCH_MIN_CHARS:
        raise BadInput(ErrorCode.QUERY_TOO_SHORT.of(min=SEARCH_MIN_CHARS), {"q": "too_short"})
    if len(q) > MAX_QUERY_CHARS:
        raise BadInput(ErrorCode.QUERY_TOO_LONG.of(max=MAX_QUERY_CHARS), {"q": "too_long"})
    async with request.app[DATABASE].read() as conn:
        found = await search(conn, q)
    await record_access(request, "read.contact_search", agent_id=agent.id, detail={
        "count": len(found), "contacts": [c["id"] for c in found[:AUDITED_RESULTS]]})
    return json_answer({"contacts": found})


async def get_contact(request: web.Request) -> web.Response:
    agent = await _team(request)
    contact_id = await _live_id(request)
    found = await _card(request, contact_id)
    await record_access(request, "read.contact", agent_id=agent.id, subject=str(contact_id))
    return json_answer({"contact": found})


async def get_timeline(request: web.Request) -> web.Response:
    agent = await _team(request)
    contact_id = await _live_id(request)
    q = request.query
    try:
        limit = int(q.get("limit", DEFAULT_LIMIT))
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_LIMIT:
        raise BadInput(ErrorCode.LIMIT_INVALID.of(max=MAX_LIMIT),
                       {"limit": "invalid"})
    before = None
    if q.get("before"):
        try:
            before = Cursor.parse(q["before"])
        except ValueError as exc:
            raise BadInput(ErrorCode.BEFORE_INVALID, {"before": "invalid"}) from exc
    async with request.app[DATABASE].read() as conn:
        page = await timeline(conn, contact_id, before=before, limit=limit)
    await record_access(request, "read.contact_timeline", agent_id=agent.id,
                        subject=str(contact_id), detail={"items": len(page.items)})
    return json_answer({"contact_id": str(contact_id), "items": page.items,
                              "next_before": page.next_before})


async def change_contact(request: web.Request) -> web.Response:
    """`{"name": "..."}` (null or empty clears it)."""
    agent = await _team(request)
    contact_id = _contact_id(request)
    body = await read_body(request, ContactName)
    await _changes(request).rename(contact_id, clean_name(body.name), agent)
    return json_answer({"contact": await _card(request, contact_id)})


async def merge_contact(request: web.Request) -> web.Response:
    """`{"into": "<contact id>"}`: this passenger is merged into that one, which survives."""
    agent = await _team(request)
    contact_id = _contact_id(request)
    into = (await read_body(request, Merge)).into
    merged = await _changes(request).merge(contact_id, into, agent)
    return json_answer({
        "contact": await _card(request, merged.survivor),
        "merged": {"id": str(contact_id), "into": str(merged.survivor),
                   "identities": merged.identities, "requests": merged.requests,
                   "announced": merged.announced}})


def routes() -> list[web.RouteDef]:
    # Any segment is routed here, so that even a malformed id is answered after the
    # session and role checks, in JSON.
    one = BASE + "/{contact_id:[^/]+}"
    return [
        web.get(BASE, search_contacts),
        web.get(one, get_contact),
        web.patch(one, change_contact),
        web.get(one + "/timeline", get_timeline),
        web.post(one + "/merge", merge_contact),
    ]
