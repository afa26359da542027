"""The wallboard's figures: per lane the queue length, the longest wait and today's service
level; the dispatchers available now. Read fresh on every ask (a wall screen asks every few
seconds); today is the centre's local day.

The queue is read through `ix_contact_requests_status_started`, today's requests through
`ix_contact_requests_started`; presence comes from Redis (hub.console_presence).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from dispatch.presence import PresenceBoard
from dispatch.report_facts import request_pages
from dispatch.report_figures import Tally, add_facts, new_report
from dispatch.report_period import Dimension, Period
from hub import schema
from hub.database import Database
from hub.model import RequestStatus

r = schema.contact_requests
lanes = schema.lanes


@dataclass(frozen=True, slots=True)
class Waiting:
    queued: int
    oldest: datetime | None  # the longest-waiting request's queued time


async def waiting(database: Database) -> dict[str, Waiting]:
    """Requests in the queue now, per lane."""
    since = func.min(func.coalesce(r.c.queued_at, r.c.case_started_at))
    async with database.read() as conn:
        rows = await conn.execute(
            select(r.c.lane, func.count(), since)
            .where(r.c.status == RequestStatus.QUEUED.value).group_by(r.c.lane))
        return {lane: Waiting(int(count), oldest) for lane, count, oldest in rows}


async def active_lanes(database: Database) -> list[dict[str, Any]]:
    async with database.read() as conn:
        rows = await conn.execute(
            select(lanes.c.key, lanes.c.name_fi, lanes.c.name_en, lanes.c.target_wait_s)
            .where(lanes.c.active).order_by(lanes.c.position, lanes.c.key))
        return [{"key": key, "name": {"fi": fi, "en": en}, "target_wait_s": int(target)}
                for key, fi, en, target in rows]


async def today(database: Database, zone: ZoneInfo, now: datetime,
                targets: dict[str, int]) -> dict[str, Tally]:
    """Today's requests per lane, each lane's service level against its own target."""
    first = now.astimezone(zone).date()
    report = new_report(Dimension.LANE, Period(first, first + timedelta(days=1), zone))
    async for page in request_pages(database, report.period.start, report.period.end):
        add_facts(report, page, targets, 60, now)
    return {group.key: tally for group, tally in report.groups.items()}


async def board(database: Database, presence: PresenceBoard, zone: ZoneInfo,
                now: datetime) -> dict[str, Any]:
    """The wallboard as JSON: lanes in their console order, then any other lane with
    requests waiting or taken today; the dispatchers available and online."""
    shown = await active_lanes(database)
    targets = {lane["key"]: lane["target_wait_s"] for lane in shown}
    queue = await waiting(database)
    day = await today(database, zone, now, targets)
    known = set(targets)
    shown += [{"key": key, "name": {"fi": key, "en": key}, "target_wait_s": 60}
              for key in sorted((set(queue) | set(day)) - known)]
    for lane in shown:
        now_waiting = queue.get(lane["key"], Waiting(0, None))
        figures = day.get(lane["key"], Tally()).figures()
        lane.update(
            queued=now_waiting.queued,
            longest_wait_s=(round((now - now_waiting.oldest).total_seconds(), 1)
                            if now_waiting.oldest is not None else None),
            contacts_today=figures["contacts"], answered_today=figures["answered"],
            service_level_pct=figures["service_level_pct"])
    people = await presence.entries()
    return {
        "at": now.isoformat(),
        "dispatchers": {"available": sum(p["state"] == "available" for p in people),
                        "online": sum(bool(p["online"]) for p in people)},
        "lanes": shown,
    }
