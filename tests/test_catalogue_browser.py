"""The pages speak only their catalogue, in Chromium: every word the console (login, queue,
an open request with its composer, the shortcuts, colleagues, notifications, notices,
group message and history dialogs), the admin page (every tab), the reports and the
wallboard show in Finnish is a Finnish catalogue value, in English an English one; and
counts take their plural form (0, 1, 2, 5, 21) in both. tests/catalogue_check.py says
what counts as shown; a refusal with a code is said in the admin's language."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from hub.model import Channel, Role
from tests.catalogue_check import foreign_words
from tests.conftest import (
    PASSWORD,
    HubFactory,
    server_url,
)
from tests.test_console_browser import VIEWPORT, queue_row, sign_in
from tests.test_console_queue_browser import _ingest, _place

# What the pages say does not depend on the stores: checked on the embedded pass only.
pytestmark = pytest.mark.store_independent

LANGUAGES = ("fi", "en")
# What the tests put in, shown as it is in any language.
SEEDED = ("Aino Välittäjä", "aino.v", "Pia Pääkäyttäjä", "pia.admin")


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(locale="fi-FI", timezone_id="Europe/Helsinki",
                                        viewport=VIEWPORT)
    try:
        yield await context.new_page()
    finally:
        await context.close()


async def _speaks(page: Page, lang: str, state: str) -> None:
    await expect(page.locator("html")).to_have_attribute("lang", lang)
    foreign = await foreign_words(page, lang, SEEDED)
    assert foreign == [], f"{state} in {lang}: not in console/{lang}.json: {foreign}"


async def _switch(page: Page, lang: str) -> None:
    await page.get_by_test_id(f"lang-{lang}").click()
    await expect(page.locator("html")).to_have_attribute("lang", lang)


async def _console_states(page: Page, lang: str, reference: str) -> None:
    """Each state of the console a shift passes through, checked in `lang`."""
    await _switch(page, lang)
    await _speaks(page, lang, "the queue with a request open")
    for toggle, shown in [("colleagues-toggle", "colleagues"), ("notify-toggle", "notify-menu")]:
        await page.get_by_test_id(toggle).click()
        await expect(page.get_by_test_id(shown)).to_be_visible()
        await _speaks(page, lang, shown)
        await page.get_by_test_id(toggle).click()
    await page.get_by_test_id("composer-text").fill("Taksi on tulossa.")
    await _speaks(page, lang, "the composer with a reply typed")
    await page.get_by_test_id("composer-text").fill("")
    for opener, dialog in [("keys-toggle", "keys-help"), ("notice-open", "notice-dialog"),
                           ("group-open", "group-dialog"), ("history-open", "history-dialog")]:
        await page.get_by_test_id(opener).click()
        await expect(page.get_by_test_id(dialog)).to_be_visible()
        await _speaks(page, lang, dialog)
        await page.keyboard.press("Escape")
        await expect(page.get_by_test_id(dialog)).to_be_hidden()
    await page.get_by_test_id("filter-callbacks").click()
    await _speaks(page, lang, "the callbacks")
    await page.get_by_test_id("filter-all").click()
    await queue_row(page, reference).click()
    await expect(page.get_by_test_id("composer")).to_be_visible()


async def test_every_word_of_the_console_is_in_its_language_catalogue(
    hub: HubFactory, make_agent: Any, page: Page
) -> None:
    client = await hub()
    base = server_url(client)
    me = await make_agent(client, login="aino.v", name="Aino Välittäjä", role=Role.ADMIN)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    aino = await _ingest(client, 600, channel=Channel.WEBFORM, name="Aino Virtanen",
                         phone="+358401234567", body="Taksi lentokentälle klo 18",
                         details={"pickup_address": "Kampinkuja 2, Helsinki",
                                  "destination": "Helsinki-Vantaan lentoasema",
                                  "passengers": "2"})
    await _ingest(client, 500, channel=Channel.EMAIL, name="Emma Smith",
                  email="emma.smith@example.org", subject="Taxi for four",
                  body="Hotel Kämp at 15:30")
    late = await _ingest(client, 60, phone="+358449876543", body="Soittakaa takaisin")
    await _place(client, late, details={"callback": "true",
                                        "callback_number": "+358449876543"})

    await page.goto(f"{base}/console")
    for lang in LANGUAGES:
        await _switch(page, lang)
        await _speaks(page, lang, "the login page")
    await sign_in(page, base, me.login)
    await queue_row(page, aino).click()
    await page.get_by_test_id("action-claim").click()
    await expect(page.get_by_test_id("composer")).to_be_visible()
    for lang in LANGUAGES:
        await _console_states(page, lang, aino)
    assert errors == []


ADMIN_TABS = ("users", "canned", "templates", "lanes", "channels", "groups", "subject",
              "audit", "webhooks")


async def test_every_word_of_the_admin_reports_and_wallboard_is_in_its_catalogue(
    hub: HubFactory, make_agent: Any, page: Page
) -> None:
    client = await hub()
    base = server_url(client)
    admin = await make_agent(client, login="pia.admin", name="Pia Pääkäyttäjä",
                             role=Role.ADMIN)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(f"{base}/admin")
    for lang in LANGUAGES:
        await _switch(page, lang)
        await _speaks(page, lang, "the admin login")
    await page.get_by_test_id("login-user").fill(admin.login)
    await page.get_by_test_id("login-password").fill(PASSWORD)
    await page.get_by_test_id("login-submit").click()
    await expect(page.get_by_test_id("tab-users")).to_be_visible()
    for lang in LANGUAGES:
        await _switch(page, lang)
        for tab in ADMIN_TABS:
            await page.get_by_test_id(f"tab-{tab}").click()
            await expect(page.locator(f'.admin-section[data-section="{tab}"]')).to_be_visible()
            await _speaks(page, lang, f"the admin tab {tab}")
    for other, shown in [("reports", "report-status"), ("wallboard", "wall-updated")]:
        await page.goto(f"{base}/{other}")
        await expect(page.get_by_test_id(shown)).not_to_be_empty()
        for lang in LANGUAGES:
            await _switch(page, lang)
            await _speaks(page, lang, f"the {other} page")
    assert errors == []


# Search words and how many of the 21 waiting requests hold each.
HELD_BY = {"epsilon": 0, "alfa": 1, "beeta": 2, "gamma": 5, "delta": 21}
FOUND = {
    "fi": {0: "0 osumaa", 1: "1 osuma", 2: "2 osumaa", 5: "5 osumaa", 21: "21 osumaa"},
    "en": {0: "0 matches", 1: "1 match", 2: "2 matches", 5: "5 matches", 21: "21 matches"},
}


async def test_counts_take_their_plural_form_in_each_language(
    hub: HubFactory, make_agent: Any, page: Page
) -> None:
    client = await hub()
    me = await make_agent(client, login="aino.v", name="Aino Välittäjä")
    for n in range(21):
        words = [word for word, held in HELD_BY.items() if n < held]
        await _ingest(client, 600 - n, phone=f"+3584012{n:05d}", body=" ".join(words))
    await sign_in(page, server_url(client), me.login)
    await expect(page.get_by_test_id("queue-row")).to_have_count(21)
    search = page.get_by_test_id("queue-search")
    status = page.get_by_test_id("queue-search-status")
    for lang in LANGUAGES:
        await _switch(page, lang)
        for word, held in HELD_BY.items():
            await search.fill(word)
            await expect(status).to_have_text(FOUND[lang][held])
    await search.fill("")

    # What each dispatcher holds, in the colleagues' list ("1 pyyntöä" before the catalogue);
    # the forms past 2 are the search's above.
    holding = page.locator(f'[data-testid="colleague"][data-agent-id="{me.id}"]'
                           " .colleague-holding")
    holds = {"fi": ("pyyntö", "pyyntöä"), "en": ("request", "requests")}
    ids = await page.get_by_test_id("queue-row").evaluate_all(
        "rows => rows.map(row => row.dataset.requestId)")
    claimed = 0
    await page.get_by_test_id("colleagues-toggle").click()
    for count in (0, 1, 2):
        while claimed < count:
            status_code = await page.evaluate(
                "id => fetch(`/api/v1/requests/${id}/claim`, {method: 'POST'})"
                ".then(r => r.status)", ids[claimed])
            assert status_code == 200
            claimed += 1
        for lang in LANGUAGES:
            await _switch(page, lang)
            one, other = holds[lang]
            await expect(holding).to_have_text(f"{count} {one if count == 1 else other}")


# A refused field's mark and the form's sentence, written out (not read from the catalogue).
FIELD_MARKS = {"fi": ("Virheellinen arvo.", "Liian lyhyt.", "Tarkista merkityt kentät.",
                      "Salasanassa on oltava vähintään 12 merkkiä."),
               "en": ("Not a valid value.", "Too short.", "check the marked fields",
                      "password must be at least 12 characters")}


async def test_a_refusal_is_said_in_the_admins_language(
    hub: HubFactory, make_agent: Any, page: Page
) -> None:
    """The hub refuses a new account's login and password by field codes: each field gets
    its own mark and the form the password's sentence, in the admin's language."""
    client = await hub()
    admin = await make_agent(client, login="pia.admin", name="Pia Pääkäyttäjä",
                             role=Role.ADMIN)
    await page.goto(f"{server_url(client)}/admin")
    await page.get_by_test_id("login-user").fill(admin.login)
    await page.get_by_test_id("login-password").fill(PASSWORD)
    await page.get_by_test_id("login-submit").click()
    await page.get_by_test_id("add-name").fill("Uusi Välittäjä")
    await page.get_by_test_id("add-password").fill("lyhyt")
    login = page.locator('.field-error[data-for="login"]')
    password = page.locator('.field-error[data-for="password"]')
    for lang in LANGUAGES:
        await _switch(page, lang)
        invalid, too_short, check, sentence = FIELD_MARKS[lang]
        await page.get_by_test_id("add-login").fill("Uusi Välittäjä!")
        await page.get_by_test_id("add-submit").click()
        await expect(login).to_have_text(invalid)
        await expect(password).to_have_text(too_short)
        await expect(page.get_by_test_id("add-error")).to_have_text(check)
        await page.get_by_test_id("add-login").fill("uusi.valittaja")  # the password alone
        await page.get_by_test_id("add-submit").click()
        await expect(login).to_have_text("")
        await expect(page.get_by_test_id("add-error")).to_have_text(sentence)
