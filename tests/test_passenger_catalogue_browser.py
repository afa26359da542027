"""The passenger's pages speak only their catalogue, in Chromium, in Finnish, Swedish and
English (issue 15): every line the web form shows (the form reached through its language
switch, the form refused, the confirmation, the busy and too-many pages) and every line of
the chat widget (the launcher, the pre-chat panel, the order, a conversation with the hub's
answer and a dispatcher's typing and reply, the too-long error, the end of the chat, the
closed-hours notice, a chat that cannot connect) is a value of hub/catalogue/<lang>.json
with its placeholders filled, or what the test itself typed. tests/catalogue_check.py says
what counts as shown.

A chat that cannot connect names the company's urgent number (company.urgent_phone) as a
tel: link when it is set, and asks no one to call when it is not.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Browser, Page, expect

from hub import catalogue
from hub.settings import (
    AnswersSettings,
    CompanySettings,
    HttpSettings,
    IngestSettings,
    Settings,
)
from tests.catalogue_check import passenger_foreign_words
from tests.chat_site import ChatSite, chat_settings
from tests.conftest import DispatcherFactory, HubFactory, server_url
from tests.helpers import Dispatcher, eventually

# What the pages say does not depend on the stores: checked on the embedded pass only.
pytestmark = pytest.mark.store_independent

LANGUAGES = catalogue.LANGUAGES
URGENT = "09 123 4567"  # company.urgent_phone as the company advertises it
URGENT_DIAL = "tel:+35891234567"
WIDGET = "[data-taxiconnect-chat]"
LIVE_MS = 10_000  # a reply crosses the router, the outbound worker and the chat relay
# What the passenger and the dispatcher type, shown as it is in any language.
NAME, PHONE, ADDRESS = "Aino Virtanen", "040 123 4567", "Kampinkuja 2, Helsinki"
AGENT = "Aino Välittäjä"
FIRST = {"fi": "Tarvitsen taksin Kamppiin", "sv": "Jag behöver en taxi till Tölö",
         "en": "I need a taxi to the airport"}
REPLY = "Auto on matkalla, perillä 5 min."
TYPED = (NAME, PHONE, ADDRESS, AGENT, REPLY, *FIRST.values())
# Words that ask the passenger to call (issue 15 item 7: "soita" with no number).
CALL_WORDS = {"fi": r"\bsoit", "sv": r"\bring\b", "en": r"\bcall\b"}


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    """A passenger's browser profile, Finnish: the page's own language decides."""
    context = await browser.new_context(locale="fi-FI", timezone_id="Europe/Helsinki",
                                        viewport={"width": 390, "height": 844})
    errors: list[str] = []
    try:
        found = await context.new_page()
        found.on("pageerror", lambda exc: errors.append(str(exc)))
        yield found
    finally:
        await context.close()
    assert errors == []


async def _speaks(page: Page, lang: str, state: str, root: str | None = None) -> None:
    foreign = await passenger_foreign_words(page, lang, TYPED, root=root)
    assert foreign == [], f"{state} in {lang}: not in hub/catalogue/{lang}.json: {foreign}"


def _values(lang: str) -> set[str]:
    return {value for value in catalogue.entries(lang).values() if isinstance(value, str)}


async def _form_speaks(page: Page, lang: str, state: str) -> None:
    await expect(page.locator("html")).to_have_attribute("lang", lang)
    assert await page.title() in _values(lang), (state, lang)
    await _speaks(page, lang, state)


async def _fill_order(page: Page) -> None:
    await page.locator("#name").fill(NAME)
    await page.locator("#phone").fill(PHONE)
    await page.locator("#pickup_address").fill(ADDRESS)


def _with(settings: Settings, **changes: Any) -> Settings:
    return dataclasses.replace(settings, company=CompanySettings(urgent_phone=URGENT),
                               answers=AnswersSettings(acknowledge=("webform", "chat")),
                               **changes)


async def test_every_word_of_the_web_form_is_in_its_language_catalogue(
    hub: HubFactory, settings: Settings, page: Page
) -> None:
    client = await hub(_with(settings))
    base = server_url(client)
    await page.goto(f"{base}/form")
    for lang in LANGUAGES:
        # The switch names each language in its own: reached by it, not by the address.
        name = catalogue.text(lang, "form.language_name")
        await page.get_by_role("navigation").get_by_role("link", name=name).click()
        await _form_speaks(page, lang, "the form")
        link = page.locator("a.urgent-phone")
        await expect(link).to_have_attribute("href", URGENT_DIAL)
        await page.get_by_role("button").click()  # nothing filled in
        await expect(page.locator("#errors")).to_be_visible()
        await _form_speaks(page, lang, "the refused form")
        await _fill_order(page)
        await page.get_by_role("button").click()
        await expect(page.locator(".reference")).not_to_be_empty()
        await _form_speaks(page, lang, "the confirmation")
        await page.goto(f"{base}/form?lang={lang}")

    # A hub at capacity answers every post busy; a second post from the address within the
    # minute is one too many. Each language posts from an address of its own.
    crowded = await hub(_with(settings,
                              http=HttpSettings(trusted_proxies=("127.0.0.1",)),
                              ingest=IngestSettings(max_in_flight=0,
                                                    form_posts_per_address_per_minute=1)))
    for n, lang in enumerate(LANGUAGES):
        await page.set_extra_http_headers({"X-Forwarded-For": f"203.0.113.{n + 10}"})
        await page.goto(f"{server_url(crowded)}/form?lang={lang}")
        for state, title in (("busy", "form.busy_title"), ("too many", "form.too_many_title")):
            await _fill_order(page)
            await page.get_by_role("button").click()
            await expect(page.get_by_role("heading")).to_have_text(catalogue.text(lang, title))
            await _form_speaks(page, lang, f"the {state} page")
            await page.go_back()


def _closed_now(timezone: str) -> str:
    """Opening hours that do not cover today or tomorrow in the company's time."""
    day = (datetime.now(ZoneInfo(timezone)) + timedelta(days=3)).strftime("%a")[:2].lower()
    return f"{day} 03:00-03:01"


async def _only_request(agent: Dispatcher, lang: str) -> str:
    async def probe() -> str | None:
        for summary in await agent.open_requests():
            if summary["preview"] == FIRST[lang]:
                return str(summary["id"])
        return None
    return await eventually(probe, what=f"the {lang} chat request")


async def _widget_speaks(page: Page, lang: str, state: str) -> None:
    await _speaks(page, lang, state, root=WIDGET)


async def _open(page: Page, site: ChatSite, state: str = "live") -> None:
    await page.goto(site.url)
    launcher = page.get_by_test_id("chat-launcher")
    await expect(launcher).to_be_visible()
    await launcher.click()
    await expect(page.get_by_test_id("chat-status")).to_have_attribute("data-state", state)


async def test_every_word_of_the_chat_widget_is_in_its_language_catalogue(
    hub: HubFactory, settings: Settings, dispatcher: DispatcherFactory, page: Page
) -> None:
    async with ChatSite("fi") as fi, ChatSite("sv") as sv, ChatSite("en") as en, \
            ChatSite("fi") as foreign:
        sites = {"fi": fi, "sv": sv, "en": en}
        client = await hub(_with(chat_settings(settings, allowed_origins=tuple(
            site.origin for site in sites.values()))))
        base = server_url(client)
        for site in (*sites.values(), foreign):
            site.hub = base
        agent = await dispatcher(client, name=AGENT)
        for lang, site in sites.items():
            await page.goto(site.url)
            await expect(page.get_by_test_id("chat-launcher")).to_be_visible()
            await _widget_speaks(page, lang, "the launcher")
            await _open(page, site)
            await expect(page.get_by_test_id("chat-notice")).to_be_visible()  # nobody in
            await expect(page.get_by_test_id("chat-details")).to_have_attribute("open", "")
            await _widget_speaks(page, lang, "the pre-chat panel")
            await page.get_by_test_id("chat-order").locator("summary").click()
            await expect(page.get_by_test_id("chat-pickup_address")).to_be_visible()
            await _widget_speaks(page, lang, "the order")
            await page.get_by_test_id("chat-order").locator("summary").click()

            await page.get_by_test_id("chat-name").fill(NAME)
            text = page.get_by_test_id("chat-text")
            await text.fill(FIRST[lang])
            await text.press("Enter")
            lines = page.get_by_test_id("chat-line")
            await expect(lines).to_have_count(2, timeout=LIVE_MS)  # and the hub's answer
            await expect(page.get_by_test_id("chat-notice")).to_be_visible()
            await _widget_speaks(page, lang, "the conversation with the hub's answer")
            request_id = await _only_request(agent, lang)
            async with agent.http.post(f"{base}/api/v1/requests/{request_id}/typing",
                                       json={"on": True}) as resp:
                assert resp.status == 204
            await expect(page.get_by_test_id("chat-typing")).not_to_have_text("",
                                                                              timeout=LIVE_MS)
            await _widget_speaks(page, lang, "a dispatcher typing")
            status, answer = await agent.reply(request_id, REPLY, f"reply-{lang}")
            assert status == 201, answer
            await expect(lines).to_have_count(3, timeout=LIVE_MS)
            await expect(lines.nth(2).get_by_test_id("chat-who")).to_have_text(AGENT)
            await _widget_speaks(page, lang, "the dispatcher's reply")

            await text.fill("x" * 2001)
            await text.press("Enter")
            await expect(page.get_by_test_id("chat-error")).not_to_be_empty()
            await _widget_speaks(page, lang, "a message too long")
            await text.fill("")
            await page.get_by_test_id("chat-end").click()
            await expect(page.get_by_test_id("chat-end-form")).to_be_visible()
            await _widget_speaks(page, lang, "the end of the chat asked")
            await page.get_by_test_id("chat-end-confirm").click()
            await expect(lines).to_have_count(0)
            await _widget_speaks(page, lang, "the chat ended")

        # A site the hub does not allow: the chat cannot connect, and names the number.
        for lang in LANGUAGES:
            foreign.lang = lang
            await _open(page, foreign, "unreachable")
            await _widget_speaks(page, lang, "the chat unreachable")
            status_line = page.get_by_test_id("chat-status")
            await expect(status_line).to_have_text(catalogue.text(
                lang, "widget.unreachable_urgent", phone=URGENT.replace(" ", "\u00a0")))
            await expect(page.get_by_test_id("chat-urgent-phone")).to_have_attribute(
                "href", URGENT_DIAL)


async def test_closed_and_without_an_urgent_number_the_widget_asks_no_one_to_call(
    hub: HubFactory, settings: Settings, page: Page
) -> None:
    async with ChatSite("fi") as site, ChatSite("fi") as foreign:
        client = await hub(dataclasses.replace(
            chat_settings(settings, allowed_origins=(site.origin,),
                          opening_hours=_closed_now(settings.timezone)),
            company=CompanySettings(urgent_phone="")))
        site.hub = foreign.hub = server_url(client)
        for lang in LANGUAGES:
            site.lang = foreign.lang = lang
            await _open(page, site)
            notice = page.get_by_test_id("chat-notice")
            await expect(notice).to_have_text(catalogue.text(lang, "widget.closed_hours"))
            await _widget_speaks(page, lang, "the closed-hours notice")

            await _open(page, foreign, "unreachable")
            status_line = page.get_by_test_id("chat-status")
            await expect(status_line).to_have_text(catalogue.text(lang, "widget.unreachable"))
            await _widget_speaks(page, lang, "the chat unreachable, no number")
            assert not re.search(CALL_WORDS[lang], await status_line.inner_text(), re.I)
            await expect(page.get_by_test_id("chat-urgent-phone")).to_have_count(0)
