"""The reports page and the wallboard in a real browser: a dispatcher goes from the console to
Reports, sees the day's requests per channel in the table and the chart, in Finnish and
English, the CSV link asks for the same report, and the wallboard shows the lane's queue; an
external user is told neither is theirs."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Browser, Page, expect

from hub.model import Role
from tests.conftest import PASSWORD, DispatcherFactory, HubFactory, server_url
from tests.helpers import submit

VIEWPORT = {"width": 1366, "height": 768}


async def _signed_in(browser: Browser, base: str, login: str, errors: list[str]) -> Page:
    context = await browser.new_context(locale="fi-FI", viewport=VIEWPORT)
    page = await context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(f"{base}/console")
    await page.get_by_test_id("login-user").fill(login)
    await page.get_by_test_id("login-password").fill(PASSWORD)
    await page.get_by_test_id("login-submit").click()
    return page


async def test_a_dispatcher_reads_the_day_by_channel_in_table_and_chart(
    hub: HubFactory, dispatcher: DispatcherFactory, make_agent: Any, browser: Browser
) -> None:
    client = await hub()
    base = server_url(client)
    team = await dispatcher(client)
    for i in range(3):
        await submit(team.http, base, f"browser-report-{i}", phone=f"040 555 01{i:02d}")
    errors: list[str] = []

    page = await _signed_in(browser, base, team.agent.login, errors)
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

    outsider = await make_agent(client, role=Role.EXTERNAL)
    other = await _signed_in(browser, base, outsider.login, errors)
    await expect(other.get_by_test_id("connection-state")).to_be_visible()
    await expect(other.get_by_test_id("reports-link")).to_be_hidden()
    await other.goto(f"{base}/reports")
    await expect(other.get_by_test_id("reports-denied")).to_contain_text("ylläpitäjille")
    await other.goto(f"{base}/wallboard")
    await expect(other.get_by_test_id("wall-denied")).to_contain_text("ylläpitäjille")
    assert errors == []
