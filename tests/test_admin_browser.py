"""The admin page in a real browser: an admin adds a dispatcher, who logs in to the console in
another browser; the admin disables them and their console shows at once that they are out."""

from __future__ import annotations

import dataclasses
from typing import Any

from playwright.async_api import Browser, Page, expect

from hub.model import Role
from hub.settings import ConsoleSettings, Settings
from tests.conftest import (
    PASSWORD,
    HubFactory,
    server_url,
)

VIEWPORT = {"width": 1366, "height": 768}
NEW_PASSWORD = "taksi-ilta-2024-pitkä"


async def _page(browser: Browser, errors: list[str]) -> Page:
    context = await browser.new_context(locale="fi-FI", viewport=VIEWPORT)
    page = await context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return page


async def test_an_admin_adds_a_user_and_disabling_them_logs_them_out(
    hub: HubFactory, make_agent: Any, settings: Settings, browser: Browser
) -> None:
    client = await hub(dataclasses.replace(settings,
                                           console=ConsoleSettings(session_check_s=0.2)))
    base = server_url(client)
    admin = await make_agent(client, login="paakayttaja", role=Role.ADMIN, name="Pää Käyttäjä")
    errors: list[str] = []

    # The admin signs in on the admin page itself.
    page = await _page(browser, errors)
    await page.goto(f"{base}/admin")
    await page.get_by_test_id("login-user").fill(admin.login)
    await page.get_by_test_id("login-password").fill(PASSWORD)
    await page.get_by_test_id("login-submit").click()
    users = page.get_by_test_id("users-table")
    await expect(users.locator('[data-testid="user-row"][data-login="paakayttaja"]')) \
        .to_be_visible()

    # A too-short password is refused in words, then the user is added.
    await page.get_by_test_id("add-login").fill("Uusi.Valittaja")
    await page.get_by_test_id("add-name").fill("Uusi Välittäjä")
    await page.get_by_test_id("add-phone").fill("040 555 0101")
    await page.get_by_test_id("add-password").fill("lyhyt")
    await page.get_by_test_id("add-submit").click()
    await expect(page.get_by_test_id("add-error")).to_have_text(
        "Salasanassa on oltava vähintään 12 merkkiä.")
    await expect(page.locator('.field-error[data-for="password"]')).to_have_text("Liian lyhyt.")
    await page.get_by_test_id("add-password").fill(NEW_PASSWORD)
    await page.get_by_test_id("add-submit").click()
    row = users.locator('[data-testid="user-row"][data-login="uusi.valittaja"]')
    await expect(row).to_be_visible()
    await expect(row.get_by_test_id("edit-phone")).to_have_value("+358405550101")
    await expect(row.get_by_test_id("user-state")).to_have_text("Käytössä")
    await expect(page.get_by_test_id("admin-status")).to_contain_text("uusi.valittaja")

    # The new dispatcher logs in to the console in a browser of their own.
    other = await _page(browser, errors)
    await other.goto(f"{base}/console")
    await other.get_by_test_id("login-user").fill("uusi.valittaja")
    await other.get_by_test_id("login-password").fill(NEW_PASSWORD)
    await other.get_by_test_id("login-submit").click()
    await expect(other.get_by_test_id("connection-state")).to_have_attribute(
        "data-state", "live")
    await expect(other.get_by_test_id("admin-link")).to_be_hidden()  # not for dispatchers

    # Disabled by the admin: their console drops to the login with the reason.
    await row.get_by_test_id("toggle-active").click()
    await expect(row.get_by_test_id("user-state")).to_have_text("Poistettu käytöstä")
    await expect(other.get_by_test_id("login-form")).to_be_visible()
    await expect(other.get_by_test_id("login-error")).to_have_text(
        "Istunto on päättynyt. Kirjaudu uudelleen.")
    assert await other.evaluate("fetch('/api/v1/me').then((r) => r.status)") == 401

    # A disabled user cannot log back in.
    await other.get_by_test_id("login-user").fill("uusi.valittaja")
    await other.get_by_test_id("login-password").fill(NEW_PASSWORD)
    await other.get_by_test_id("login-submit").click()
    await expect(other.get_by_test_id("login-error")).to_have_text(
        "Väärä käyttäjätunnus tai salasana.")

    # The admin's console links to the admin page.
    await page.goto(f"{base}/console")
    await page.get_by_test_id("admin-link").click()
    await expect(page).to_have_url(f"{base}/admin")
    await expect(row).to_be_visible()
    assert errors == []
