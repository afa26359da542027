"""Presence in two real browsers: a colleague's chosen state shows live, and when their
console closes, their unanswered request is back in the queue after the grace period."""

from __future__ import annotations

import dataclasses
from typing import Any

from playwright.async_api import Browser, expect

from hub.settings import ConsoleSettings, Settings
from tests.conftest import HubFactory, server_url
from tests.test_console_browser import VIEWPORT, queue_row, sign_in, submit_form


async def test_colleague_sees_away_live_and_gets_the_request_back_when_the_console_goes(
    hub: HubFactory, make_agent: Any, browser: Browser, settings: Settings
) -> None:
    client = await hub(dataclasses.replace(settings, console=ConsoleSettings(
        presence_grace_s=1.0, presence_check_s=0.1)))
    base = server_url(client)
    anna = await make_agent(client, login="anna.a", name="Anna Aamuvuoro")
    await make_agent(client, login="ben.b", name="Ben Iltavuoro")
    errors: list[str] = []

    context_a = await browser.new_context(locale="fi-FI", viewport=VIEWPORT)
    context_b = await browser.new_context(locale="fi-FI", viewport=VIEWPORT)
    page_a, page_b = await context_a.new_page(), await context_b.new_page()
    for page in (page_a, page_b):
        page.on("pageerror", lambda exc: errors.append(str(exc)))
    await sign_in(page_a, base, "anna.a")
    await sign_in(page_b, base, "ben.b")

    reference = await submit_form(client, {"name": "Aino Virtanen", "phone": "040 765 4321",
                                           "message": "Taksi Kamppiin"})
    row = queue_row(page_b, reference)
    await expect(row).to_have_attribute("data-status", "queued")
    request_id = await queue_row(page_a, reference).get_attribute("data-request-id")
    claimed = await page_a.request.post(f"{base}/api/v1/requests/{request_id}/claim")
    assert claimed.status == 200, await claimed.text()
    await expect(row).to_have_attribute("data-status", "claimed")

    await page_b.get_by_test_id("colleagues-toggle").click()
    colleague = page_b.locator(f'[data-testid="colleague"][data-agent-id="{anna.id}"]')
    await expect(colleague).to_have_attribute("data-state", "available")
    await expect(colleague).to_contain_text("1 pyyntö")
    await page_a.get_by_test_id("presence-state").select_option("away")
    await expect(colleague).to_have_attribute("data-state", "away")
    await expect(colleague.get_by_test_id("colleague-state")).to_have_text("Tauolla")

    await context_a.close()
    await expect(colleague).to_have_attribute("data-online", "false")
    await expect(row).to_have_attribute("data-status", "queued", timeout=10_000)
    await expect(colleague).to_have_count(0)  # gone and holding nothing: not listed
    assert errors == []
    await context_b.close()
