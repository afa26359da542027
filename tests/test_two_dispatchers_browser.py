"""Two dispatchers at work side by side, in a real browser (Debian's Chromium driven by
Playwright): two agents, each logged in through the console's own login page, in two
browser contexts of one Chromium.

A passenger texts the company (Twilio's webhook, signed as Twilio signs it) and another
writes in the chat widget on the company's site (tests/chat_site.py). Both requests appear in
both consoles live. Aino claims the SMS and Pekka sees it taken by her without a reload (his
own claim is refused, naming her); Pekka claims the chat and Aino sees that. Aino answers the
SMS from the composer and the reply reaches Twilio (a local fake of its API) to the
passenger, from the number they texted; Pekka answers the chat and the passenger's page
shows the answer under his name.
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any
from urllib.parse import urlencode

from aiohttp.test_utils import TestClient
from playwright.async_api import Browser, Locator, Page, expect

from hub.settings import (
    ChannelsSettings,
    HttpSettings,
    Secret,
    Settings,
    SmsSettings,
    TwilioSettings,
)
from tests.chat_site import ChatSite, chat_settings
from tests.conftest import (
    PASSWORD,
    HubFactory,
    free_port,
    server_url,
)
from tests.gateways import FakeTwilio, twilio_signature
from tests.helpers import eventually

VIEWPORT = {"width": 1366, "height": 768}  # the dispatchers' laptops
# Waits that cross the hub (webhook, router, relay, event feed, outbound worker) on a busy
# machine; Playwright's default of 5 s is for the page alone.
LIVE_MS = 10_000
TOKEN = "twilio-two-dispatchers-token"
ACCOUNT = "AC" + "5" * 32
PASSENGER = "+358401237654"
PASSENGER_SHOWN = "040 123 7654"  # as the console shows it (phone.js)
COMPANY_NUMBER = "+358451234567"  # the number the passenger texts
DEFAULT_SENDER = "+358400000000"  # configured, but a reply comes from the number texted
SMS_TEXT = "Tarvitsen taksin Kamppiin klo 18, kaksi matkustajaa."
CHAT_TEXT = "Hei! Unohdin laukun taksiin, voitteko auttaa?"


def _settings(settings: Settings, twilio: FakeTwilio, site: ChatSite, port: int) -> Settings:
    """SMS through `twilio`, chat from `site`; the public URL is known before the hub starts,
    as Twilio's signatures cover it."""
    return dataclasses.replace(
        chat_settings(settings, allowed_origins=(site.origin,)),
        channels=ChannelsSettings(enabled=("webform", "twilio_sms", "chat")),
        http=HttpSettings(public_url=f"http://127.0.0.1:{port}"),
        sms=SmsSettings(twilio=TwilioSettings(
            auth_token=Secret(TOKEN), account_sid=ACCOUNT, from_number=DEFAULT_SENDER,
            api_url=twilio.url)),
    )


async def _page(browser: Browser, errors: list[str]) -> Page:
    """A page in a browser context of its own: its own cookies, its own storage."""
    context = await browser.new_context(locale="fi-FI", viewport=VIEWPORT)
    page = await context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return page


async def _console(browser: Browser, base: str, login: str, errors: list[str]) -> Page:
    """A dispatcher logs in on the console's login page, as at the start of a shift."""
    page = await _page(browser, errors)
    await page.goto(f"{base}/console")
    await page.get_by_test_id("login-user").fill(login)
    await page.get_by_test_id("login-password").fill(PASSWORD)
    await page.get_by_test_id("login-password").press("Enter")
    await expect(page.get_by_test_id("connection-state")).to_have_attribute(
        "data-state", "live")
    await page.evaluate("window.stillTheSamePage = true")
    return page


async def _text_in(client: TestClient[Any, Any], body: str) -> None:
    """The passenger texts the company number; Twilio forwards it, signed."""
    params = [("ToCountry", "FI"), ("MessageSid", "SM" + uuid.uuid4().hex),
              ("AccountSid", ACCOUNT), ("From", PASSENGER), ("To", COMPANY_NUMBER),
              ("Body", body), ("NumSegments", "1"), ("NumMedia", "0"),
              ("ApiVersion", "2010-04-01")]
    url = str(client.make_url("/webhooks/sms/twilio"))
    async with client.post("/webhooks/sms/twilio", data=urlencode(params), headers={
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": twilio_signature(TOKEN, url, params),
    }) as response:
        assert response.status == 200, await response.text()


def _row(page: Page, channel: str) -> Locator:
    """The queue's row of the one request that came in over `channel`."""
    return page.get_by_test_id("queue-row").filter(has=page.locator(f".channel-{channel}"))


async def _unreloaded(*pages: Page) -> None:
    for page in pages:
        assert await page.evaluate("window.stillTheSamePage") is True


async def test_two_dispatchers_share_the_queue_and_answer_an_sms_and_a_chat(
    hub: HubFactory, make_agent: Any, settings: Settings, browser: Browser
) -> None:
    errors: list[str] = []
    async with FakeTwilio(account_sid=ACCOUNT, auth_token=TOKEN) as twilio, \
            ChatSite(lang="fi") as site:
        port = free_port()
        client = await hub(_settings(settings, twilio, site, port), port=port)
        base = site.hub = server_url(client)
        aino = await make_agent(client, name="Aino Välittäjä")
        pekka = await make_agent(client, name="Pekka Päivystäjä")
        a = await _console(browser, base, aino.login, errors)
        b = await _console(browser, base, pekka.login, errors)
        for page in (a, b):
            await expect(page.get_by_test_id("queue-row")).to_have_count(0)

        # A passenger texts; another writes in the chat widget on the company's site.
        await _text_in(client, SMS_TEXT)
        passenger = await _page(browser, errors)
        await passenger.goto(site.url)
        await passenger.get_by_test_id("chat-launcher").click()
        await expect(passenger.get_by_test_id("chat-status")).to_have_attribute(
            "data-state", "live")
        chat_text = passenger.get_by_test_id("chat-text")
        await chat_text.fill(CHAT_TEXT)
        await chat_text.press("Enter")
        lines = passenger.get_by_test_id("chat-line")
        await expect(lines).to_have_count(1)
        await expect(lines.nth(0)).to_have_attribute("data-state", "sent", timeout=LIVE_MS)

        # Both appear in both queues, live: the same requests, nobody on them yet.
        seen: dict[str, tuple[str | None, str | None]] = {}
        for page in (a, b):
            for channel, text in (("sms", SMS_TEXT), ("chat", CHAT_TEXT)):
                row = _row(page, channel)
                await expect(row).to_have_count(1, timeout=LIVE_MS)
                await expect(row.locator("td.col-preview")).to_have_text(text)
                await expect(row).to_have_attribute("data-status", "queued")
                await expect(row.locator("td.col-agent")).to_have_text("–")
                found = (await row.get_attribute("data-request-id"),
                         await row.get_attribute("data-reference"))
                assert seen.setdefault(channel, found) == found  # one request, two consoles
            await expect(page.get_by_test_id("queue-row")).to_have_count(2)
        assert all(request_id and reference for request_id, reference in seen.values())
        await _unreloaded(a, b)

        # Pekka looks at the SMS; Aino opens it from the keyboard and claims it.
        await _row(b, "sms").click()
        await expect(b.get_by_test_id("detail-reference")).to_have_text(seen["sms"][1] or "")
        await expect(b.get_by_test_id("detail-status")).to_have_text("Jonossa")
        await _row(a, "sms").locator(".row-open").focus()
        await a.keyboard.press("Enter")
        await expect(a.get_by_test_id("detail-reference")).to_have_text(seen["sms"][1] or "")
        await expect(a.get_by_test_id("timeline-message")).to_contain_text("Kamppiin")
        await a.get_by_test_id("action-claim").focus()
        await a.keyboard.press("Enter")
        await expect(a.get_by_test_id("detail-assigned")).to_have_text("Aino Välittäjä")

        # Pekka sees it taken by Aino at once, in his queue and in the request he has open.
        await expect(_row(b, "sms").locator("td.col-agent")).to_have_text(
            "Aino Välittäjä", timeout=LIVE_MS)
        await expect(_row(b, "sms")).to_have_attribute("data-status", "claimed")
        await expect(b.get_by_test_id("detail-status")).to_have_text("Käsittelyssä")
        await expect(b.get_by_test_id("detail-assigned")).to_have_text("Aino Välittäjä")
        await expect(b.get_by_test_id("action-resolve")).to_be_disabled()
        await _unreloaded(b)
        # Taking it anyway is refused by the hub, in words naming the holder.
        await b.get_by_test_id("action-claim").click()
        await expect(b.get_by_test_id("action-error")).to_contain_text(
            "Pyyntö on käyttäjän Aino Välittäjä käsittelyssä.")

        # Pekka claims the chat; Aino sees it go to him.
        await _row(b, "chat").click()
        await expect(b.get_by_test_id("detail-reference")).to_have_text(seen["chat"][1] or "")
        await b.get_by_test_id("action-claim").click()
        await expect(b.get_by_test_id("detail-assigned")).to_have_text("Pekka Päivystäjä")
        await expect(_row(a, "chat").locator("td.col-agent")).to_have_text(
            "Pekka Päivystäjä", timeout=LIVE_MS)
        await expect(_row(a, "chat")).to_have_attribute("data-status", "claimed")
        await expect(_row(a, "sms").locator("td.col-agent")).to_have_text("Aino Välittäjä")

        # Aino answers the SMS from the composer, by keyboard: Ctrl+Enter sends.
        await expect(a.get_by_test_id("composer-channel")).to_have_value("sms")
        await expect(a.get_by_test_id("composer-to")).to_have_text(
            f"Vastaanottaja: {PASSENGER_SHOWN}")
        sms_reply = "Taksi ABC-123 on perillä klo 18.00. Hyvää matkaa!"
        composer = a.get_by_test_id("composer-text")
        await composer.click()
        await a.keyboard.type(sms_reply)
        await a.keyboard.press("Control+Enter")
        await expect(composer).to_have_value("")
        outbound = a.locator('[data-testid="timeline-message"][data-direction="outbound"]')
        await expect(outbound.locator(".body")).to_have_text(sms_reply, timeout=LIVE_MS)
        await expect(outbound.get_by_test_id("delivery-badge")).to_have_attribute(
            "data-state", "sent", timeout=LIVE_MS)

        # It reached Twilio's Messages API: to the passenger, from the number they texted.
        async def sent_once() -> list[dict[str, str]] | None:
            posts = [r.data for r in twilio.received if r.path.endswith("/Messages.json")]
            return posts or None
        [post] = await eventually(sent_once, what="the reply at the SMS gateway")
        assert (post["To"], post["From"], post["Body"]) == (PASSENGER, COMPANY_NUMBER,
                                                            sms_reply)
        [sent] = twilio.messages.values()
        assert (sent.to, sent.sender, sent.text) == (PASSENGER, COMPANY_NUMBER, sms_reply)

        # Pekka answers the chat; the passenger's page shows it under his name.
        await expect(b.get_by_test_id("composer-channel")).to_have_value("chat")
        chat_reply = "Hei! Tarkistan auton heti, soitamme sinulle 10 minuutin sisällä."
        await b.get_by_test_id("composer-text").fill(chat_reply)
        await b.get_by_test_id("composer-send").click()
        await expect(b.get_by_test_id("composer-text")).to_have_value("")
        await expect(lines).to_have_count(2, timeout=LIVE_MS)
        answer = lines.nth(1)
        await expect(answer).to_have_attribute("data-from", "dispatcher")
        await expect(answer.get_by_test_id("chat-who")).to_have_text("Pekka Päivystäjä")
        await expect(answer.get_by_test_id("chat-text-body")).to_have_text(chat_reply)
        assert len(twilio.received) == 1  # the chat answer went to the widget, not by SMS

        # Neither console was reloaded; both still show who holds what.
        await _unreloaded(a, b)
        for page in (a, b):
            await expect(_row(page, "sms").locator("td.col-agent")).to_have_text(
                "Aino Välittäjä")
            await expect(_row(page, "chat").locator("td.col-agent")).to_have_text(
                "Pekka Päivystäjä")
        for page in (a, b, passenger):
            await page.close()
    assert errors == []
