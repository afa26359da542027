"""The console's queue renders incrementally, seen through the page in Chromium.

A new request's event inserts its row and touches no other row (their nodes, down to the
channel pill and the status badge, stay the very same objects); a claim changes its own row
in place; a burst of 200 new requests is all shown; an offer's Accept button, clicked while
a burst arrives, claims the request; a row with keyboard focus keeps it while rows are
inserted above it; and the timeline tells an offer's story (offered, declined, run out)
in words.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from playwright.async_api import Browser, Page, expect

from hub.appkeys import INGESTOR
from hub.model import Channel, InboundContact, Role
from hub.settings import Settings
from tests.conftest import DispatcherFactory, HubFactory, server_url
from tests.test_console_browser import VIEWPORT, offer_item, queue_row, sign_in, submit_form

BURST = 200
ORDERS = {"key": "orders", "name_fi": "Tilaukset", "name_en": "Orders", "strategy": "offer",
          "offer_timeout_s": 60, "target_wait_s": 60}

# Marks each row and the nodes a full re-render would build anew, and records every change
# inside the table but the waiting times' ticking.
WATCH = """() => {
  const body = document.getElementById("queue-body");
  for (const tr of body.querySelectorAll("tr")) {
    const ref = tr.dataset.reference;
    tr.__mark = ref;
    tr.querySelector(".channel").__mark = ref;
    tr.querySelector(".col-status .badge").__mark = ref;
  }
  window.__changes = [];
  window.__watch?.disconnect();
  window.__watch = new MutationObserver((records) => {
    for (const record of records) {
      const node = record.target.nodeType === 1 ? record.target : record.target.parentElement;
      if (node.closest("td.col-wait")) continue;
      window.__changes.push({
        row: node.closest("tr")?.dataset.reference ?? null,
        added: [...record.addedNodes].map((n) => n.dataset?.reference ?? n.nodeName),
        removed: [...record.removedNodes].map((n) => n.dataset?.reference ?? n.nodeName),
      });
    }
  });
  window.__watch.observe(body, { childList: true, subtree: true, attributes: true,
                                 characterData: true });
}"""

# The references of the rows whose marked nodes are still the ones marked.
KEPT = """() => [...document.querySelectorAll("#queue-body tr")].filter((tr) => {
  const ref = tr.dataset.reference;
  return tr.__mark === ref && tr.querySelector(".channel").__mark === ref
    && tr.querySelector(".col-status .badge").__mark === ref;
}).map((tr) => tr.dataset.reference)"""


@pytest.fixture
async def page(hub: HubFactory, browser: Browser) -> AsyncIterator[Page]:
    """A console page; the browser closes before the hub stops (it is set up after it)."""
    context = await browser.new_context(locale="fi-FI", viewport=VIEWPORT)
    try:
        yield await context.new_page()
    finally:
        await context.close()


async def _ingest(client: TestClient[Any, Any], seconds_ago: float, phone: str,
                  body: str = "Taksi asemalle") -> str:
    contact = InboundContact(
        channel=Channel.SMS, idempotency_key=f"t-{uuid.uuid4()}", phone=phone, body=body,
        received_at=datetime.now(UTC) - timedelta(seconds=seconds_ago))
    return (await client.app[INGESTOR].submit(contact)).reference


async def _burst(client: TestClient[Any, Any], count: int) -> list[str]:
    """`count` new requests from as many passengers, as fast as the hub takes them."""
    return list(await asyncio.gather(*(
        _ingest(client, 0, f"+35840{7000000 + n}", f"Taksi {n}") for n in range(count))))


async def _refs(page: Page) -> list[str]:
    found: list[str] = await page.get_by_test_id("queue-row").evaluate_all(
        "rows => rows.map(row => row.dataset.reference)")
    return found


async def _changed_rows(page: Page) -> set[str | None]:
    changes: list[dict[str, Any]] = await page.evaluate("window.__changes")
    return {change["row"] for change in changes}


async def test_an_event_touches_only_its_own_row_and_a_burst_is_all_shown(
    hub: HubFactory, make_agent: Any, page: Page
) -> None:
    client = await hub()
    base = server_url(client)
    me = await make_agent(client, name="Aino Välittäjä")
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    earlier = [await _ingest(client, 600 - 100 * n, f"+35840111{n:04d}") for n in range(4)]
    await sign_in(page, base, me.login)
    rows = page.get_by_test_id("queue-row")
    await expect(rows).to_have_count(4)
    assert await _refs(page) == earlier
    await page.evaluate(WATCH)

    # A new request: its row is inserted (last: it waited least); no other row is touched.
    fresh = await submit_form(client, {"name": "Ville Live", "phone": "040 765 4321",
                                       "message": "Taksi Pasilaan"})
    await expect(queue_row(page, fresh)).to_contain_text("Ville Live")
    assert await _refs(page) == [*earlier, fresh]
    assert await page.evaluate(KEPT) == earlier
    changes: list[dict[str, Any]] = await page.evaluate("window.__changes")
    assert [(c["added"], c["removed"]) for c in changes if c["row"] is None] == [([fresh], [])]
    assert await _changed_rows(page) <= {None, fresh}

    # A claim changes its own row in place: the same nodes, the new status and holder.
    await page.evaluate(WATCH)
    claimed = earlier[1]
    request_id = await queue_row(page, claimed).get_attribute("data-request-id")
    assert (await page.request.post(f"{base}/api/v1/requests/{request_id}/claim")).ok
    row = queue_row(page, claimed)
    await expect(row).to_have_attribute("data-status", "claimed")
    await expect(row.locator(".col-status .badge")).to_have_text("Käsittelyssä")
    await expect(row.locator("td.col-agent")).to_have_text("Aino Välittäjä")
    await expect(page.locator("#count-mine")).to_have_text("1")
    assert await page.evaluate(KEPT) == [*earlier, fresh]
    assert await _changed_rows(page) == {claimed}

    # A row with keyboard focus keeps it while a request that waited longer goes above it.
    await queue_row(page, earlier[2]).locator(".row-open").focus()
    older = await _ingest(client, 3600, "+358401119999")
    await expect(rows.first).to_have_attribute("data-reference", older)
    await expect(queue_row(page, earlier[2]).locator(".row-open")).to_be_focused()

    # A burst: every request is shown, in the queue's order, and counted.
    burst = await _burst(client, BURST)
    total = len(earlier) + 2 + BURST
    await expect(rows).to_have_count(total, timeout=30_000)
    await expect(page.locator("#count-all")).to_have_text(str(total))
    shown = await _refs(page)
    assert set(burst) <= set(shown)
    assert shown[:len(earlier) + 2] == [older, *earlier, fresh]
    await expect(queue_row(page, earlier[2]).locator(".row-open")).to_be_focused()
    assert errors == []


async def test_an_offer_is_accepted_while_a_burst_arrives(
    hub: HubFactory, make_agent: Any, dispatcher: DispatcherFactory, settings: Settings,
    page: Page
) -> None:
    client = await hub(dataclasses.replace(settings, queue=dataclasses.replace(
        settings.queue, offer_check_s=0.1)))
    base = server_url(client)
    admin = await dispatcher(client, role=Role.ADMIN, name="Admin")
    for path, body in [("lanes", ORDERS), ("routing-rules", {"lane": "orders",
                                                             "channel": "webform"})]:
        async with admin.http.post(f"{base}/api/v1/admin/{path}", json=body) as resp:
            assert resp.status == 201, await resp.text()
    me = await make_agent(client, name="Aino Välittäjä")
    await sign_in(page, base, me.login)
    offered = await submit_form(client, {"phone": "040 111 4444", "message": "Taksi satamaan"})
    row = queue_row(page, offered)
    await expect(row).to_have_attribute("data-offer", "mine")

    # The burst goes to the general lane (no offers there); Accept is clicked mid-burst.
    burst = asyncio.create_task(_burst(client, BURST))
    try:
        lanes_all = page.get_by_test_id("lane-all").get_by_test_id("lane-count")
        await expect(lanes_all).not_to_have_text("1")  # the burst has begun to arrive
        await offer_item(page, offered).get_by_test_id("offer-accept").click()
        await expect(page.get_by_test_id("detail-reference")).to_have_text(offered)
        await expect(row).to_have_attribute("data-status", "claimed")
        await expect(row.locator("td.col-agent")).to_have_text("Aino Välittäjä")
    finally:
        await burst
    await expect(page.get_by_test_id("queue-row")).to_have_count(1 + BURST, timeout=30_000)

    # The timeline tells the offer's story in words, in Finnish and in English.
    handling = page.get_by_test_id("timeline-handling")
    await expect(handling.filter(has_text="sai pyynnön tarjouksena")).to_have_count(1)
    await expect(handling.filter(has_text="otti käsittelyyn")).to_have_count(1)
    await page.get_by_test_id("lang-en").click()
    await expect(handling.filter(has_text="was offered the request")).to_have_count(1)

    # Declined, and offered no more: the decline is told too.
    second = await submit_form(client, {"phone": "040 111 5555", "message": "Taksi"})
    row = queue_row(page, second)
    await expect(row).to_have_attribute("data-offer", "mine")
    await offer_item(page, second).get_by_test_id("offer-decline").click()
    await expect(row).not_to_have_attribute("data-offer", "mine")
    await row.locator(".row-open").click()
    await expect(page.get_by_test_id("detail-reference")).to_have_text(second)
    await expect(handling.filter(has_text="declined the offered request")).to_have_count(1)
    await page.get_by_test_id("lang-fi").click()
    await expect(handling.filter(has_text="hylkäsi tarjotun pyynnön")).to_have_count(1)

    # An offer to a dispatcher who stops being available runs out: told as not taken in time.
    third = await submit_form(client, {"phone": "040 111 6666", "message": "Taksi asemalle"})
    row = queue_row(page, third)
    await expect(row).to_have_attribute("data-offer", "mine")
    await page.get_by_test_id("presence-state").select_option("busy")
    await expect(row).to_have_attribute("data-offer", "none")
    await row.locator(".row-open").click()
    await expect(page.get_by_test_id("detail-reference")).to_have_text(third)
    await expect(handling.filter(has_text="ei ottanut tarjottua pyyntöä ajoissa")
                 ).to_have_count(1)
