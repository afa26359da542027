"""The reports the API gives are counted by the database (dispatch.report_counts); the Python
count over every request's facts (dispatch.report_facts + dispatch.report_figures) is the
reference. Over a seeded, varied fortnight (every channel and status, timings missing,
waits on a lane's target to the microsecond and a microsecond past it, fractions that
SQLite's millisecond clock would round up, missed calls answered or not, callbacks made in
time, late or not yet due, requests with no agent or a lane the hub no longer has, rows at
the period's edges and at a daylight-saving change), every grouping's figures from
GET /api/v1/reports must equal the reference's exactly, in a zone with whole-hour offsets
and in one whose daylight saving moves the clock half an hour. Runs on SQLite, and on
PostgreSQL with TEST_DATABASE_URL."""

from __future__ import annotations

import dataclasses
import random
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert

from dispatch.report_facts import lane_facts, request_pages
from dispatch.report_figures import DEFAULT_SERVICE_LEVEL_S, add_facts, new_report
from dispatch.report_local import spans
from dispatch.report_period import Dimension, Period
from hub import schema
from hub.appkeys import DATABASE
from hub.clock import utcnow
from hub.database import Database
from hub.epoch import timing_copies
from hub.model import Role
from hub.settings import Settings
from tests.conftest import DispatcherFactory, HubFactory
from tests.helpers import Dispatcher

FIRST, AFTER = date(2026, 3, 27), date(2026, 4, 7)  # Helsinki's and Lord Howe's changes
ORDERS_TARGET_S = 10
US = timedelta(microseconds=1)


def _wait(rng: random.Random) -> timedelta | None:
    return rng.choice([
        None, timedelta(seconds=ORDERS_TARGET_S), timedelta(seconds=ORDERS_TARGET_S) + US,
        timedelta(seconds=60), timedelta(seconds=60) + US, timedelta(0),
        timedelta(seconds=-0.5),  # taken before it was queued: a clock between processes
        timedelta(seconds=rng.randrange(200), microseconds=999_600 + rng.randrange(400)),
        timedelta(microseconds=rng.randrange(300_000_000)),
        timedelta(microseconds=rng.randrange(300_000_000)),
    ])


def _instants(rng: random.Random, period: Period, count: int) -> list[datetime]:
    """Random instants over the period, and its edges and offset changes to the
    microsecond."""
    span_us = (period.end - period.start) // US
    found = [period.start + US * rng.randrange(span_us) for _ in range(count)]
    edges = [period.start, period.end - US]
    for change in spans(period.zone, period.start, period.end)[1:]:
        edges += [change.since - US, change.since]
    return found + edges


def _rows(rng: random.Random, period: Period, contact: uuid.UUID,
          agents: list[uuid.UUID | None]) -> tuple[list[dict[str, Any]], list[uuid.UUID]]:
    """Requests over the period, and the ids of those whose missed call was answered
    later."""
    rows, answered_calls = [], []
    for n, at in enumerate(_instants(rng, period, 400)):
        channel = rng.choice(("phone", "sms", "webform", "email", "chat"))
        status = rng.choice(("queued", "claimed", "resolved", "resolved"))
        queued = at + US * rng.randrange(2_000_000) if rng.random() < 0.9 else None
        wait = _wait(rng)
        service = (queued or at) + wait if wait is not None else None
        first = (service or at) + US * rng.randrange(90_000_000) if rng.random() < 0.6 \
            else None
        ended = (service or at) + US * rng.randrange(900_000_000) \
            if status == "resolved" else None
        missed = rng.choice((0, 0, 1, 2)) if channel == "phone" else 0
        due = called = done = None
        if missed or rng.random() < 0.2:
            due = rng.choice((at + timedelta(minutes=15), datetime(2099, 1, 1, tzinfo=UTC)))
            called = rng.choice((None, at + timedelta(minutes=5), at + timedelta(minutes=30)))
            done = rng.choice((None, None, at + timedelta(minutes=10),
                               at + timedelta(minutes=40)))
        request_id = uuid.uuid4()
        if missed and rng.random() < 0.4:
            answered_calls.append(request_id)
        rows.append({
            "id": request_id, "number": n + 1, "reference": f"R{n + 1}",
            "contact_id": contact, "channel": channel, "status": status,
            "lane": rng.choice(("default", "orders", "gone")), "priority": 0, "details": {},
            "case_started_at": at, "queued_at": queued, "service_started_at": service,
            "first_response_at": first, "ended_at": ended, "last_message_at": at,
            "preview": "", "updated_at": at, "last_agent_id": rng.choice(agents),
            "missed_calls": missed, "callback_attempts": 0,
            "callback": "requested" if due else None, "callback_due_at": due,
            "callback_called_at": called, "callback_done_at": done,
        })
    return rows, answered_calls


async def _seed(database: Database, period: Period) -> None:
    rng = random.Random(14)
    contact = uuid.uuid4()
    agents = [uuid.uuid4() for _ in range(3)]
    rows, answered = _rows(rng, period, contact, [None, *agents])
    at = period.start
    async with database.write() as conn:
        await conn.execute(insert(schema.contacts), {
            "id": contact, "name": None, "created_at": at, "updated_at": at})
        await conn.execute(insert(schema.agents), [{
            "id": agent, "login": f"counts{n}", "role": "team", "password_hash": "-",
            "name": "=SUM(A1)" if n == 0 else f"Ajaja {n}", "active": True,
            "created_at": at, "updated_at": at} for n, agent in enumerate(agents)])
        await conn.execute(insert(schema.contact_requests),
                           [row | timing_copies(row) for row in rows])
        for n, request_id in enumerate(answered):
            message = uuid.uuid4()
            await conn.execute(insert(schema.messages), {
                "id": message, "request_id": request_id, "channel": "phone",
                "direction": "in", "body": "", "details": {}, "created_at": at})
            await conn.execute(insert(schema.calls), {
                "id": uuid.uuid4(), "provider": "cti", "call_key": f"counts-{n}",
                "direction": "out", "caller": "+358401110000", "called": "+358401110001",
                "state": "ended", "request_id": request_id, "message_id": message,
                "started_at": at, "answered_at": at, "ended_at": at, "updated_at": at})


async def reference_report(database: Database, by: Dimension, period: Period,
                     service_level_s: int | None) -> dict[str, Any]:
    """The report as the API words it, counted in Python over every request's facts."""
    lanes = await lane_facts(database)
    thresholds = {} if service_level_s is not None else {
        key: lane.target_wait_s for key, lane in lanes.items()}
    report = new_report(by, period)
    async for page in request_pages(database, period.start, period.end):
        add_facts(report, page, thresholds, service_level_s or DEFAULT_SERVICE_LEVEL_S,
                  utcnow())
    return {"rows": [{"key": group.key, "label": group.label, **figures}
                     for group, figures in report.rows()],
            "totals": report.total().figures(),
            "first_response_by_channel": report.first_response_by_channel()}


async def _lane(admin: Dispatcher) -> None:
    async with admin.http.post(f"{admin.base}/api/v1/admin/lanes", json={
            "key": "orders", "name_fi": "Tilaukset", "name_en": "Orders",
            "target_wait_s": ORDERS_TARGET_S}) as resp:
        assert resp.status == 201, await resp.text()


@pytest.mark.parametrize("zone", ["Europe/Helsinki", "Australia/Lord_Howe"])
async def test_figures_counted_by_the_database_equal_the_python_count(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings, zone: str
) -> None:
    client = await hub(dataclasses.replace(settings, timezone=zone))
    admin = await dispatcher(client, role=Role.ADMIN)
    await _lane(admin)
    database = client.app[DATABASE]
    period = Period(FIRST, AFTER, ZoneInfo(zone))
    assert len(spans(period.zone, period.start, period.end)) == 2  # one change in it
    await _seed(database, period)

    for by in Dimension:
        for level in (None, ORDERS_TARGET_S):
            query = f"from={FIRST}&to={AFTER}&by={by.value}" + (
                f"&service_level_s={level}" if level is not None else "")
            async with admin.http.get(f"{admin.base}/api/v1/reports?{query}") as resp:
                assert resp.status == 200, await resp.text()
                got = await resp.json()
            want = await reference_report(database, by, period, level)
            assert got["totals"]["contacts"] == 404  # 400 and the four edges
            for name in ("totals", "first_response_by_channel"):
                assert got[name] == want[name], (by, level, name)
            assert len(got["rows"]) == len(want["rows"]), (by, level)
            for row, expected in zip(got["rows"], want["rows"], strict=True):
                assert row == expected, (by, level)
