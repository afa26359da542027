"""Lanes over HTTP: the console's list (with whether each is open now), the admins' lanes and
routing rules, and a dispatcher declining an offer."""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from dispatch.admin_api import BASE
from dispatch.appkeys import OFFERS
from dispatch.lane_input import lane_values, rule_values
from hub import audit, schema
from hub.agent_auth import current_agent, require_admin
from hub.appkeys import DATABASE, LANES
from hub.clock import utcnow
from hub.error_codes import ErrorCode
from hub.errors import BadInput, Conflict, Forbidden, NotFound
from hub.lane_book import lane_json, lane_of
from hub.lanes import DEFAULT, DEFAULT_LANE, LANE_KEY, Lane
from hub.model import OPEN_STATUSES, HandlingAction, Role
from hub.request_body import read_body
from hub.request_models import LaneSettings, NewLane, RoutingRuleInput

lanes_t, rules_t, r = schema.lanes, schema.routing_rules, schema.contact_requests


async def console_lanes(request: web.Request) -> web.Response:
    """The lanes a console shows as tabs, in order, with whether each is open now."""
    await current_agent(request)
    plan = await request.app[LANES].current()
    now = utcnow()
    found = sorted((lane for lane in plan.lanes.values() if lane.active),
                   key=lambda lane: (lane.position, lane.key))
    return web.json_response({"lanes": [_public(lane, now) for lane in found]})


async def list_lanes(request: web.Request) -> web.Response:
    await require_admin(request)
    async with request.app[DATABASE].read() as conn:
        rows = (await conn.execute(select(lanes_t).order_by(lanes_t.c.position,
                                                            lanes_t.c.key))).mappings().all()
        rules = (await conn.execute(select(rules_t).order_by(
            rules_t.c.position, rules_t.c.id))).mappings().all()
    now = utcnow()
    return web.json_response({"lanes": [_admin_lane(lane_of(row), now) for row in rows],
                              "rules": [_rule(row) for row in rules]})


async def add_lane(request: web.Request) -> web.Response:
    admin = await require_admin(request)
    body = await read_body(request, NewLane)
    values = {**lane_values(body, key=body.key), "updated_at": utcnow()}
    try:
        async with request.app[DATABASE].write() as conn:
            await conn.execute(insert(lanes_t), values)
            await audit.record(conn, "lane.add", agent_id=admin.id, subject=values["key"])
    except IntegrityError as exc:
        raise Conflict(ErrorCode.LANE_KEY_TAKEN.of(lane=values["key"]), {"key": "taken"}) from exc
    request.app[LANES].invalidate()
    return web.json_response({"lane": _admin_lane(lane_of(values), utcnow())}, status=201)


async def change_lane(request: web.Request) -> web.Response:
    admin = await require_admin(request)
    key = request.match_info["key"]
    if not LANE_KEY.match(key):
        raise BadInput(ErrorCode.LANE_KEY_FORMAT, {"key": "invalid"})
    values = {**lane_values(await read_body(request, LaneSettings), key=key),
              "updated_at": utcnow()}
    async with request.app[DATABASE].write() as conn:
        changed = await conn.execute(update(lanes_t).where(lanes_t.c.key == key).values(values))
        if changed.rowcount != 1:
            if key != DEFAULT_LANE:
                raise NotFound(ErrorCode.LANE_NOT_FOUND)
            await conn.execute(insert(lanes_t), values)
        await audit.record(conn, "lane.change", agent_id=admin.id, subject=key)
    request.app[LANES].invalidate()
    return web.json_response({"lane": _admin_lane(lane_of(values), utcnow())})


async def remove_lane(request: web.Request) -> web.Response:
    """A lane goes only when nothing waits in it; its rules go with it."""
    admin = await require_admin(request)
    key = request.match_info["key"]
    if key == DEFAULT_LANE:
        raise BadInput(ErrorCode.DEFAULT_LANE_KEPT)
    async with request.app[DATABASE].write() as conn:
        waiting = (await conn.execute(select(func.count()).where(
            r.c.lane == key, r.c.status.in_([s.value for s in OPEN_STATUSES])))).scalar_one()
        if waiting:
            raise Conflict(ErrorCode.LANE_NOT_EMPTY.of(count=waiting), {"open_requests": waiting})
        await conn.execute(delete(rules_t).where(rules_t.c.lane == key))
        await conn.execute(update(schema.canned_replies)
                           .where(schema.canned_replies.c.lane == key).values(lane=None))
        gone = await conn.execute(delete(lanes_t).where(lanes_t.c.key == key))
        if gone.rowcount != 1:
            raise NotFound(ErrorCode.LANE_NOT_FOUND)
        await audit.record(conn, "lane.remove", agent_id=admin.id, subject=key)
    request.app[LANES].invalidate()
    return web.Response(status=204)


async def add_rule(request: web.Request) -> web.Response:
    admin = await require_admin(request)
    values = {**rule_values(await read_body(request, RoutingRuleInput)), "id": uuid.uuid4(),
              "updated_at": utcnow()}
    async with request.app[DATABASE].write() as conn:
        await _lane_exists(conn, values["lane"])
        await conn.execute(insert(rules_t), values)
        await audit.record(conn, "routing_rule.add", agent_id=admin.id,
                           subject=str(values["id"]), detail={"lane": values["lane"]})
    request.app[LANES].invalidate()
    return web.json_response({"rule": _rule(values)}, status=201)


async def change_rule(request: web.Request) -> web.Response:
    admin = await require_admin(request)
    rule_id = _rule_id(request)
    values = {**rule_values(await read_body(request, RoutingRuleInput)), "updated_at": utcnow()}
    async with request.app[DATABASE].write() as conn:
        await _lane_exists(conn, values["lane"])
        changed = await conn.execute(update(rules_t).where(rules_t.c.id == rule_id)
                                     .values(values))
        if changed.rowcount != 1:
            raise NotFound(ErrorCode.RULE_NOT_FOUND)
        await audit.record(conn, "routing_rule.change", agent_id=admin.id,
                           subject=str(rule_id), detail={"lane": values["lane"]})
    request.app[LANES].invalidate()
    return web.json_response({"rule": _rule({**values, "id": rule_id})})


async def remove_rule(request: web.Request) -> web.Response:
    admin = await require_admin(request)
    rule_id = _rule_id(request)
    async with request.app[DATABASE].write() as conn:
        gone = await conn.execute(delete(rules_t).where(rules_t.c.id == rule_id))
        if gone.rowcount != 1:
            raise NotFound(ErrorCode.RULE_NOT_FOUND)
        await audit.record(conn, "routing_rule.remove", agent_id=admin.id,
                           subject=str(rule_id))
    request.app[LANES].invalidate()
    return web.Response(status=204)


async def decline_offer(request: web.Request) -> web.Response:
    """The offered dispatcher turns the request down: it moves on to the next one."""
    agent = await current_agent(request)
    if agent.role is Role.EXTERNAL:
        # Never offered anything: refused like a claim, saying nothing of the request.
        raise Forbidden(ErrorCode.EXTERNAL_ONLY_ASSIGNED)
    try:
        request_id = uuid.UUID(request.match_info["request_id"])
    except ValueError as exc:
        raise NotFound(ErrorCode.REQUEST_NOT_FOUND) from exc
    declined = await request.app[OFFERS].withdraw(request_id, agent.id, HandlingAction.DECLINE)
    if not declined:
        raise Conflict(ErrorCode.OFFER_NOT_YOURS)
    return web.json_response({"declined": True})


async def _lane_exists(conn: Any, key: str) -> None:
    found = (await conn.execute(select(lanes_t.c.key).where(lanes_t.c.key == key))).first()
    if found is None:
        raise BadInput(ErrorCode.LANE_UNKNOWN.of(lane=key), {"lane": "unknown"})


def _rule_id(request: web.Request) -> uuid.UUID:
    try:
        return uuid.UUID(request.match_info["rule_id"])
    except ValueError as exc:
        raise NotFound(ErrorCode.RULE_NOT_FOUND) from exc


def _public(lane: Lane, now: Any) -> dict[str, Any]:
    return {"key": lane.key, "name": {"fi": lane.name_fi, "en": lane.name_en},
            "position": lane.position, "priority": lane.priority,
            "strategy": lane.strategy.value, "target_wait_s": lane.target_wait_s,
            "open": lane.opening_hours.is_open(now)}


def _admin_lane(lane: Lane, now: Any) -> dict[str, Any]:
    return {**lane_json(lane), "open": lane.opening_hours.is_open(now),
            "is_default": lane.key == DEFAULT.key}


def _rule(row: Any) -> dict[str, Any]:
    return {"id": str(row["id"]), "position": row["position"], "lane": row["lane"],
            "channel": row["channel"], "contacted": row["contacted"],
            "keywords": list(row["keywords"] or []), "form": row["form"],
            "active": row["active"]}


def routes() -> list[web.RouteDef]:
    return [
        web.get("/api/v1/lanes", console_lanes),
        web.get(BASE + "/lanes", list_lanes),
        web.post(BASE + "/lanes", add_lane),
        web.put(BASE + "/lanes/{key}", change_lane),
        web.delete(BASE + "/lanes/{key}", remove_lane),
        web.get(BASE + "/routing-rules", list_lanes),
        web.post(BASE + "/routing-rules", add_rule),
        web.put(BASE + "/routing-rules/{rule_id}", change_rule),
        web.delete(BASE + "/routing-rules/{rule_id}", remove_rule),
        web.post("/api/v1/requests/{request_id}/decline", decline_offer),
    ]
