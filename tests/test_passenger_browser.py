"""The passenger in a real browser: a dispatcher opens a request, sees the passenger's card
with their previous request and last pickup address, opens the whole history, names the
passenger inline, and merges the same person's other number into them; the card then shows
both numbers, and so does every console through the hub's events.

With TAXICONNECT_SCREENSHOTS=1 the test also saves docs/passenger.png (the card and the
whole history) and docs/passenger-merge.png (the merge question).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from playwright.async_api import Page, async_playwright, expect

from hub.appkeys import INGESTOR
from hub.model import Channel, InboundContact
from tests.conftest import (
    CHROMIUM,
    CHROMIUM_ARGS,
    PASSWORD,
    HubFactory,
    log_in,
    require_chromium,
    server_url,
)

VIEWPORT = {"width": 1366, "height": 768}
DOCS = Path(__file__).resolve().parents[1] / "docs"
AINO = "+358401234567"
AINO_WORK = "+358505550101"
# As the console shows Finnish numbers (web/console/phone.js): national, in groups.
AINO_SHOWN = "040 123 4567"
AINO_WORK_SHOWN = "050 555 0101"


@pytest.fixture
async def page(hub: HubFactory) -> AsyncIterator[Page]:
    require_chromium()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            context = await browser.new_context(locale="fi-FI", viewport=VIEWPORT)
            yield await context.new_page()
        finally:
            await browser.close()


async def _ingest(client: TestClient[Any, Any], minutes_ago: int, **fields: Any) -> str:
    result = await client.app[INGESTOR].submit(InboundContact(
        idempotency_key=f"test-{uuid.uuid4()}",
        received_at=datetime.now(UTC) - timedelta(minutes=minutes_ago), **fields))
    return str(result.reference)


async def _resolve(client: TestClient[Any, Any], reference: str) -> None:
    response = await client.get("/api/v1/requests?status=queued")
    [found] = [r for r in (await response.json())["requests"] if r["reference"] == reference]
    response = await client.post(f"/api/v1/requests/{found['id']}/resolve")
    assert response.status == 200, await response.text()


async def _screenshot(page: Page, name: str) -> None:
    if os.environ.get("TAXICONNECT_SCREENSHOTS") == "1":
        await page.screenshot(path=str(DOCS / name))


async def test_dispatcher_sees_the_card_and_merges_two_passengers(
    hub: HubFactory, make_agent: Any, page: Page
) -> None:
    client = await hub()
    base = server_url(client)
    dispatcher = await make_agent(client, login="aino.v", name="Aino Välittäjä")
    earlier = await _ingest(
        client, 3 * 24 * 60, channel=Channel.WEBFORM, name="Aino Virtanen", phone=AINO,
        body="Taksi lentokentälle", details={"pickup_address": "Kampinkuja 2, Helsinki"})
    await log_in(client, dispatcher.login)
    await _resolve(client, earlier)
    today = await _ingest(client, 5, channel=Channel.SMS, phone=AINO,
                          body="Taksi taas Kamppiin?")
    work = await _ingest(client, 2, channel=Channel.SMS, phone=AINO_WORK,
                         body="Aino tässä, työnumerosta. Peruuta äskeinen.")
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    await page.goto(f"{base}/console")
    await page.get_by_test_id("login-user").fill(dispatcher.login)
    await page.get_by_test_id("login-password").fill(PASSWORD)
    await page.get_by_test_id("login-submit").click()
    await expect(page.get_by_test_id("connection-state")).to_have_attribute(
        "data-state", "live")
    today_row = page.locator(f'[data-testid="queue-row"][data-reference="{today}"]')
    work_row = page.locator(f'[data-testid="queue-row"][data-reference="{work}"]')
    await today_row.click()
    await expect(page.get_by_test_id("detail-reference")).to_have_text(today)

    # The card: the previous request (resolved, by whom) and where Aino was picked up.
    previous = page.get_by_test_id("passenger-previous-request")
    await expect(previous).to_have_count(1)
    await expect(previous).to_have_attribute("data-reference", earlier)
    await expect(previous).to_contain_text("Ratkaistu")
    await expect(previous).to_contain_text("Aino Välittäjä")
    await expect(page.get_by_test_id("passenger-pickup")).to_contain_text(
        "Kampinkuja 2, Helsinki")

    # The previous request opens on a click; back to today's.
    await previous.get_by_role("button").click()
    await expect(page.get_by_test_id("detail-reference")).to_have_text(earlier)
    await expect(page.get_by_test_id("passenger-previous-request")).to_have_attribute(
        "data-reference", today)
    await today_row.click()
    await expect(page.get_by_test_id("detail-reference")).to_have_text(today)

    # The whole history: both requests, each item tagged with its request and channel.
    await page.get_by_test_id("passenger-whole-history").click()
    await expect(page.get_by_test_id("timeline")).to_be_hidden()
    items = page.get_by_test_id("passenger-timeline-item")
    await expect(items).to_have_count(3)  # newest first: the resolve came last
    assert await items.evaluate_all(
        "items => items.map(i => [i.dataset.kind, i.dataset.reference, i.dataset.channel])") \
        == [["event", earlier, "webform"], ["message", today, "sms"],
            ["message", earlier, "webform"]]
    await expect(items.nth(2)).to_contain_text("Taksi lentokentälle")
    await _screenshot(page, "passenger.png")
    await page.get_by_test_id("passenger-whole-history").click()
    await expect(page.get_by_test_id("timeline")).to_be_visible()

    # The name, edited inline.
    await page.get_by_test_id("passenger-name-edit").click()
    await page.get_by_test_id("passenger-name-input").fill("Aino Virtanen-Laine")
    await page.get_by_test_id("passenger-name-input").press("Enter")
    await expect(page.get_by_test_id("passenger-name")).to_have_text("Aino Virtanen-Laine")
    await expect(today_row).to_contain_text("Aino Virtanen-Laine")

    # Merge the work number's passenger into Aino, after saying yes.
    await page.get_by_test_id("passenger-merge-open").click()
    await page.get_by_test_id("passenger-merge-search").fill("050 555")
    result = page.get_by_test_id("passenger-merge-result")
    await expect(result).to_have_count(1)
    await expect(result).to_contain_text(AINO_WORK_SHOWN)
    await result.get_by_test_id("passenger-merge-choose").click()
    await expect(page.get_by_test_id("passenger-merge-question")).to_contain_text(AINO_WORK_SHOWN)
    await _screenshot(page, "passenger-merge.png")
    await page.get_by_test_id("passenger-merge-confirm").click()
    await expect(page.get_by_test_id("passenger-merge")).to_be_hidden()
    await expect(page.get_by_test_id("passenger-phones")).to_have_text(AINO_SHOWN + AINO_WORK_SHOWN)
    await expect(page.get_by_test_id("passenger-previous-request")).to_have_count(2)
    await expect(work_row).to_contain_text("Aino Virtanen-Laine")

    # The other request now shows the same passenger, both numbers, in English too.
    await work_row.click()
    await expect(page.get_by_test_id("detail-reference")).to_have_text(work)
    await expect(page.get_by_test_id("passenger-name")).to_have_text("Aino Virtanen-Laine")
    await expect(page.get_by_test_id("passenger-phones")).to_have_text(AINO_SHOWN + AINO_WORK_SHOWN)
    await page.get_by_test_id("lang-en").click()
    await expect(page.get_by_test_id("passenger-merge-open")).to_have_text("Merge with…")
    await expect(page.get_by_test_id("passenger-whole-history")).to_have_text("Whole history")
    assert errors == []
