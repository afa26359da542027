"""The lanes and routing rules in force, read from the database and kept for a few seconds.

Ingest asks for the plan once per batch; a change an admin makes on any hub process is in
force everywhere within `REFRESH_S` (at once on the process that made it). The plan is
reloaded in the background (hub.refreshing): no batch waits for it.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, TypedDict

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from hub import schema
from hub.clock import utcnow
from hub.database import Database
from hub.json_types import JsonObject
from hub.lanes import (
    DEFAULT,
    DEFAULT_LANE,
    EMPTY_PLAN,
    Lane,
    LanePlan,
    RoutingRule,
    Strategy,
    parse_opening_hours,
)
from hub.model import Channel
from hub.refreshing import Refreshing

log = logging.getLogger(__name__)

REFRESH_S = 5.0


class LaneBook:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._plan: Refreshing[LanePlan] = Refreshing("lanes", self._load, EMPTY_PLAN,
                                                      max_age_s=REFRESH_S)

    def __repr__(self) -> str:
        plan = self._plan.value
        return f"<LaneBook lanes={len(plan.lanes)} rules={len(plan.rules)}>"

    async def current(self) -> LanePlan:
        return await self._plan.get()

    def invalidate(self) -> None:
        self._plan.invalidate()

    async def close(self) -> None:
        await self._plan.close()

    async def _load(self) -> LanePlan:
        async with self._db.read() as conn:
            return await load_plan(conn)

    async def ensure_default(self) -> None:
        """The default lane exists as a row, so rules and canned replies can name it."""
        async with self._db.read() as conn:
            found = (await conn.execute(select(schema.lanes.c.key).where(
                schema.lanes.c.key == DEFAULT_LANE))).first()
        if found is not None:
            return
        try:
            async with self._db.write() as conn:
                await conn.execute(insert(schema.lanes), lane_row(DEFAULT))
        except IntegrityError:
            pass  # another process created it first


async def load_plan(conn: AsyncConnection) -> LanePlan:
    lanes = {row["key"]: lane_of(row) for row in
             (await conn.execute(select(schema.lanes))).mappings()}
    lanes.setdefault(DEFAULT_LANE, DEFAULT)
    rules = [rule_of(row) for row in (await conn.execute(
        select(schema.routing_rules).order_by(schema.routing_rules.c.position,
                                              schema.routing_rules.c.id))).mappings()]
    return LanePlan(lanes, rules)


def lane_of(row: Any) -> Lane:
    try:
        hours = parse_opening_hours(row["opening_hours"])
    except ValueError:
        log.error("lane %s has unreadable opening hours; treated as always open", row["key"])
        hours = parse_opening_hours(None)
    return Lane(
        key=row["key"], name_fi=row["name_fi"], name_en=row["name_en"],
        position=row["position"], priority=row["priority"],
        strategy=Strategy(row["strategy"]), offer_timeout_s=row["offer_timeout_s"],
        last_agent_window_s=row["last_agent_window_s"], capacity=row["capacity"],
        target_wait_s=row["target_wait_s"], opening_hours=hours, active=row["active"],
    )


def rule_of(row: Any) -> RoutingRule:
    return RoutingRule(
        id=str(row["id"]), lane=row["lane"], position=row["position"],
        channel=Channel(row["channel"]) if row["channel"] else None,
        contacted=row["contacted"], keywords=tuple(row["keywords"] or ()), form=row["form"],
        active=row["active"],
    )


class LaneJson(TypedDict):
    """A lane as the admin pages see it: its columns, as they are stored."""

    key: str
    name_fi: str
    name_en: str
    position: int
    priority: int
    strategy: str
    offer_timeout_s: int
    last_agent_window_s: int
    capacity: int
    target_wait_s: int
    opening_hours: JsonObject
    active: bool


class LaneRow(LaneJson):
    updated_at: datetime


def lane_json(lane: Lane) -> LaneJson:
    return {
        "key": lane.key, "name_fi": lane.name_fi, "name_en": lane.name_en,
        "position": lane.position, "priority": lane.priority, "strategy": lane.strategy.value,
        "offer_timeout_s": lane.offer_timeout_s,
        "last_agent_window_s": lane.last_agent_window_s, "capacity": lane.capacity,
        "target_wait_s": lane.target_wait_s, "opening_hours": lane.opening_hours.to_json(),
        "active": lane.active,
    }


def lane_row(lane: Lane) -> LaneRow:
    """The lane's values for the lanes table."""
    return {**lane_json(lane), "updated_at": utcnow()}
