"""The admin page's Passenger data tab in a real browser: an admin downloads a passenger's
export, is told in words when a number finds nobody, and erases the passenger after
confirming."""

from __future__ import annotations

import json
import zipfile
from typing import Any

from playwright.async_api import Browser, expect

from hub.model import Role
from hub.settings import Settings
from tests.conftest import PASSWORD, HubFactory, server_url
from tests.helpers import http_session, submit

NAME, NATIONAL = "Selain Matkustaja", "040 765 0099"


async def test_an_admin_exports_and_erases_a_passenger_from_the_admin_page(
    hub: HubFactory, make_agent: Any, settings: Settings, browser: Browser
) -> None:
    client = await hub(settings)
    base = server_url(client)
    admin = await make_agent(client, login="rekisteri", role=Role.ADMIN, name="Rekisteri Pää")
    async with http_session() as http:
        receipt = await submit(http, base, "subject-browser-1", name=NAME, phone=NATIONAL,
                               message="Nouto Selainkatu 1")
    errors: list[str] = []
    context = await browser.new_context(locale="fi-FI", accept_downloads=True,
                                        viewport={"width": 1366, "height": 768})
    page = await context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(f"{base}/admin#subject")
    await page.get_by_test_id("login-user").fill(admin.login)
    await page.get_by_test_id("login-password").fill(PASSWORD)
    await page.get_by_test_id("login-submit").click()
    await page.get_by_test_id("tab-subject").click()
    await expect(page.get_by_test_id("tab-subject")).to_have_text("Matkustajan tiedot")

    # Nobody with this number: said in words, nothing downloaded.
    await page.get_by_test_id("subject-value").fill("040 000 0001")
    await page.get_by_test_id("subject-export").click()
    await expect(page.get_by_test_id("subject-status")).to_have_text(
        "Tällä numerolla tai osoitteella ei löydy matkustajaa.")

    await page.get_by_test_id("subject-value").fill(NATIONAL)
    async with page.expect_download() as info:
        await page.get_by_test_id("subject-export").click()
    download = await info.value
    assert download.suggested_filename.startswith("taxiconnect-export-")
    with zipfile.ZipFile(await download.path()) as archive:
        exported = json.loads(archive.read("export.json"))
    assert [row["id"] for row in exported["requests"]] == [receipt["id"]]
    await expect(page.get_by_test_id("subject-status")).to_contain_text("Vienti ladattu")

    # Erasure asks first; cancelling keeps everything.
    await page.get_by_test_id("subject-erase").click()
    await expect(page.get_by_test_id("subject-confirm-text")).to_contain_text(NATIONAL)
    await page.get_by_test_id("subject-cancel").click()
    await expect(page.get_by_test_id("subject-confirm-text")).to_be_hidden()
    await page.get_by_test_id("subject-erase").click()
    await page.get_by_test_id("subject-confirm-yes").click()
    await expect(page.get_by_test_id("subject-status")).to_have_text(
        "Henkilötiedot poistettu: 1 pyyntöä nimettömäksi, 1 viestiä tyhjennetty, "
        "0 tiedostoa poistettu.")
    await expect(page.get_by_test_id("subject-value")).to_have_value("")
    await page.get_by_test_id("subject-value").fill(NATIONAL)
    await page.get_by_test_id("subject-export").click()
    await expect(page.get_by_test_id("subject-status")).to_have_text(
        "Tällä numerolla tai osoitteella ei löydy matkustajaa.")
    assert errors == []
    await context.close()
