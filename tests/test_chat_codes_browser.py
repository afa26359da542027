"""The chat widget in Chromium says the hub's refusals in the passenger's language: a socket the
hub closes carries a code, and a Swedish widget shows that code's Swedish sentence (or the
general one for a code it has no words for), never the code or the hub's English."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect

from hub import catalogue
from hub.appkeys import WEBSOCKETS
from hub.settings import Settings
from tests.chat_site import ChatSite, chat_settings
from tests.conftest import HubFactory, server_url

# What the pages say does not depend on the stores: checked on the embedded pass only.
pytestmark = pytest.mark.store_independent

LIVE_MS = 10_000  # waits that cross the hub on a busy machine


async def test_a_swedish_widget_says_the_hubs_refusals_in_swedish(
    hub: HubFactory, settings: Settings, browser: Browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Four frames a minute: a message is three (typing, stopped typing, the message), so the
    # passenger's second one is over the frame rate when it is sent.
    monkeypatch.setattr("channels.chat.session.FRAMES_PER_MINUTE", 4)
    errors: list[str] = []
    async with ChatSite(lang="sv") as site:
        client = await hub(chat_settings(settings, allowed_origins=(site.origin,)))
        site.hub = server_url(client)
        context = await browser.new_context(locale="sv-SE")
        page = await context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await page.goto(site.url)
        await page.get_by_test_id("chat-launcher").click()
        status = page.get_by_test_id("chat-status")
        await expect(status).to_have_text("Ansluten")
        error = page.get_by_test_id("chat-error")

        # The hub closes with a code this widget has no words for: the general sentence.
        for ws in list(client.app[WEBSOCKETS]):
            await ws.close(code=4400, message=b"a_code_of_a_newer_hub")
        await expect(error).to_have_text(catalogue.text("sv", "widget.error_general"))
        await expect(status).to_have_text("Ansluten", timeout=LIVE_MS)  # it reconnects

        # Over the frame rate: the hub closes with 4429 chat_frames_too_many.
        text = page.get_by_test_id("chat-text")
        await text.fill("Hej, en taxi till Tölö")
        await text.press("Enter")
        lines = page.get_by_test_id("chat-line")
        await expect(lines.nth(0)).to_have_attribute("data-state", "sent", timeout=LIVE_MS)
        await text.fill("Och en till")
        await text.press("Enter")
        sentence = catalogue.text("sv", "widget.error.chat_frames_too_many")
        assert sentence.startswith("Chatten fick för många meddelanden")
        await expect(error).to_have_text(sentence, timeout=LIVE_MS)
        await expect(status).to_have_text("Anslutningen bröts – ansluter på nytt…")
        # Not refused for good: the line waits to be sent once the widget is back.
        await expect(lines.nth(1)).to_have_attribute("data-state", "sending")
        await context.close()
    assert errors == []
