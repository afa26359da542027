"""The request list by cursor, through GET /api/v1/requests: past 2,000 requests every one
comes exactly once in one stable order (priority, the longest waiting, the id), whatever the
page size; a cursor is refused with a reason when edited or used with other filters; `from`
and `to` bound the case start. Runs on SQLite, and on PostgreSQL with TEST_DATABASE_URL."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from aiohttp.test_utils import TestClient

from hub.appkeys import INGESTOR
from hub.model import Channel, InboundContact
from hub.settings import IngestSettings, Settings
from tests.conftest import DispatcherFactory, HubFactory
from tests.helpers import Dispatcher, order

MANY = 2100  # past the 2,000 the list used to stop at
CONCURRENCY = 64


async def _page(agent: Dispatcher, query: str) -> tuple[int, dict[str, Any]]:
    async with agent.http.get(f"{agent.base}/api/v1/requests?{query}") as resp:
        body: dict[str, Any] = await resp.json()
        return resp.status, body


async def _walk(agent: Dispatcher, query: str, limit: int) -> tuple[list[str], int]:
    """Every request of the list, page by page; and how many pages it took."""
    ids: list[str] = []
    cursor, pages = "", 0
    while True:
        after = f"&cursor={quote(cursor)}" if cursor else ""
        status, body = await _page(agent, f"{query}&limit={limit}{after}")
        assert status == 200, body
        pages += 1
        ids += [found["id"] for found in body["requests"]]
        if body["next_cursor"] is None:
            assert body["next"] is None
            return ids, pages
        assert len(body["requests"]) == limit
        cursor = body["next_cursor"]


async def _ingest(client: TestClient[Any, Any], at: datetime, phone: str) -> str:
    contact = InboundContact(channel=Channel.SMS, idempotency_key=f"t-{uuid.uuid4()}",
                             received_at=at, phone=phone, body="Taksi Kamppiin")
    return str((await client.app[INGESTOR].submit(contact)).request_id)


async def test_paging_past_two_thousand_yields_every_request_once_in_queue_order(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    client = await hub(dataclasses.replace(settings, ingest=IngestSettings(
        batch_max=256, max_pending=4000, max_in_flight=4000, max_wait_s=30.0)))
    anna = await dispatcher(client)
    semaphore = asyncio.Semaphore(CONCURRENCY)

    async def post(n: int) -> str:
        async with semaphore:
            response = await client.post("/api/v1/contact-requests", json=order(
                f"paging-{n:05d}", phone=f"+35845{n:07d}"))
            body = await response.json()
            assert response.status == 201, body
            return str(body["id"])

    created = set(await asyncio.gather(*(post(n) for n in range(MANY))))
    assert len(created) == MANY

    first, pages = await _walk(anna, "status=queued", 2000)
    assert pages == 2 and len(first) == MANY and set(first) == created
    # Another page size walks the same order, and the default list begins it.
    again, _ = await _walk(anna, "status=queued", 333)
    assert again == first
    status, default = await _page(anna, "")
    assert status == 200 and [found["id"] for found in default["requests"]] == first[:500]
    assert default["next_cursor"] and "cursor=" in default["next"]

    # The order is the queue's: priority, the longest waiting, then the id.
    status, whole = await _page(anna, "status=queued&limit=2000")
    rows = whole["requests"]
    assert rows == sorted(rows, key=lambda found: (
        -found["priority"], found["timings"]["case_started_at"], uuid.UUID(found["id"])))
    # Followed as given, the `next` link brings the page after.
    async with anna.http.get(f"{anna.base}{whole['next']}") as resp:
        rest = await resp.json()
    assert [found["id"] for found in rest["requests"]] == first[2000:]


async def test_statuses_and_dates_page_apart_and_together(
    hub: HubFactory, dispatcher: DispatcherFactory
) -> None:
    client = await hub()
    anna = await dispatcher(client)
    now = datetime.now(UTC)
    early = [await _ingest(client, now - timedelta(hours=3, minutes=n), f"+35840100{n:04d}")
             for n in range(12)]
    late = [await _ingest(client, now - timedelta(minutes=n), f"+35840200{n:04d}")
            for n in range(12)]
    for request_id in early[:5]:
        async with anna.http.post(f"{anna.base}/api/v1/requests/{request_id}/resolve") as r:
            assert r.status == 200, await r.text()
    for request_id in late[:3]:
        async with anna.http.post(f"{anna.base}/api/v1/requests/{request_id}/claim") as r:
            assert r.status == 200, await r.text()

    every, _ = await _walk(anna, "status=queued,claimed,resolved", 4)
    assert sorted(every) == sorted(early + late) and len(every) == len(set(every))
    open_, _ = await _walk(anna, "filter=all", 5)
    assert set(open_) == set(early[5:] + late)
    resolved, _ = await _walk(anna, "status=resolved", 2)
    assert set(resolved) == set(early[:5])

    split = quote((now - timedelta(hours=1)).isoformat())
    since, _ = await _walk(anna, f"status=queued,claimed,resolved&from={split}", 5)
    until, _ = await _walk(anna, f"status=queued,claimed,resolved&to={split}", 5)
    assert set(since) == set(late) and set(until) == set(early)
    assert until + since == every  # the longest waiting first: the early ones, then the rest
    status, body = await _page(anna, "to=2026-12-01T10:00:00")
    assert status == 400 and "offset" in body["error"]


async def test_an_edited_or_foreign_cursor_is_refused_with_a_reason(
    hub: HubFactory, dispatcher: DispatcherFactory
) -> None:
    client = await hub()
    anna = await dispatcher(client)
    now = datetime.now(UTC)
    for n in range(5):
        await _ingest(client, now - timedelta(minutes=n), f"+35840300{n:04d}")
    status, body = await _page(anna, "status=queued&limit=2")
    assert status == 200
    cursor = body["next_cursor"]
    payload, _, mac = cursor.partition(".")

    edited = payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB") + "." + mac
    for bad in (edited, payload, cursor[:-1], "not-a-cursor", "e30." + mac):
        status, body = await _page(anna, f"status=queued&limit=2&cursor={quote(bad)}")
        assert status == 400, (bad, body)
        assert "cursor is not one this list gave" in body["error"]
    # A cursor of one list does not page another: the place means nothing there.
    for other in ("status=queued,claimed", "status=queued&lane=airport", "filter=unassigned"):
        status, body = await _page(anna, f"{other}&limit=2&cursor={quote(cursor)}")
        assert status == 400 and "other filters" in body["error"], body
    # Another page size is the same list.
    status, body = await _page(anna, f"status=queued&limit=3&cursor={quote(cursor)}")
    assert status == 200 and len(body["requests"]) == 3 and body["next_cursor"] is None


async def test_newest_first_pages_every_status_by_case_start_descending(
    hub: HubFactory, dispatcher: DispatcherFactory
) -> None:
    client = await hub()
    anna = await dispatcher(client)
    now = datetime.now(UTC)
    # Two cases start at the very same instant: the request's number breaks the tie, so a
    # page boundary between them neither skips nor repeats one.
    same = now - timedelta(hours=2)
    started = [now - timedelta(hours=5, minutes=n) for n in range(4)] + [same, same] + [
        now - timedelta(minutes=n) for n in range(5)]
    made = [(at, await _ingest(client, at, f"+35840400{n:04d}"))
            for n, at in enumerate(started)]
    oldest = sorted(made)[:3]
    for _at, request_id in oldest:  # the oldest resolved, the newest held
        async with anna.http.post(f"{anna.base}/api/v1/requests/{request_id}/resolve") as r:
            assert r.status == 200, await r.text()
    async with anna.http.post(f"{anna.base}/api/v1/requests/{made[-1][1]}/claim") as r:
        assert r.status == 200, await r.text()

    everything = "status=queued,claimed,resolved&order=newest"
    for size in (1, 2, 3, 5):
        ids, pages = await _walk(anna, everything, size)
        assert len(ids) == len(made) and len(set(ids)) == len(made)
        assert pages == -(-len(made) // size)
        status, body = await _page(anna, f"{everything}&limit=50")
        listed = [(datetime.fromisoformat(found["timings"]["case_started_at"]), found["id"])
                  for found in body["requests"]]
        assert [i for _, i in listed] == ids
        assert [at for at, _ in listed] == sorted((at for at, _ in listed), reverse=True)
    assert ids[-3:] == [i for _, i in reversed(oldest)]
    # Only the resolved ones, newest of them first; a date range bounds it as ever.
    resolved, _ = await _walk(anna, "status=resolved&order=newest", 2)
    assert resolved == [i for _, i in reversed(oldest)]
    split = quote((now - timedelta(hours=1)).isoformat())
    recent, _ = await _walk(anna, f"{everything}&from={split}", 2)
    assert recent == [i for _, i in made[-5:]]  # started a minute apart, newest first
    # A cursor of the newest-first list does not page the queue's order, nor the reverse.
    status, body = await _page(anna, f"{everything}&limit=2")
    status, refused = await _page(
        anna, f"status=queued,claimed,resolved&limit=2&cursor={quote(body['next_cursor'])}")
    assert status == 400 and "other filters" in refused["error"]
    status, refused = await _page(anna, "order=oldest")
    assert status == 422 and refused["fields"] == {"order": "invalid"}
