"""The chat widget's unread count in Chromium, in each passenger language: a dispatcher's
replies (through the API: reply, outbound, the chat websocket) reach a widget whose panel is
closed, and the launcher's accessible name takes the plural form the language needs for 1,
2, 5 and 21 messages (issue 15). The visible launcher keeps the short "Chat (5)"; the words
are what a screen reader says. Opening the panel leaves no count, and a reload after reading
does not count the read replies again.

The expected texts are written out here, not derived from the catalogue: a wrong form in
hub/catalogue/*.json must fail this test too.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from playwright.async_api import Browser, Locator, Page, async_playwright, expect

from hub.agents import add_agent
from hub.app import create_app
from hub.appkeys import DATABASE
from hub.log_privacy import PrivateAccessLogger
from hub.model import Role
from hub.settings import AnswersSettings, Settings, load_settings
from tests.chat_site import ChatSite, chat_settings
from tests.conftest import CHROMIUM, CHROMIUM_ARGS, PASSWORD, require_chromium, server_url
from tests.helpers import Dispatcher, eventually, http_session
from tests.services import fresh_database

# The widget's words for a count: nothing here depends on the stores (embedded pass only).
pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.store_independent]

LANGUAGES = ("fi", "sv", "en")
# The launcher with nothing unread, and its name for n unread replies.
IDLE = {"fi": "Chat", "sv": "Chatt", "en": "Chat"}
UNREAD = {
    "fi": {1: "Chat, 1 uusi viesti", 2: "Chat, 2 uutta viestiä", 5: "Chat, 5 uutta viestiä",
           21: "Chat, 21 uutta viestiä"},
    "sv": {1: "Chatt, 1 nytt meddelande", 2: "Chatt, 2 nya meddelanden",
           5: "Chatt, 5 nya meddelanden", 21: "Chatt, 21 nya meddelanden"},
    "en": {1: "Chat, 1 new message", 2: "Chat, 2 new messages", 5: "Chat, 5 new messages",
           21: "Chat, 21 new messages"},
}
FIRST_WORDS = {"fi": "Tarvitsen taksin Kamppiin", "sv": "Jag behöver en taxi till Tölö",
               "en": "I need a taxi to the airport"}
LIVE_MS = 10_000  # a reply crosses the router, the outbound worker and the chat relay


@dataclass
class Shift:
    base: str
    sites: dict[str, ChatSite]
    agent: Dispatcher
    browser: Browser


@pytest.fixture(scope="module")
def module_settings(tmp_path_factory: pytest.TempPathFactory, redis_url: str
                    ) -> Iterator[Settings]:
    folder: Path = tmp_path_factory.mktemp("plurals")
    with fresh_database(folder) as database_url:
        yield dataclasses.replace(load_settings(None, environ={
            "TAXICONNECT_DATA_DIR": str(folder / "data"),
            "TAXICONNECT_DATABASE_URL": database_url,
            "TAXICONNECT_REDIS_URL": redis_url,
            "TAXICONNECT_REDIS_PREFIX": f"t{uuid.uuid4().hex[:10]}:",
        }), answers=AnswersSettings(acknowledge=()))  # only the dispatcher's replies count


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shift(module_settings: Settings) -> AsyncIterator[Shift]:
    """One hub, a site per language embedding its widget, a dispatcher logged in through
    the API, and one Chromium, for the whole module."""
    require_chromium()
    async with AsyncExitStack() as stack:
        sites = {lang: await stack.enter_async_context(ChatSite(lang=lang))
                 for lang in LANGUAGES}
        settings = chat_settings(module_settings,
                                 allowed_origins=tuple(s.origin for s in sites.values()))
        # The access log through the hub's own logger, as the hub fixture has it (the
        # suite's log is searched for personal data at the end).
        client: TestClient[Any, Any] = TestClient(TestServer(
            create_app(settings), access_log=logging.getLogger("hub.access"),
            access_log_class=PrivateAccessLogger))
        await client.start_server()
        stack.push_async_callback(client.close)
        base = server_url(client)
        for site in sites.values():
            site.hub = base
        agent = await add_agent(client.app[DATABASE], login="aino.v", name="Aino Välittäjä",
                                role=Role.TEAM, password=PASSWORD)
        dispatcher = Dispatcher(agent, http_session(), base)
        stack.push_async_callback(dispatcher.close)
        async with dispatcher.http.post(f"{base}/api/v1/auth/login",
                                        json={"login": agent.login,
                                              "password": PASSWORD}) as resp:
            assert resp.status == 200, await resp.text()
        playwright = await stack.enter_async_context(async_playwright())
        browser = await playwright.chromium.launch(executable_path=CHROMIUM,
                                                   args=CHROMIUM_ARGS, headless=True)
        stack.push_async_callback(browser.close)  # before the hub: open sockets delay it
        yield Shift(base, sites, dispatcher, browser)


@pytest_asyncio.fixture(loop_scope="module")
async def page(shift: Shift) -> AsyncIterator[Page]:
    """A passenger's own browser profile (a Finnish one: the page's language decides)."""
    context = await shift.browser.new_context(locale="fi-FI")
    errors: list[str] = []
    try:
        found = await context.new_page()
        found.on("pageerror", lambda exc: errors.append(str(exc)))
        yield found
    finally:
        await context.close()
    assert errors == []


async def _start_chat(page: Page, shift: Shift, lang: str) -> str:
    """The passenger opens the widget, writes, and closes the panel; the request's id."""
    await page.goto(shift.sites[lang].url)
    await page.get_by_test_id("chat-launcher").click()
    await expect(page.get_by_test_id("chat-status")).to_have_attribute("data-state", "live")
    text = page.get_by_test_id("chat-text")
    await text.fill(FIRST_WORDS[lang])
    await text.press("Enter")
    await expect(page.get_by_test_id("chat-line")).to_have_attribute(
        "data-state", "sent", timeout=LIVE_MS)
    await page.get_by_test_id("chat-minimise").click()
    await expect(page.get_by_test_id("chat-panel")).to_be_hidden()

    async def probe() -> str | None:
        for summary in await shift.agent.open_requests():
            if summary["preview"] == FIRST_WORDS[lang]:
                return str(summary["id"])
        return None
    return await eventually(probe, what=f"the {lang} chat request")


async def _reply(shift: Shift, request_id: str, count: int) -> None:
    for _ in range(count):
        status, answer = await shift.agent.reply(request_id, "Auto on matkalla",
                                                 str(uuid.uuid4()))
        assert status == 201, answer


async def _shows_count(launcher: Locator, lang: str, count: int) -> None:
    await expect(launcher).to_have_accessible_name(UNREAD[lang][count], timeout=LIVE_MS)
    await expect(launcher).to_have_text(f"{IDLE[lang]} ({count})")


async def _shows_no_count(launcher: Locator, lang: str) -> None:
    await expect(launcher).to_have_text(IDLE[lang])
    await expect(launcher).to_have_accessible_name(IDLE[lang])


@pytest.mark.parametrize("lang", LANGUAGES)
async def test_the_unread_count_takes_the_languages_plural_form(
    shift: Shift, page: Page, lang: str
) -> None:
    request_id = await _start_chat(page, shift, lang)
    launcher = page.get_by_test_id("chat-launcher")
    await _shows_no_count(launcher, lang)

    sent = 0
    for unread in UNREAD[lang]:  # replies in quick succession, up to 1, 2, 5, 21 unread
        await _reply(shift, request_id, unread - sent)
        sent = unread
        await _shows_count(launcher, lang, unread)
    # Every reply is in the (hidden) log, so no late one can still raise the count.
    replies = page.locator("[data-testid=chat-line][data-from=dispatcher]")
    await expect(replies).to_have_count(21)
    await _shows_count(launcher, lang, 21)

    # Read: no count while open, nor once closed again, nor after a reload.
    await launcher.click()
    await expect(page.get_by_test_id("chat-panel")).to_be_visible()
    await _shows_no_count(launcher, lang)
    await page.get_by_test_id("chat-minimise").click()
    await _shows_no_count(launcher, lang)
    await page.reload()
    await expect(page.locator("[data-testid=chat-line][data-from=dispatcher]")
                 ).to_have_count(21, timeout=LIVE_MS)
    await _shows_no_count(launcher, lang)

    # One more while closed: counted once, and still once after a reload.
    await _reply(shift, request_id, 1)
    await _shows_count(launcher, lang, 1)
    await page.reload()
    await expect(page.locator("[data-testid=chat-line][data-from=dispatcher]")
                 ).to_have_count(22, timeout=LIVE_MS)
    await _shows_count(launcher, lang, 1)
