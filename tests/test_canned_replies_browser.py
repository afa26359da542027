"""Canned replies in real browsers (Debian's Chromium driven by Playwright).

An admin adds canned replies on the admin page (an unknown placeholder is pointed out before
saving); a dispatcher answering a passenger's SMS types "/" in the empty composer, filters the
picker, gives the ETA the reply asks for, edits the inserted text and sends it: Twilio (a local
fake of its API) gets the text with the request's reference and the ETA filled in. The admin
then sees the SMS channel's traffic on the channel status tab.
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any
from urllib.parse import urlencode

from aiohttp.test_utils import TestClient
from playwright.async_api import Browser, Page, expect

from channels.sms.twilio_signature import twilio_signature
from hub.model import Role
from hub.settings import (
    ChannelsSettings,
    HttpSettings,
    OutboundSettings,
    Secret,
    Settings,
    SmsSettings,
    TwilioSettings,
)
from tests.conftest import (
    PASSWORD,
    HubFactory,
    free_port,
    server_url,
)
from tests.gateways import FakeTwilio

VIEWPORT = {"width": 1366, "height": 768}
TOKEN = "twilio-test-auth-token"
ACCOUNT = "AC" + "3" * 32
PASSENGER = "+358401112233"
ORDERED = "Taksi on tilattu, viite {reference}, arvioitu saapumisaika {eta}."


async def _page(browser: Browser, errors: list[str]) -> Page:
    context = await browser.new_context(locale="fi-FI", viewport=VIEWPORT)
    page = await context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return page


async def _hub(hub: HubFactory, settings: Settings, twilio: FakeTwilio) -> TestClient[Any, Any]:
    port = free_port()
    return await hub(dataclasses.replace(
        settings,
        channels=ChannelsSettings(enabled=("webform", "twilio_sms")),
        http=HttpSettings(public_url=f"http://127.0.0.1:{port}"),
        sms=SmsSettings(twilio=TwilioSettings(
            auth_token=Secret(TOKEN), account_sid=ACCOUNT, from_number="+358400000000",
            api_url=twilio.url)),
        outbound=OutboundSettings(backoff_base_s=0.05, backoff_max_s=0.2, poll_s=0.05,
                                  send_timeout_s=5, max_attempts=4),
    ), port=port)


async def _text_in(client: TestClient[Any, Any], body: str) -> None:
    params = [("MessageSid", "SM" + uuid.uuid4().hex), ("AccountSid", ACCOUNT),
              ("From", PASSENGER), ("To", "+358451234567"), ("Body", body), ("NumMedia", "0")]
    url = str(client.make_url("/webhooks/sms/twilio"))
    response = await client.post("/webhooks/sms/twilio", data=urlencode(params), headers={
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": twilio_signature(TOKEN, url, params)})
    assert response.status == 200, await response.text()


async def _sign_in(page: Page, url: str, login: str) -> None:
    await page.goto(url)
    await page.get_by_test_id("login-user").fill(login)
    await page.get_by_test_id("login-password").fill(PASSWORD)
    await page.get_by_test_id("login-submit").click()


async def _add_reply(page: Page, title: str, language: str, body: str) -> None:
    await page.get_by_test_id("canned-title").fill(title)
    await page.get_by_test_id("canned-language").select_option(language)
    await page.get_by_test_id("canned-body").fill(body)
    await page.get_by_test_id("canned-submit").click()


async def test_an_admin_adds_a_canned_reply_and_a_dispatcher_sends_it_with_an_eta(
    hub: HubFactory, make_agent: Any, settings: Settings, browser: Browser
) -> None:
    async with FakeTwilio(account_sid=ACCOUNT, auth_token=TOKEN) as twilio:
        client = await _hub(hub, settings, twilio)
        base = server_url(client)
        admin = await make_agent(client, login="paakayttaja", role=Role.ADMIN,
                                 name="Pää Käyttäjä")
        agent = await make_agent(client, login="aino", name="Aino Välittäjä")
        errors: list[str] = []

        # The admin adds a Finnish reply: a typo'd placeholder is pointed out, not saved.
        page = await _page(browser, errors)
        await _sign_in(page, f"{base}/admin#canned", admin.login)
        await expect(page.get_by_test_id("tab-canned")).to_have_attribute(
            "aria-current", "page")
        await expect(page.get_by_test_id("canned-empty")).to_have_text(
            "Ei valmisvastauksia. Lisää ensimmäinen alla.")
        await _add_reply(page, "Tilaus vahvistettu", "fi",
                         "Taksi on tilattu, viite {viite}, arvioitu saapumisaika {eta}.")
        error = page.get_by_test_id("canned-error")
        await expect(error).to_have_text(
            "Tuntemattomat paikkamerkit: {viite}. Käytä vain painikkeiden merkkejä.")
        await expect(page.get_by_test_id("canned-row")).to_have_count(0)
        body = page.get_by_test_id("canned-body")
        await body.fill("Taksi on tilattu, viite , arvioitu saapumisaika {eta}.")
        await body.evaluate("el => el.setSelectionRange(24, 24)")  # after "viite "
        await page.get_by_test_id("placeholder-reference").click()
        await expect(body).to_have_value(ORDERED)
        await expect(error).to_have_text("")
        await expect(page.get_by_test_id("canned-preview")).to_have_text(
            "Taksi on tilattu, viite 12345, arvioitu saapumisaika 10 min.")
        await page.get_by_test_id("canned-submit").click()
        rows = page.get_by_test_id("canned-row")
        await expect(rows).to_have_count(1)
        await expect(page.get_by_test_id("canned-status")).to_have_text(
            "Valmisvastaus ”Tilaus vahvistettu” lisätty.")
        await expect(rows.get_by_test_id("canned-row-language")).to_have_text("FI")

        # An English one, then edited; a third, deleted after a confirmation.
        await _add_reply(page, "Order confirmd", "en",
                         "Hello {name}, your taxi is booked: {reference}.")
        await expect(rows).to_have_count(2)
        await rows.filter(has_text="Order confirmd").get_by_test_id("canned-edit").click()
        await expect(page.get_by_test_id("canned-form-heading")).to_have_text(
            "Muokkaa: Order confirmd")
        await page.get_by_test_id("canned-title").fill("Order confirmed")
        await page.get_by_test_id("canned-submit").click()
        await expect(rows.filter(has_text="Order confirmed")).to_have_count(1)
        await _add_reply(page, "Poistettava", "fi", "Tämä poistetaan.")
        await expect(rows).to_have_count(3)
        doomed = rows.filter(has_text="Poistettava")
        await doomed.get_by_test_id("canned-delete").click()
        await doomed.get_by_test_id("canned-confirm-delete").click()
        await expect(rows).to_have_count(2)
        await page.get_by_test_id("canned-filter-en").click()
        await expect(rows).to_have_count(1)
        await expect(rows).to_contain_text("Order confirmed")

        # A passenger texts; the dispatcher opens the request in the console.
        await _text_in(client, "Tarvitsen taksin Kamppiin heti")
        console = await _page(browser, errors)
        await _sign_in(console, f"{base}/console", agent.login)
        await expect(console.get_by_test_id("connection-state")).to_have_attribute(
            "data-state", "live")
        await console.get_by_test_id("queue-row").click()
        reference = await console.get_by_test_id("detail-reference").inner_text()
        text = console.get_by_test_id("composer-text")
        await expect(console.get_by_test_id("composer-channel")).to_have_value("sms")

        # "/" in the empty reply opens the picker: the console's language (Finnish) first.
        await text.press("/")
        picker = console.get_by_test_id("canned-picker")
        await expect(picker).to_be_visible()
        search = console.get_by_test_id("canned-search")
        await expect(search).to_be_focused()
        options = console.get_by_test_id("canned-option")
        await expect(options).to_have_count(2)
        await expect(options.get_by_test_id("canned-language")).to_have_text(["FI", "EN"])
        await expect(text).to_have_value("")

        # Esc gives back what was typed; the button opens it too. Typing filters.
        await search.press_sequentially("ab")
        await search.press("Escape")
        await expect(picker).to_be_hidden()
        await expect(text).to_have_value("/ab")
        await text.fill("")
        await console.get_by_test_id("canned-open").click()
        await search.press_sequentially("tilattu")
        await expect(options).to_have_count(1)
        await expect(options).to_contain_text("Tilaus vahvistettu")
        await search.press("Enter")

        # The reply names {eta}: the dispatcher is asked for it, inline.
        eta = console.get_by_test_id("canned-eta")
        await expect(eta).to_be_focused()
        await eta.press("Enter")
        await expect(console.get_by_test_id("canned-error")).to_have_text(
            "Kirjoita arvioitu saapumisaika.")
        await eta.fill("10 min")
        await eta.press("Enter")
        rendered = f"Taksi on tilattu, viite {reference}, arvioitu saapumisaika 10 min."
        await expect(text).to_have_value(rendered)
        await expect(picker).to_be_hidden()
        await expect(text).to_be_focused()
        await expect(console.get_by_test_id("composer-counter")).to_contain_text(
            f"{len(rendered)} merkkiä")

        # Edited before it goes: the passenger gets the edited text.
        await text.press("End")
        await text.press_sequentially(" Kiitos!")
        await text.press("Control+Enter")
        await expect(text).to_have_value("")
        outbound = console.locator(
            '[data-testid="timeline-message"][data-direction="outbound"]')
        await expect(outbound.locator(".body")).to_have_text(rendered + " Kiitos!")
        await expect(outbound.get_by_test_id("delivery-badge")).to_have_text("Lähetetty")
        assert [(m.to, m.text) for m in twilio.messages.values()] == [
            (PASSENGER, rendered + " Kiitos!")]

        # In English the English replies come first.
        await console.get_by_test_id("lang-en").click()
        await console.get_by_test_id("canned-open").click()
        await expect(options.get_by_test_id("canned-language")).to_have_text(["EN", "FI"])
        await console.get_by_test_id("canned-close").click()
        await expect(picker).to_be_hidden()

        # The admin's channel status shows the SMS in and the reply out.
        await page.get_by_test_id("tab-channels").click()
        sms = page.locator('[data-testid="channel-row"][data-name="twilio_sms"]')
        await expect(sms.get_by_test_id("channel-health")).to_have_text("Kunnossa")
        await expect(sms.get_by_test_id("channel-last-in")).to_have_text("juuri nyt")
        await expect(sms.get_by_test_id("channel-last-out-state")).to_have_text("Lähetetty")
        await expect(sms.get_by_test_id("channel-failed")).to_have_text("ei yhtään")
        await expect(page.locator('[data-testid="channel-row"][data-name="webform"]')
                     .get_by_test_id("channel-last-in")).to_have_text("ei vielä")
    assert errors == []
