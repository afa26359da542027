"""Automatic answer templates on the admin page, in a real browser (Debian's Chromium driven
by Playwright): the tab lists the built-in texts until an admin writes their own; the admin
customises the Finnish acknowledgement for every lane, adds one for a lane with the
placeholder buttons and a live preview (a placeholder the kind does not fill is pointed out
before saving), is sent to the existing one on a duplicate, and deletes a template after a
confirmation, the built-in text showing again. The answering engine then finds what was saved.
"""

from __future__ import annotations

from typing import Any

from playwright.async_api import Browser, expect

from dispatch.lanes_demo import seed_lanes
from hub.answer_templates import find_template
from hub.appkeys import DATABASE, LANES
from hub.model import Role
from tests.conftest import (
    PASSWORD,
    HubFactory,
    server_url,
)

VIEWPORT = {"width": 1366, "height": 768}
ACK_FI = "Kiitos yhteydenotostasi. Viitteesi on {reference}. Arvioitu odotusaika {wait}."


async def test_an_admin_customises_deletes_and_is_kept_to_one_template_per_place(
    hub: HubFactory, make_agent: Any, browser: Browser
) -> None:
    client = await hub()
    db = client.app[DATABASE]
    await seed_lanes(db)
    client.app[LANES].invalidate()
    admin = await make_agent(client, login="paakayttaja", role=Role.ADMIN, name="Pää Käyttäjä")
    errors: list[str] = []
    context = await browser.new_context(locale="fi-FI", viewport=VIEWPORT)
    page = await context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(f"{server_url(client)}/admin#templates")
    await page.get_by_test_id("login-user").fill(admin.login)
    await page.get_by_test_id("login-password").fill(PASSWORD)
    await page.get_by_test_id("login-submit").click()
    await expect(page.get_by_test_id("tab-templates")).to_have_attribute("aria-current", "page")
    await expect(page.get_by_test_id("tab-templates")).to_have_text("Automaattiset vastaukset")

    # Nothing written yet: the six built-in texts (fi, sv, en), acknowledgements first.
    defaults = page.get_by_test_id("template-default-row")
    await expect(defaults).to_have_count(6)
    await expect(defaults.first.get_by_test_id("template-text")).to_contain_text(ACK_FI)
    await page.get_by_test_id("templates-filter-out_of_hours").click()
    await expect(defaults).to_have_count(3)
    await expect(defaults.first).to_contain_text("Olemme nyt kiinni.")
    await page.get_by_test_id("templates-filter-all").click()

    # Customising the Finnish acknowledgement starts from the built-in text.
    await defaults.first.get_by_test_id("template-customize").click()
    body = page.get_by_test_id("template-body")
    await expect(body).to_have_value(ACK_FI)
    await expect(body).to_be_focused()
    await body.fill("Kiitos! Viite {reference}, odotus {wait}.")
    await expect(page.get_by_test_id("template-preview")).to_have_text(
        "Kiitos! Viite 12345, odotus noin 5 min.")
    await page.get_by_test_id("template-submit").click()
    await expect(page.get_by_test_id("templates-status")).to_have_text("Teksti lisätty.")
    rows = page.get_by_test_id("template-row")
    await expect(rows).to_have_count(1)
    await expect(defaults).to_have_count(5)
    await expect(rows.first).to_contain_text("Pää Käyttäjä")

    # One for the lost-property lane: {opens} is no acknowledgement's, said before saving.
    await page.get_by_test_id("template-lane").select_option("lost")
    await body.fill("Löytötavarat: viite ")
    await page.get_by_test_id("template-placeholder-reference").click()
    await expect(page.get_by_test_id("template-placeholder-opens")).to_have_count(0)
    await body.press("End")
    await body.press_sequentially(". Avaamme {opens}.")
    error = page.get_by_test_id("template-error")
    await expect(error).to_have_text(
        "Tätä paikkamerkkiä ei täytetä tämän tyypin vastauksessa: {opens}.")
    await page.get_by_test_id("template-submit").click()
    await expect(rows).to_have_count(1)
    await page.get_by_test_id("template-kind").select_option("out_of_hours")
    await expect(error).to_have_text("")
    await expect(page.get_by_test_id("template-preview")).to_have_text(
        "Löytötavarat: viite 12345. Avaamme ma 7.00.")
    await page.get_by_test_id("template-submit").click()
    await expect(rows).to_have_count(2)

    # A second Finnish acknowledgement for every lane is refused: edit the one there is.
    await page.get_by_test_id("template-body").fill("Toinen {reference}.")
    await page.get_by_test_id("template-submit").click()
    await expect(error).to_contain_text("Tälle tyypille, jonolle ja kielelle on jo teksti.")
    await page.get_by_test_id("template-edit-taken").click()
    await expect(page.get_by_test_id("template-form-heading")).to_have_text(
        "Muokkaa: Kuittaus, Kaikki jonot, Suomi")
    await expect(body).to_have_value("Kiitos! Viite {reference}, odotus {wait}.")

    async with db.read() as conn:
        assert await find_template(conn, "acknowledgement", "orders", "fi") == (
            "Kiitos! Viite {reference}, odotus {wait}.")
        assert await find_template(conn, "out_of_hours", "lost", "fi") == (
            "Löytötavarat: viite {reference}. Avaamme {opens}.")

    # Deleted after a confirmation: the built-in text is back in the list.
    await page.get_by_test_id("template-cancel").click()
    ack = rows.filter(has_text="Kuittaus")
    await ack.get_by_test_id("template-delete").click()
    await ack.get_by_test_id("template-confirm-delete").click()
    await expect(rows).to_have_count(1)
    await expect(defaults).to_have_count(6)
    await expect(page.get_by_test_id("templates-status")).to_have_text("Teksti poistettu.")

    # A Swedish acknowledgement for every lane: previewed in Swedish, kept by the hub.
    await page.get_by_test_id("template-kind").select_option("acknowledgement")
    await page.get_by_test_id("template-lane").select_option("")
    await page.get_by_test_id("template-language").select_option("sv")
    await body.fill("Tack! Referens {reference}, väntetid {wait}.")
    await expect(page.get_by_test_id("template-preview")).to_have_text(
        "Tack! Referens 12345, väntetid cirka 5 min.")
    await page.get_by_test_id("template-submit").click()
    await expect(page.get_by_test_id("templates-status")).to_have_text("Teksti lisätty.")
    await expect(rows.filter(has_text="Tack! Referens")).to_have_count(1)
    async with db.read() as conn:
        assert await find_template(conn, "acknowledgement", "orders", "sv") == (
            "Tack! Referens {reference}, väntetid {wait}.")

    # In English, the words follow.
    await page.get_by_test_id("lang-en").click()
    lost = rows.filter(has_text="Löytötavarat")
    await expect(lost).to_contain_text("Out of hours")
    await expect(lost).to_contain_text("Lost property")
    assert errors == []
