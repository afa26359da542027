"""Who else has the request open, in Chromium: two dispatchers open the same web-form
request; each console names the other, shows when the colleague is typing a reply, and drops
them when they close the request."""

from __future__ import annotations

import dataclasses

from playwright.async_api import Browser, Page, expect

from hub.settings import ChannelsSettings, Settings
from tests.conftest import (
    PASSWORD,
    DispatcherFactory,
    HubFactory,
    server_url,
)
from tests.helpers import submit

LIVE_MS = 10_000


async def _console(browser: Browser, base: str, login: str, errors: list[str]) -> Page:
    context = await browser.new_context(locale="fi-FI", viewport={"width": 1366, "height": 768})
    page = await context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(f"{base}/console")
    await page.get_by_test_id("login-user").fill(login)
    await page.get_by_test_id("login-password").fill(PASSWORD)
    await page.get_by_test_id("login-password").press("Enter")
    await expect(page.get_by_test_id("connection-state")).to_have_attribute("data-state", "live")
    return page


async def test_each_console_names_the_colleague_with_the_same_request_open(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings, browser: Browser
) -> None:
    client = await hub(dataclasses.replace(settings,
                                           channels=ChannelsSettings(enabled=("webform",))))
    base = server_url(client)
    aino = await dispatcher(client, name="Aino Välittäjä")
    pekka = await dispatcher(client, name="Pekka Päivystäjä")
    receipt = await submit(aino.http, base, "viewers-browser-1", phone="040 999 0001")
    errors: list[str] = []
    a = await _console(browser, base, aino.agent.login, errors)
    b = await _console(browser, base, pekka.agent.login, errors)
    for page in (a, b):
        await page.get_by_test_id("queue-row").first.click()
        await expect(page.get_by_test_id("detail-reference")).to_have_text(
            receipt["reference"])

    await expect(a.get_by_test_id("detail-viewers")).to_have_text(
        "Myös auki: Pekka Päivystäjä", timeout=LIVE_MS)
    await expect(b.get_by_test_id("detail-viewers")).to_have_text(
        "Myös auki: Aino Välittäjä", timeout=LIVE_MS)
    await b.get_by_test_id("composer-text").type("Taksi on tulossa")
    await expect(a.get_by_test_id("detail-viewers")).to_have_text(
        "Myös auki: Pekka Päivystäjä (kirjoittaa…)", timeout=LIVE_MS)
    await b.get_by_test_id("detail-close").click()
    await expect(a.get_by_test_id("detail-viewers")).to_be_hidden(timeout=LIVE_MS)
    assert errors == []
