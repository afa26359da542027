"""The reports page and the wallboard in a real browser: a dispatcher goes from the console to
Reports, sees the day's requests per channel in the table and the chart, in Finnish and
English, the CSV link asks for the same report, and the wallboard shows the lane's queue and,
without a reload, a contact that comes in while it is open; an external user is told neither
is theirs."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, Page, expect

from hub.model import Role
from hub.settings import Settings
from tests.conftest import PASSWORD, DispatcherFactory, HubFactory, server_url
from tests.helpers import WAIT_S, http_session, submit

VIEWPORT = {"width": 1366, "height": 768}
WALLBOARD_JS = Path(__file__).resolve().parents[1] / "web" / "wallboard" / "wallboard.js"


def _wallboard_refresh_ms() -> int:
    """How often the wallboard asks again, as its code says (no setting changes it)."""
    found = re.search(r"\bPOLL_MS = (\d+);", WALLBOARD_JS.read_text(encoding="utf-8"))
    assert found, "the wallboard's refresh period is in its code"
    return int(found.group(1))


async def _signed_in(browser: Browser, base: str, login: str, errors: list[str],
                     timezone: str) -> Page:
    """A Finnish browser on the centre's clock: the reports page's default period ends on
    the browser's today, the hub counts days in the centre's zone."""
    context = await browser.new_context(locale="fi-FI", viewport=VIEWPORT, timezone_id=timezone)
    page = await context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(f"{base}/console")
    await page.get_by_test_id("login-user").fill(login)
    await page.get_by_test_id("login-password").fill(PASSWORD)
    await page.get_by_test_id("login-submit").click()
    return page


async def test_a_dispatcher_reads_the_day_by_channel_in_table_and_chart(
    hub: HubFactory, dispatcher: DispatcherFactory, make_agent: Any, browser: Browser,
    settings: Settings
) -> None:
    client = await hub()
    base = server_url(client)
    team = await dispatcher(client)
    for i in range(3):
        await submit(team.http, base, f"browser-report-{i}", phone=f"040 555 01{i:02d}")
    errors: list[str] = []

    page = await _signed_in(browser, base, team.agent.login, errors, settings.timezone)
    await page.get_by_test_id("reports-link").click()
    await expect(page.get_by_test_id("report-status")).to_contain_text("3 pyyntöä")
    await page.get_by_test_id("report-by").select_option("channel")
    await page.get_by_test_id("report-show").click()
    table = page.get_by_test_id("report-table")
    await expect(table.locator("tbody tr")).to_have_count(1)
    await expect(table.locator("tbody tr td").first).to_have_text("Verkkolomake")
    await expect(table.locator("tbody tr td").nth(1)).to_have_text("3")
    chart = page.get_by_test_id("report-svg")
    await expect(chart.locator('g[data-label="Verkkolomake"] rect')).to_have_count(1)
    href = await page.get_by_test_id("report-csv").get_attribute("href")
    assert href is not None and href.startswith("/api/v1/reports.csv?") and "by=channel" in href

    await page.get_by_test_id("lang-en").click()
    await expect(page.get_by_role("heading", name="Reports")).to_be_visible()
    await expect(table.locator("tbody tr td").first).to_have_text("Web form")
    await expect(chart.locator("text.label")).to_have_text(["Web form"])

    # The wallboard, from the reports page: the default lane's three waiting.
    await page.get_by_test_id("wallboard-link").click()
    tile = page.locator('[data-testid="wall-lane"]').first
    await expect(tile.get_by_test_id("wall-queued")).to_have_text("3")
    await expect(tile.get_by_test_id("wall-answered")).to_have_text("0 / 3")
    await expect(page.get_by_test_id("wall-people")).to_contain_text("Available")
    await expect(page.get_by_test_id("wall-updated")).to_contain_text("Updated")

    # A passenger sends the web form while the wallboard is open: within its refresh period
    # the lane's figures count them, on the same page (nothing reloaded it).
    await page.evaluate("window.wallboardBeforeContact = true")
    async with http_session() as passenger, passenger.post(f"{base}/form", data={
            "name": "Seinä Taulu", "phone": "040 555 0199", "message": "Taksi asemalle",
            "submission_token": "browser-report-wall"}) as resp:
        assert resp.status == 201, await resp.text()
    refresh_ms = _wallboard_refresh_ms() + WAIT_S * 1000
    await expect(tile.get_by_test_id("wall-queued")).to_have_text("4", timeout=refresh_ms)
    await expect(tile.get_by_test_id("wall-answered")).to_have_text("0 / 4")
    assert await page.evaluate("window.wallboardBeforeContact === true"), "not reloaded"

    outsider = await make_agent(client, role=Role.EXTERNAL)
    other = await _signed_in(browser, base, outsider.login, errors, settings.timezone)
    await expect(other.get_by_test_id("connection-state")).to_be_visible()
    await expect(other.get_by_test_id("reports-link")).to_be_hidden()
    await other.goto(f"{base}/reports")
    await expect(other.get_by_test_id("reports-denied")).to_contain_text("ylläpitäjille")
    await other.goto(f"{base}/wallboard")
    await expect(other.get_by_test_id("wall-denied")).to_contain_text("ylläpitäjille")
    assert errors == []
