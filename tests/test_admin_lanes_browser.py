"""Lanes and routing rules on the admin page, in a real browser against the hub's lanes API:
an admin adds a lane with opening hours (a mistyped span is pointed out before saving), edits
it, adds a keyword rule that sends a passenger's "unohdin" to it, and deletes both; the hub's
refusals (a taken key, a lane with open requests) are shown in words."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Page, expect

from hub.model import Role
from tests.conftest import (
    PASSWORD,
    HubFactory,
    server_url,
)

VIEWPORT = {"width": 1366, "height": 768}


@pytest.fixture
def page(laptop_page: Page) -> Page:
    return laptop_page


async def _fetch(page: Page, method: str, path: str, body: Any = None) -> Any:
    """Call the hub's API from the admin's page, with the admin's session."""
    return await page.evaluate("""async ([method, path, body]) => {
        const init = { method, headers: { "Content-Type": "application/json" } };
        if (body !== null) init.body = JSON.stringify(body);
        const response = await fetch(path, init);
        return { status: response.status, body: await response.json().catch(() => null) };
    }""", [method, path, body])


async def test_an_admin_manages_lanes_and_routing_rules(
    hub: HubFactory, make_agent: Any, page: Page
) -> None:
    client = await hub()
    base = server_url(client)
    admin = await make_agent(client, login="paakayttaja", role=Role.ADMIN, name="Pää Käyttäjä")
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(f"{base}/admin#lanes")
    await page.get_by_test_id("login-user").fill(admin.login)
    await page.get_by_test_id("login-password").fill(PASSWORD)
    await page.get_by_test_id("login-submit").click()

    lanes = page.get_by_test_id("lane-row")
    default = lanes.filter(has_text="default")
    await expect(default).to_contain_text("(oletus)")
    await expect(default.get_by_test_id("lane-delete")).to_have_count(0)

    # A new lane: offered in turn, open on weekdays, closed on Christmas Eve.
    await page.get_by_test_id("lane-new").click()
    await page.get_by_test_id("lane-key").fill("lost")
    await page.get_by_test_id("lane-name-fi").fill("Löytötavarat")
    await page.get_by_test_id("lane-name-en").fill("Lost property")
    await page.get_by_test_id("lane-strategy").select_option("offer")
    await page.get_by_test_id("lane-offer-timeout").fill("45")
    await page.get_by_test_id("lane-always-open").uncheck()
    for day in ("mon", "tue", "wed", "thu", "fri"):
        await page.get_by_test_id(f"lane-day-{day}").fill("08:00-16:00")
    await page.get_by_test_id("lane-day-sat").fill("8-16")
    await page.get_by_test_id("lane-closed").fill("2026-12-24")
    await page.get_by_test_id("lane-submit").click()
    form = page.get_by_test_id("lane-form")
    await expect(form).to_contain_text("La: kirjoita välit muodossa 07:00-22:00.")
    await expect(page.get_by_test_id("lane-error")).to_have_text("Tarkista merkityt kentät.")
    await page.get_by_test_id("lane-day-sat").fill("")
    await page.get_by_test_id("lane-submit").click()
    lost = lanes.filter(has_text="Löytötavarat")
    await expect(lost).to_contain_text("Ma–Pe 08:00–16:00 · La–Su kiinni · 1 suljettu päivä")
    await expect(lost).to_contain_text("Tarjotaan vuorotellen (45 s)")
    await expect(page.get_by_test_id("lanes-status")).to_have_text("Jono lost lisätty.")
    await expect(form).to_be_hidden()
    found = await _fetch(page, "GET", "/api/v1/admin/lanes")
    [saved] = [lane for lane in found["body"]["lanes"] if lane["key"] == "lost"]
    assert saved["opening_hours"] == {
        "timezone": "Europe/Helsinki", "closed_dates": ["2026-12-24"],
        "week": {day: [["08:00", "16:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}}
    assert (saved["strategy"], saved["offer_timeout_s"], saved["active"]) == ("offer", 45, True)

    # The same key again is refused by the hub, in its words.
    await page.get_by_test_id("lane-new").click()
    await page.get_by_test_id("lane-key").fill("lost")
    await page.get_by_test_id("lane-name-fi").fill("Toinen")
    await page.get_by_test_id("lane-name-en").fill("Another")
    await page.get_by_test_id("lane-submit").click()
    await expect(page.get_by_test_id("lane-error")).to_contain_text("lost")
    await page.get_by_test_id("lane-cancel").click()

    # Edited: a higher priority, always open again.
    await lost.get_by_test_id("lane-edit").click()
    await expect(page.get_by_test_id("lane-form-heading")).to_have_text("Muokkaa jonoa lost")
    await expect(page.get_by_test_id("lane-key")).to_have_attribute("readonly", "")
    await expect(page.get_by_test_id("lane-day-mon")).to_have_value("08:00-16:00")
    await page.get_by_test_id("lane-priority").fill("5")
    await page.get_by_test_id("lane-always-open").check()
    await page.get_by_test_id("lane-submit").click()
    await expect(lost).to_contain_text("Aina auki · 1 suljettu päivä")
    await expect(lost.locator("td.number")).to_have_text("5")

    # A keyword rule sends "unohdin" to the lane.
    new_rule = page.get_by_test_id("rule-new")
    await new_rule.get_by_test_id("rule-lane").select_option("lost")
    await new_rule.get_by_test_id("rule-keywords").fill("unohdin, löytötavara")
    await new_rule.get_by_test_id("rule-add").click()
    rules = page.get_by_test_id("rule-row")
    await expect(rules).to_have_count(1)
    await expect(page.get_by_test_id("rules-status")).to_have_text(
        "Sääntö lisätty jonoon lost.")
    await expect(rules.get_by_test_id("rule-keywords")).to_have_value("unohdin, löytötavara")
    receipt = await client.post("/api/v1/contact-requests", json={
        "name": "Mikko Korhonen", "phone": "040 765 4321", "submission_token": "lanes-0001",
        "message": "Unohdin sateenvarjon autoon eilen"})
    assert receipt.status == 201, await receipt.text()
    request_id = (await receipt.json())["id"]
    detail = await _fetch(page, "GET", f"/api/v1/requests/{request_id}")
    assert detail["body"]["request"]["lane"] == "lost"

    # The rule edited in place; then deleted after a confirmation.
    await rules.get_by_test_id("rule-keywords").fill("kadotin")
    await rules.get_by_test_id("rule-channel").select_option("email")
    await rules.get_by_test_id("rule-save").click()
    await expect(page.get_by_test_id("rules-status")).to_have_text("Sääntö tallennettu.")
    found = await _fetch(page, "GET", "/api/v1/admin/routing-rules")
    [rule] = found["body"]["rules"]
    assert (rule["lane"], rule["channel"], rule["keywords"]) == ("lost", "email", ["kadotin"])
    await rules.get_by_test_id("rule-delete").click()
    await rules.get_by_test_id("rule-confirm-delete").click()
    await expect(rules).to_have_count(0)

    # A lane with an open request is kept, and the admin is told why; resolved, it goes.
    await lost.get_by_test_id("lane-delete").click()
    await lost.get_by_test_id("lane-confirm-delete").click()
    await expect(page.get_by_test_id("lanes-status")).to_contain_text(
        "Jonossa on avoimia pyyntöjä (1)")
    assert (await _fetch(page, "POST", f"/api/v1/requests/{request_id}/resolve"))["status"] \
        == 200
    await lost.get_by_test_id("lane-delete").click()
    await lost.get_by_test_id("lane-confirm-delete").click()
    await expect(page.get_by_test_id("lanes-status")).to_have_text("Jono lost poistettu.")
    await expect(lost).to_have_count(0)

    # In English the same page reads in English.
    await page.get_by_test_id("lang-en").click()
    await expect(default).to_contain_text("(default)")
    await expect(default).to_contain_text("Pick from the queue")
    await expect(page.get_by_test_id("tab-lanes")).to_have_text("Lanes and routing")
    assert errors == []
