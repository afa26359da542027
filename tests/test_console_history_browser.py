"""Searching every request from the console, in a real browser: yesterday's passenger calls
back, and the dispatcher finds the resolved request by the number as a Finn says it, by who
handled it, by day and by lane, then opens it (issue 15: search across all requests)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from playwright.async_api import Page, expect

from hub.appkeys import INGESTOR
from hub.model import Channel, InboundContact, Role
from tests.accessibility import assert_accessible
from tests.conftest import (
    DispatcherFactory,
    HubFactory,
    server_url,
)
from tests.test_console_browser import VIEWPORT, sign_in

# Mail goes to its own lane: the lane filter tells it from the text messages.
LOST = {"key": "lost-property", "name_fi": "Löytötavarat", "name_en": "Lost property",
        "position": 10}
MAIL_TO_LOST = {"lane": "lost-property", "channel": "email"}


@pytest.fixture
def page(laptop_page: Page) -> Page:
    return laptop_page


async def _ingest(client: TestClient[Any, Any], hours_ago: float, **fields: Any) -> str:
    contact = InboundContact(
        channel=fields.pop("channel", Channel.SMS), idempotency_key=f"t-{uuid.uuid4()}",
        received_at=datetime.now(UTC) - timedelta(hours=hours_ago), **fields)
    return str((await client.app[INGESTOR].submit(contact)).request_id)


async def test_a_resolved_request_is_found_by_number_agent_day_and_lane_and_opens(
    hub: HubFactory, make_agent: Any, dispatcher: DispatcherFactory, page: Page
) -> None:
    client = await hub()
    base = server_url(client)
    await make_agent(client, login="aino.v", name="Aino Välittäjä")
    colleague = await dispatcher(client, name="Pekka Kollega")
    admin = await dispatcher(client, role=Role.ADMIN, name="Admin")
    for path, body in [("lanes", LOST), ("routing-rules", MAIL_TO_LOST)]:
        async with admin.http.post(f"{base}/api/v1/admin/{path}", json=body) as response:
            assert response.status == 201, await response.text()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yesterday = await _ingest(client, 26, name="Maija Virtanen", phone="+358401234567",
                              body="Taksi Kamppiin huomenna")
    await _ingest(client, 0, channel=Channel.EMAIL, name="Emma Smith",
                  email="emma.smith@example.org", subject="Taxi for four", body="Hotel Kämp")
    for action in ("claim", "resolve"):
        async with colleague.http.post(
                f"{colleague.base}/api/v1/requests/{yesterday}/{action}") as response:
            assert response.status == 200, await response.text()
    reference = (await colleague.request(yesterday))["reference"]

    await sign_in(page, base, "aino.v")
    await page.get_by_test_id("history-open").click()
    dialog = page.get_by_test_id("history-dialog")
    await expect(dialog).to_be_visible()
    await page.get_by_test_id("history-words").fill("040 123 4567")
    await page.get_by_test_id("history-search").click()
    items = page.get_by_test_id("history-item")
    await expect(items).to_have_count(1)
    await expect(page.get_by_test_id("history-summary")).to_have_text("1 osuma")
    await expect(items.first).to_contain_text(reference)
    await expect(items.first).to_contain_text("Ratkaistu")
    await expect(items.first).to_contain_text("käsitteli Pekka Kollega")

    # Only what is open: yesterday's request is not among them.
    await page.get_by_test_id("history-status").select_option("open")
    await page.get_by_test_id("history-search").click()
    await expect(page.get_by_test_id("history-summary")).to_have_text("Ei osumia.")

    # Everything the colleague handled, of any status and words.
    await page.get_by_test_id("history-words").fill("")
    await page.get_by_test_id("history-status").select_option("any")
    await page.get_by_test_id("history-agent").select_option(label="Pekka Kollega")
    await page.get_by_test_id("history-search").click()
    await expect(items).to_have_count(1)

    # Today only: yesterday's case started before it; the whole of today is the other one.
    today = datetime.now().date().isoformat()
    await page.get_by_test_id("history-agent").select_option("")
    await page.get_by_test_id("history-from").fill(today)
    await page.get_by_test_id("history-to").fill(today)
    await page.get_by_test_id("history-search").click()
    await expect(items).to_have_count(1)
    await expect(items.first).to_contain_text("Emma Smith")
    await expect(page.get_by_test_id("history-summary")).to_have_text("1 osuma")

    # A start after the end is said, not sent.
    later = (datetime.now().date() + timedelta(days=1)).isoformat()
    await page.get_by_test_id("history-from").fill(later)
    await page.get_by_test_id("history-search").click()
    await expect(page.get_by_test_id("history-summary")).to_have_text(
        "Alkupäivä on loppupäivän jälkeen.")

    # Every request, newest case first: today's before yesterday's (the queue's order would
    # put the longest waiting first).
    await page.get_by_test_id("history-from").fill("")
    await page.get_by_test_id("history-to").fill("")
    await page.get_by_test_id("history-search").click()
    await expect(items).to_have_count(2)
    await expect(items.nth(0)).to_contain_text("Emma Smith")
    await expect(items.nth(1)).to_contain_text("Maija Virtanen")

    # By lane, among the lanes the queue's tabs show: the mail's lane, then the general one.
    lanes = page.get_by_test_id("history-lane")
    await expect(lanes.locator("option")).to_have_text(
        ["Kaikki jonot", "Yleinen", "Löytötavarat"])
    await lanes.select_option(label="Löytötavarat")
    await page.get_by_test_id("history-search").click()
    await expect(items).to_have_count(1)
    await expect(items.first).to_contain_text("Emma Smith")
    await assert_accessible(page, "Search all by lane")
    await lanes.select_option(label="Yleinen")
    await page.get_by_test_id("history-search").click()
    await expect(items).to_have_count(1)
    await expect(items.first).to_contain_text("Maija Virtanen")
    await lanes.select_option("")

    # The dialog fits the laptop's screen, and a result opens its request.
    await page.get_by_test_id("history-from").fill("")
    await page.get_by_test_id("history-to").fill("")
    await page.get_by_test_id("history-words").fill("Virtanen")
    await page.get_by_test_id("history-search").click()
    await expect(items).to_have_count(1)
    await expect(items.first).to_contain_text("Maija Virtanen")  # not the last search's row
    box = await dialog.bounding_box()
    assert box is not None
    assert box["x"] >= 0 and box["x"] + box["width"] <= VIEWPORT["width"]
    assert box["y"] >= 0 and box["y"] + box["height"] <= VIEWPORT["height"]
    await items.first.click()
    await expect(dialog).to_be_hidden()
    await expect(page.locator("#detail-reference")).to_have_text(reference)
    await expect(page.locator("#detail-status")).to_have_text("Ratkaistu")

    # In English, the words follow the language.
    await page.locator('.lang-btn[data-lang="en"]').click()
    await expect(page.get_by_test_id("history-open")).to_have_attribute(
        "aria-label", "Search all")
    await page.get_by_test_id("history-open").click()
    await page.get_by_test_id("history-search").click()
    await expect(page.get_by_test_id("history-summary")).to_have_text("1 result")
    await expect(page.get_by_test_id("history-lane").locator("option")).to_have_text(
        ["All lanes", "General", "Lost property"])
    assert errors == []
