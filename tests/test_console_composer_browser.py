"""The console's reply composer in a real browser (Debian's Chromium driven by Playwright).

A passenger's SMS is answered from the console: the counter shows segments and encoding as
channels/sms/segments.py counts them, Twilio (a local fake of its API) gets the reply once
even when the console's first answer is lost, and the reply's delivery badge follows Twilio's
status callbacks without a reload. Refusals from the hub are shown by the composer, which
keeps the text.

With TAXICONNECT_SCREENSHOTS=1 the test also saves docs/composer.png.
"""

from __future__ import annotations

import dataclasses
import os
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp.test_utils import TestClient
from playwright.async_api import Page, Route, async_playwright, expect

from channels.sms.segments import GSM7_BASIC, GSM7_EXTENSION, count_segments
from channels.sms.twilio_signature import twilio_signature
from hub.appkeys import INGESTOR
from hub.model import Channel, InboundContact
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
    CHROMIUM,
    CHROMIUM_ARGS,
    PASSWORD,
    DispatcherFactory,
    HubFactory,
    free_port,
    require_chromium,
    server_url,
)
from tests.gateways import FakeTwilio
from tests.helpers import Dispatcher

SCREENSHOT = Path(__file__).resolve().parents[1] / "docs" / "composer.png"
VIEWPORT = {"width": 1366, "height": 768}  # the dispatchers' laptops
TOKEN = "twilio-test-auth-token"
ACCOUNT = "AC" + "1" * 32
PASSENGER = "+358401112233"
PASSENGER_SHOWN = "040 111 2233"  # as the console shows it (phone.js)
COMPANY_NUMBER = "+358451234567"
REPLIES = "**/api/v1/requests/*/replies"
RESEND_WAIT_MS = 20_000

# The texts of tests/channels/test_sms_segments.py, and every character of the GSM-7 tables:
# the console must count each exactly as the hub does.
ETA = "Taksi ABC-123 saapuu 5 min kuluttua."
SEGMENT_EXAMPLES = [
    ETA, "Hyvää yötä, kyyti Töölöön ja Åbo", ETA + " Hinta 25 €", "Šoferi saapuu",
    "a" * 160, "a" * 161, "a" * 306, "a" * 307, "š" * 70, "š" * 71, "š" * 134, "š" * 135,
    "a" * 152 + "€" + "a" * 10, "š" * 66 + "🚕" + "š" * 5, "",
    "".join(sorted(GSM7_BASIC)), "".join(sorted(GSM7_EXTENSION)) * 20,
    "ž", "`", "á", "ç", "Ω", "—", "’", "🚕" * 40, "€" * 77, "[" * 80 + "a",
]


@pytest.fixture
async def page(hub: HubFactory) -> AsyncIterator[Page]:
    """A Chromium page, closed before the hub stops (its open websocket would delay that)."""
    require_chromium()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            context = await browser.new_context(locale="fi-FI", viewport=VIEWPORT)
            yield await context.new_page()
        finally:
            await browser.close()


async def _hub(hub: HubFactory, settings: Settings, twilio: FakeTwilio) -> TestClient[Any, Any]:
    """A hub that answers SMS through `twilio`, on a port known before it starts (Twilio's
    signatures cover the public URL)."""
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
    """The passenger texts the company number; Twilio forwards it, signed."""
    params = [("MessageSid", "SM" + uuid.uuid4().hex), ("AccountSid", ACCOUNT),
              ("From", PASSENGER), ("To", COMPANY_NUMBER), ("Body", body), ("NumMedia", "0")]
    url = str(client.make_url("/webhooks/sms/twilio"))
    response = await client.post("/webhooks/sms/twilio", data=urlencode(params), headers={
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": twilio_signature(TOKEN, url, params),
    })
    assert response.status == 200, await response.text()


async def _sign_in(page: Page, base: str, login: str) -> None:
    await page.goto(f"{base}/console")
    await page.get_by_test_id("login-user").fill(login)
    await page.get_by_test_id("login-password").fill(PASSWORD)
    await page.get_by_test_id("login-submit").click()
    await expect(page.get_by_test_id("connection-state")).to_have_attribute(
        "data-state", "live")


async def _act(agent: Dispatcher, request_id: str | None, action: str) -> None:
    async with agent.http.post(f"{agent.base}/api/v1/requests/{request_id}/{action}") as resp:
        assert resp.status == 200, await resp.text()


def _counter(text: str, lang: str = "fi") -> str:
    """The counter line as the console words it, from the hub's own count."""
    found = count_segments(text)
    chars = len(text)
    words = {"fi": (("merkki", "merkkiä"), ("osa", "osaa")),
             "en": (("character", "characters"), ("segment", "segments"))}[lang]
    return " · ".join([f"{chars} {words[0][chars != 1]}",
                       f"{found.count} {words[1][found.count != 1]}",
                       "GSM-7" if found.encoding == "gsm7" else "UCS-2"])


async def test_console_counts_segments_as_the_hub_does(hub: HubFactory, page: Page) -> None:
    client = await hub()
    await page.goto(f"{server_url(client)}/console")
    counted = await page.evaluate(
        "texts => texts.map(text => TaxiConnect.countSegments(text))", SEGMENT_EXAMPLES)
    for text, got in zip(SEGMENT_EXAMPLES, counted, strict=True):
        want = count_segments(text)
        assert got == {"encoding": want.encoding.value, "count": want.count,
                       "units": want.units, "remaining": want.remaining}, text[:40]


async def test_dispatcher_answers_an_sms_and_sees_it_delivered(
    hub: HubFactory, make_agent: Any, page: Page, settings: Settings
) -> None:
    async with FakeTwilio(account_sid=ACCOUNT, auth_token=TOKEN) as twilio:
        client = await _hub(hub, settings, twilio)
        base = server_url(client)
        agent = await make_agent(client, name="Aino Välittäjä")
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await _text_in(client, "Tarvitsen taksin Kamppiin klo 18, ehtiikö?")
        await _sign_in(page, base, agent.login)

        await page.get_by_test_id("queue-row").click()
        await expect(page.get_by_test_id("timeline-message")).to_contain_text("Kamppiin")
        await expect(page.get_by_test_id("composer-channel")).to_have_value("sms")
        await expect(page.get_by_test_id("composer-to")).to_have_text(
            f"Vastaanottaja: {PASSENGER_SHOWN}")
        await expect(page.get_by_test_id("composer-subject")).to_be_hidden()
        text = page.get_by_test_id("composer-text")
        counter = page.get_by_test_id("composer-counter")
        warning = page.get_by_test_id("composer-warning")
        send = page.get_by_test_id("composer-send")
        await expect(counter).to_have_text("0 merkkiä · 0 osaa · GSM-7")

        # Typed key by key: Finnish letters are GSM-7.
        await text.press_sequentially("Hyvää yötä")
        await expect(counter).to_have_text("10 merkkiä · 1 osa · GSM-7")
        for typed, shown in [
            # The euro takes two septets but is one character.
            ("Taksi ABC-123 saapuu 5 min kuluttua. Hinta 25 €, hyvää matkaa!",
             "62 merkkiä · 1 osa · GSM-7"),
            ("a" * 152 + "€" + "a" * 10, "163 merkkiä · 2 osaa · GSM-7"),  # € opens part two
            # š is not GSM-7, so all goes UCS-2; the taxi, a surrogate pair, opens part two.
            ("Šoferi saapuu", "13 merkkiä · 1 osa · UCS-2"),
            ("š" * 66 + "🚕" + "š" * 5, "72 merkkiä · 2 osaa · UCS-2"),
        ]:
            await text.fill(typed)
            await expect(counter).to_have_text(shown)
            assert _counter(typed) == shown
        await page.get_by_test_id("lang-en").click()
        await expect(counter).to_have_text("72 characters · 2 segments · UCS-2")
        await page.get_by_test_id("lang-fi").click()
        await expect(counter).to_have_text("72 merkkiä · 2 osaa · UCS-2")

        # Over three segments: warned, still sendable. Over 1600 characters: blocked.
        await text.fill("a" * 460)
        await expect(counter).to_have_text("460 merkkiä · 4 osaa · GSM-7")
        await expect(warning).to_contain_text("4 osana")
        await expect(send).to_be_enabled()
        await text.fill("a" * 1601)
        await expect(warning).to_have_text(
            "Vastaus voi olla enintään 1600 merkkiä (nyt 1601). Lyhennä sitä.")
        await expect(send).to_be_disabled()
        await expect(text).to_have_attribute("aria-invalid", "true")
        await text.fill("   ")
        await text.press("Control+Enter")
        await expect(page.get_by_test_id("composer-error")).to_have_text(
            "Kirjoita vastaus ensin.")

        # The first answer is lost on the way back, after the hub has stored the reply: the
        # composer resends with the same key, and the hub sends the reply once.
        posts: list[dict[str, Any]] = []
        answered: list[int] = []

        async def lose_first_answer(route: Route) -> None:
            posts.append(route.request.post_data_json)
            answer = await route.fetch()
            answered.append(answer.status)
            if len(posts) == 1:
                await route.abort("connectionreset")
            else:
                await route.fulfill(response=answer)

        await page.route(REPLIES, lose_first_answer)
        reply = "Taksi ABC-123 on matkalla 🚕 Hinta noin 25 €, hyvää matkaa!"
        await text.fill(reply)
        await expect(counter).to_have_text("58 merkkiä · 1 osa · UCS-2")
        await expect(page.get_by_test_id("composer-error")).to_have_text("")
        await page.evaluate("window.stillTheSamePage = true")
        await text.press("Control+Enter")
        # Two POSTs and the composer's one-second pause between them: on a busy machine more
        # than expect's default five seconds.
        await expect(text).to_have_value("", timeout=RESEND_WAIT_MS)
        await expect(page.get_by_test_id("composer-status")).to_have_text(
            "Vastaus on lähetysjonossa.")
        assert answered == [201, 200], answered  # stored by the first, found by the second
        assert posts[0] == posts[1] == {"body": reply, "channel": "sms",
                                        "client_key": posts[0]["client_key"]}
        assert uuid.UUID(posts[0]["client_key"]).version == 4
        await page.unroute(REPLIES)

        outbound = page.locator('[data-testid="timeline-message"][data-direction="outbound"]')
        await expect(outbound).to_have_count(1)
        await expect(outbound.locator(".body")).to_have_text(reply)
        await expect(outbound.locator(".entry-head")).to_contain_text(
            f"Aino Välittäjä → {PASSENGER}")
        badge = outbound.nth(0).get_by_test_id("delivery-badge")
        await expect(badge).to_have_attribute("data-state", "sent")
        await expect(badge).to_have_text("Lähetetty")
        assert len(twilio.received) == 1 and len(twilio.messages) == 1
        sid, sent = next(iter(twilio.messages.items()))
        assert (sent.to, sent.text) == (PASSENGER, reply)
        await expect(page.get_by_test_id("detail-status")).to_have_text("Käsittelyssä")
        await expect(page.get_by_test_id("detail-assigned")).to_have_text("Aino Välittäjä")

        # Twilio reports it delivered: the badge follows, live.
        assert await twilio.send_status(sid, "delivered") == 204
        await expect(badge).to_have_attribute("data-state", "delivered")
        await expect(badge).to_have_text("Toimitettu")
        await page.get_by_test_id("lang-en").click()
        await expect(badge).to_have_text("Delivered")
        await page.get_by_test_id("lang-fi").click()
        assert await page.evaluate("window.stillTheSamePage") is True

        # A second reply the gateway refuses: failed, with the gateway's reason in sight.
        twilio.script = [400]
        await text.fill("Soitamme vielä perään.")
        await send.click()
        await expect(outbound).to_have_count(2)
        failed = outbound.nth(1).get_by_test_id("delivery-badge")
        await expect(failed).to_have_text("Epäonnistui")
        await expect(failed).to_have_attribute("title", re.compile("21211"))
        await expect(outbound.nth(1).get_by_test_id("delivery-reason")).to_contain_text("21211")
        await expect(badge).to_have_text("Toimitettu")

        if os.environ.get("TAXICONNECT_SCREENSHOTS") == "1":
            await _screenshot(page)
    assert errors == []


async def _screenshot(page: Page) -> None:
    """The replies with their delivery badges and the composer with an SMS half written,
    as the README shows them (a taller window, so that both fit)."""
    await page.set_viewport_size({"width": VIEWPORT["width"], "height": 1000})
    await page.get_by_test_id("composer-text").fill(
        "Kuljettaja soittaa, kun auto on ovella. Maksu kortilla tai käteisellä, n. 25 €.")
    await page.wait_for_function("document.getAnimations().length === 0")
    await page.locator(".detail-scroll").evaluate("""box => {
        const top = document.getElementById("timeline-heading").getBoundingClientRect().top;
        box.scrollTop += top - box.getBoundingClientRect().top - 12;
    }""")
    await page.get_by_test_id("composer-text").focus()
    await page.mouse.move(0, 0)
    SCREENSHOT.parent.mkdir(exist_ok=True)
    await page.screenshot(path=str(SCREENSHOT))


async def test_refused_replies_keep_the_text_and_say_why(
    hub: HubFactory, make_agent: Any, dispatcher: DispatcherFactory, page: Page,
    settings: Settings
) -> None:
    async with FakeTwilio(account_sid=ACCOUNT, auth_token=TOKEN) as twilio:
        client = await _hub(hub, settings, twilio)
        base = server_url(client)
        agent = await make_agent(client, name="Aino Välittäjä")
        colleague = await dispatcher(client, name="Pekka Kollega")
        found = await client.app[INGESTOR].submit(InboundContact(
            channel=Channel.EMAIL, idempotency_key=f"<{uuid.uuid4()}@example.org>",
            received_at=datetime.now(UTC), name="Emma Smith", email="emma@example.org",
            phone="+358405556677", subject="Taxi for four",
            body="Need a taxi for 4 people with luggage from Hotel Kämp at 15:30."))
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await _sign_in(page, base, agent.login)
        row = page.locator(f'[data-testid="queue-row"][data-reference="{found.reference}"]')
        request_id = await row.get_attribute("data-request-id")
        await row.click()

        # An email request: answered by email by default, subject prefilled; SMS offered too.
        channel = page.get_by_test_id("composer-channel")
        await expect(channel).to_have_value("email")
        assert await channel.locator("option").all_text_contents() == [
            "Sähköposti", "Tekstiviesti"]
        await expect(page.get_by_test_id("composer-subject")).to_have_value(
            "Re: Taxi for four")
        await expect(page.get_by_test_id("composer-to")).to_have_text(
            "Vastaanottaja: emma@example.org")
        await expect(page.get_by_test_id("composer-counter")).to_be_hidden()
        text = page.get_by_test_id("composer-text")
        error = page.get_by_test_id("composer-error")
        typed = "Auto on varattu klo 15.30, tilataan tila-auto."
        await text.fill(typed)

        # A colleague claims it meanwhile: the detail follows live, the text stays.
        await _act(colleague, request_id, "claim")
        await expect(page.get_by_test_id("detail-assigned")).to_have_text("Pekka Kollega")
        await expect(text).to_have_value(typed)
        await text.press("Control+Enter")
        await expect(error).to_have_text(
            "Toinen välittäjä käsittelee pyyntöä, vastausta ei lähetetty: "
            "Pyyntö on käyttäjän Pekka Kollega käsittelyssä.")
        await expect(text).to_have_value(typed)
        await expect(text).to_be_focused()

        # Released: now the hub refuses the email, as no email channel is enabled.
        await _act(colleague, request_id, "release")
        await expect(page.get_by_test_id("detail-assigned")).to_have_text("–")
        await page.get_by_test_id("lang-en").click()
        await page.get_by_test_id("composer-send").click()
        await expect(error).to_have_text(
            "No enabled channel reaches the passenger: no enabled email channel can send "
            "replies")
        await expect(text).to_have_value(typed)

        # By SMS it goes: the subject is gone, the counter shows, the composer is cleared.
        await channel.select_option("sms")
        await expect(page.get_by_test_id("composer-subject")).to_be_hidden()
        await expect(page.get_by_test_id("composer-counter")).to_have_text(
            _counter(typed, "en"))
        await page.get_by_test_id("composer-send").click()
        await expect(text).to_have_value("")
        await expect(error).to_have_text("")
        # Sent once the outbound worker has had the gateway's answer and its event reached
        # the console: on a loaded machine more than expect's default 5 s.
        await expect(page.get_by_test_id("delivery-badge")).to_have_text("Sent", timeout=20_000)
        assert [(m.to, m.text) for m in twilio.messages.values()] == [("+358405556677", typed)]
    assert errors == []
