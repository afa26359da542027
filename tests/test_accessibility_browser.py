"""axe-core over the page states a dispatcher, an admin and a passenger meet, in a real
browser: none may show a serious or critical violation (issue 15). Minor and moderate
findings are let through; tests/accessibility.py says how axe is run.

The console walk: the login form and its refusal, the console while its queue loads, the
queue with requests, a claimed request open with its composer (light and dark, then after
Send in English at phone width), the keyboard help and the search-all dialog (before and
after a search); then every admin tab (while loading, and loaded), the reports page and the
wallboard (both also while loading). The passenger walk: the form in Swedish and Finnish,
its error state and its thanks page, and the chat widget open on a company's page, before
and after a message.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, Page, Route, expect
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

from hub.model import Role
from hub.settings import Settings
from tests.accessibility import assert_accessible
from tests.chat_site import ChatSite, chat_settings
from tests.conftest import PASSWORD, HubFactory, server_url
from tests.helpers import submit

# What the pages say does not depend on the stores: checked on the embedded pass only.
pytestmark = pytest.mark.store_independent

LAPTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
UNRENDERED = """() => ![...document.querySelectorAll(
  ".admin-section:not([hidden]) :is(button, label, h2):empty:not([aria-label])")]
  .some((node) => node.checkVisibility())"""
ADMIN_TABS = ("users", "canned", "templates", "lanes", "channels", "groups", "subject",
              "audit", "webhooks")


async def _page(browser: Browser, viewport: dict[str, int], errors: list[str]) -> Page:
    # Reduced motion: axe measures each state as it stays, not mid-way through the chat
    # panel's 0.15 s fade-in, where text at part opacity reads as too faint (it did, on a
    # quiet machine where the widget was live within the fade).
    context = await browser.new_context(locale="fi-FI", viewport=viewport,
                                        reduced_motion="reduce")
    page = await context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return page


async def _rendered(page: Page) -> None:
    """A tab's script fills its words in once its data has come: until then, wait (a while)
    for the shown section to have no unnamed control; axe then says what is still missing."""
    with contextlib.suppress(PlaywrightTimeoutError):
        await page.wait_for_function(UNRENDERED, timeout=5000)


async def test_the_console_admin_reports_and_wallboard_have_no_serious_violations(
    hub: HubFactory, make_agent: Any, browser: Browser
) -> None:
    client = await hub()
    base = server_url(client)
    admin = await make_agent(client, login="paakayttaja", role=Role.ADMIN, name="Pää Käyttäjä")
    await make_agent(client, login="aino.v", name="Aino Välittäjä")  # one to transfer to
    errors: list[str] = []
    page = await _page(browser, LAPTOP, errors)
    answers = asyncio.Event()  # set: held requests go on

    async def held(route: Route) -> None:
        await answers.wait()
        with contextlib.suppress(PlaywrightError):  # the page has moved on meanwhile
            await route.continue_()

    await page.goto(f"{base}/console")
    await expect(page.get_by_test_id("login-submit")).to_have_text("Kirjaudu")
    await assert_accessible(page, "console login")
    await page.get_by_test_id("login-user").fill(admin.login)
    await page.get_by_test_id("login-password").fill("not the password")
    await page.get_by_test_id("login-submit").click()
    await expect(page.get_by_test_id("login-error")).not_to_be_empty()
    await assert_accessible(page, "console login refused")
    await page.get_by_test_id("login-user").fill(admin.login)
    await page.get_by_test_id("login-password").fill(PASSWORD)
    await page.route("**/api/v1/requests?*", held)
    await page.get_by_test_id("login-submit").click()
    await expect(page.locator("#console-view")).to_be_visible()
    await assert_accessible(page, "console loading")
    answers.set()
    await page.unroute("**/api/v1/requests?*")
    await expect(page.get_by_test_id("connection-state")).to_have_attribute(
        "data-state", "live")
    async with aiohttp.ClientSession() as http:
        for i in range(2):
            await submit(http, base, f"browser-axe-{i}", phone=f"040 555 02{i:02d}",
                         name=f"Matkustaja {i}", message="Taksi asemalle")
    rows = page.get_by_test_id("queue-row")
    await expect(rows).to_have_count(2)
    await assert_accessible(page, "console queue")

    await rows.first.click()
    await page.get_by_test_id("action-claim").click()
    await expect(page.get_by_test_id("composer")).to_be_visible()
    await page.get_by_test_id("composer-text").fill("Auto on matkalla")
    await assert_accessible(page, "console request with composer")
    await page.emulate_media(color_scheme="dark")
    await assert_accessible(page, "console request with composer, dark")
    await page.emulate_media(color_scheme="light")
    await page.get_by_test_id("composer-send").click()
    await expect(page.locator("#composer-status:not(:empty), #composer-error:not(:empty)")
                 ).to_have_count(1)
    await page.get_by_test_id("lang-en").click()
    await page.set_viewport_size(PHONE)
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await assert_accessible(page, "console after Send, in English, at phone width")
    await page.set_viewport_size(LAPTOP)
    await page.get_by_test_id("lang-fi").click()

    await page.get_by_test_id("keys-toggle").click()
    await expect(page.get_by_test_id("keys-help")).to_be_visible()
    await assert_accessible(page, "console keyboard help")
    await page.get_by_test_id("keys-close").click()

    await page.get_by_test_id("history-open").click()
    await expect(page.get_by_test_id("history-dialog")).to_be_visible()
    await assert_accessible(page, "console search-all dialog, before a search")
    await page.get_by_test_id("history-words").fill("040 555")
    await page.get_by_test_id("history-search").click()
    await expect(page.get_by_test_id("history-item")).to_have_count(2)
    await assert_accessible(page, "console search-all dialog")
    await page.keyboard.press("Escape")

    # Each admin tab, the reports and the wallboard twice: while their data is held back
    # (their words must not wait for it), then rendered.
    await page.goto(f"{base}/admin")
    await page.route("**/api/v1/admin/**", held)
    for tab in ADMIN_TABS:
        answers.clear()
        await page.get_by_test_id(f"tab-{tab}").click()
        await expect(page.get_by_test_id(f"tab-{tab}")).to_have_attribute(
            "aria-current", "page")
        await assert_accessible(page, f"admin {tab} loading")
        answers.set()
        await _rendered(page)
        await assert_accessible(page, f"admin {tab}")

    await page.unroute("**/api/v1/admin/**")
    answers.clear()
    await page.route("**/api/v1/reports?*", held)
    await page.route("**/api/v1/wallboard", held)
    await page.goto(f"{base}/reports")
    await assert_accessible(page, "reports loading")
    answers.set()
    await expect(page.get_by_test_id("report-status")).to_contain_text("2 pyyntöä")
    await assert_accessible(page, "reports")
    answers.clear()
    await page.goto(f"{base}/wallboard")
    await assert_accessible(page, "wallboard loading")
    answers.set()
    await expect(page.locator('[data-testid="wall-lane"]').first.get_by_test_id(
        "wall-queued")).to_have_text("1")
    await assert_accessible(page, "wallboard")
    assert errors == []


async def test_the_passenger_form_and_chat_widget_have_no_serious_violations(
    hub: HubFactory, settings: Settings, browser: Browser
) -> None:
    errors: list[str] = []
    async with ChatSite(lang="fi") as site:
        client = await hub(chat_settings(settings, allowed_origins=(site.origin,)))
        base = site.hub = server_url(client)
        page = await _page(browser, PHONE, errors)

        await page.goto(f"{base}/form?lang=sv")
        await expect(page.locator("html")).to_have_attribute("lang", "sv")
        await assert_accessible(page, "form sv")
        await page.goto(f"{base}/form?lang=fi")
        await assert_accessible(page, "form fi")
        await page.locator("button[type=submit]").click()
        await expect(page.locator("#errors")).to_be_visible()
        await assert_accessible(page, "form fi with errors")
        await page.locator("#phone").fill("040 555 0300")
        await page.locator("#message").fill("Taksi asemalle")
        await page.locator("button[type=submit]").click()
        await expect(page.locator(".reference")).to_be_visible()
        await assert_accessible(page, "form fi thanks")

        await page.goto(site.url)
        await page.get_by_test_id("chat-launcher").click()
        await expect(page.get_by_test_id("chat-panel")).to_be_visible()
        await expect(page.get_by_test_id("chat-status")).to_have_attribute("data-state", "live")
        await assert_accessible(page, "chat widget open")
        await page.get_by_test_id("chat-text").fill("Hei! Taksi Kamppiin.")
        await page.get_by_test_id("chat-text").press("Enter")
        await expect(page.get_by_test_id("chat-line")).to_have_count(1)
        await assert_accessible(page, "chat widget with a message")
    assert errors == []
