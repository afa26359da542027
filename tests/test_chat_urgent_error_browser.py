"""The chat widget's general error, with the company's urgent number set
(`company.urgent_phone`), asks the passenger to call it in their language, the number a tel:
link they can tap; the sentence goes once the widget is live again.

The general sentence is what the widget says for a code it has no words for (a newer hub's):
the hub closes the socket with one here. The browser speaks Swedish; the catalogue check
below covers the sentence in every passenger language.
"""

from __future__ import annotations

import dataclasses

import pytest
from playwright.async_api import Browser, expect

from hub import catalogue
from hub.appkeys import WEBSOCKETS
from hub.settings import CompanySettings, Settings
from tests.chat_site import ChatSite, chat_settings
from tests.conftest import HubFactory, server_url

# What the widget says does not depend on the stores: checked on the embedded pass only.
pytestmark = pytest.mark.store_independent

URGENT = "09 123 4567"  # as the company advertises it
URGENT_SHOWN = URGENT.replace(" ", "\u00a0")  # kept on one line
URGENT_DIAL = "tel:+35891234567"
LIVE_MS = 10_000  # a reconnect on a busy machine


@pytest.mark.parametrize("language", catalogue.LANGUAGES)
def test_the_urgent_general_sentence_names_the_number_in_every_language(language: str) -> None:
    words = catalogue.words(language, "widget")
    urgent, general = words["error_general_urgent"], words["error_general"]
    assert isinstance(urgent, str) and catalogue.placeholders(urgent) == {"phone"}
    assert urgent.replace("{phone}", "") != general


async def test_the_general_error_names_the_urgent_number_as_a_tel_link(
    hub: HubFactory, settings: Settings, browser: Browser
) -> None:
    errors: list[str] = []
    async with ChatSite(lang="sv") as site:
        client = await hub(dataclasses.replace(
            chat_settings(settings, allowed_origins=(site.origin,)),
            company=CompanySettings(urgent_phone=URGENT)))
        site.hub = server_url(client)
        context = await browser.new_context(locale="sv-SE")
        page = await context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await page.goto(site.url)
        await page.get_by_test_id("chat-launcher").click()
        status = page.get_by_test_id("chat-status")
        live = catalogue.text("sv", "widget.live")
        await expect(status).to_have_text(live)

        # A passing close (service restart) with a code this widget has no words for.
        for ws in list(client.app[WEBSOCKETS]):
            await ws.close(code=1012, message=b"a_code_of_a_newer_hub")
        error = page.get_by_test_id("chat-error")
        await expect(error).to_have_text(
            catalogue.text("sv", "widget.error_general_urgent", phone=URGENT_SHOWN))
        link = error.get_by_role("link", name=URGENT_SHOWN)
        await expect(link).to_have_attribute("href", URGENT_DIAL)

        await expect(status).to_have_text(live, timeout=LIVE_MS)  # it reconnects
        await expect(error).to_be_empty()  # and the passing sentence goes
        await context.close()
    assert errors == []
