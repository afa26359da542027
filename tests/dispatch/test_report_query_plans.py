"""The reports and the wallboard read by index on SQLite: no scan of a table that grows with
the traffic, and report pages in index order (no sort of the period's requests per page), so
a year of requests is read in pages that each start where the last one ended."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from dispatch.report_facts import request_pages
from hub.appkeys import DATABASE
from hub.clock import utcnow
from hub.settings import Settings
from tests.conftest import DispatcherFactory, HubFactory
from tests.helpers import submit
from tests.hub.test_ingest_query_plans import Recorded, _scans, recorded

__all__ = ["recorded"]  # the fixture, shared with the ingest plans' test


def _sorts(database: str, statement: str, parameters: Any) -> list[str]:
    with sqlite3.connect(database) as conn:
        plan = conn.execute(f"EXPLAIN QUERY PLAN {statement}", parameters or ()).fetchall()
    return [row[3] for row in plan if "TEMP B-TREE FOR ORDER BY" in row[3]]


async def test_reports_and_wallboard_read_by_index_only(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings, recorded: Recorded
) -> None:
    url = make_url(settings.database.url.reveal())
    if url.get_backend_name() != "sqlite":
        pytest.skip("the plans checked are SQLite's; PostgreSQL plans by its statistics")
    client = await hub()
    agent = await dispatcher(client)
    for i in range(3):
        await submit(agent.http, agent.base, f"plan-report-{i:04d}", phone=f"040 555 03{i:02d}")
    with recorded.lock:
        recorded.statements.clear()
    today = utcnow().date()
    period = f"from={today - timedelta(days=1)}&to={today + timedelta(days=1)}"
    for path in (f"/api/v1/reports?{period}&by=agent", f"/api/v1/reports.csv?{period}",
                 f"/api/v1/reports/requests.csv?{period}", "/api/v1/wallboard"):
        async with agent.http.get(f"{agent.base}{path}") as resp:
            assert resp.status == 200, await resp.text()
    pages = [len(page) async for page in request_pages(  # pages of 2: the keyset's turn too
        client.app[DATABASE], utcnow() - timedelta(days=1), utcnow(), page=2)]
    assert pages == [2, 1]

    with recorded.lock:
        statements = dict(recorded.statements)
    read = [s for s in statements if "contact_requests" in s and "SELECT" in s]
    assert any("case_started_at >" in s or "case_started_at, contact_requests.number) >" in s
               for s in read), read
    problems = {s: _scans(url.database or "", s, p) for s, p in statements.items()
                if "SELECT" in s}
    assert not {s: found for s, found in problems.items() if found}
    sorted_pages = {s: _sorts(url.database or "", s, p) for s, p in statements.items()
                    if "case_started_at" in s and "ORDER BY" in s}
    assert not {s: found for s, found in sorted_pages.items() if found}
