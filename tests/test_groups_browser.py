"""Group messaging in a real browser (Debian's Chromium driven by Playwright).

An admin makes a staff group on the admin page's Groups tab and pastes its twelve members as
CSV; a dispatcher, in another browser context, sends it a group message from the console's
dialog (the counter counts the segments and the recipients), lands on the thread, and
watches its delivery counts move without a reload while a local server speaking Twilio's API
fails three sends with 500s (retried after a pause the test can see) and refuses one number.
The refused member is named with the reason; a member's answer, signed as Twilio signs,
appears in the thread under the member's name.

With TAXICONNECT_SCREENSHOTS=1 the test also saves docs/group-message.png.
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from pathlib import Path
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

SCREENSHOT = Path(__file__).resolve().parents[1] / "docs" / "group-message.png"
VIEWPORT = {"width": 1366, "height": 768}
TOKEN = "twilio-test-auth-token"
ACCOUNT = "AC" + "1" * 32
COMPANY_NUMBER = "+358451234567"
TEXT = "Lumimyrsky: kaikki vapaat autot lentoasemalle. Vastaa OK."
MEMBERS = 12


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
            auth_token=Secret(TOKEN), account_sid=ACCOUNT, from_number=COMPANY_NUMBER,
            api_url=twilio.url)),
        # A retry waits long enough for the console to show those deliveries queued.
        outbound=OutboundSettings(backoff_base_s=1.5, backoff_max_s=2, poll_s=0.05,
                                  send_timeout_s=5, max_attempts=4),
    ), port=port)


async def _sign_in(page: Page, url: str, login: str) -> None:
    await page.goto(url)
    await page.get_by_test_id("login-user").fill(login)
    await page.get_by_test_id("login-password").fill(PASSWORD)
    await page.get_by_test_id("login-submit").click()


async def _text_in(client: TestClient[Any, Any], sender: str, body: str) -> None:
    params = [("MessageSid", "SM" + uuid.uuid4().hex), ("AccountSid", ACCOUNT),
              ("From", sender), ("To", COMPANY_NUMBER), ("Body", body), ("NumMedia", "0")]
    url = str(client.make_url("/webhooks/sms/twilio"))
    response = await client.post("/webhooks/sms/twilio", data=urlencode(params), headers={
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": twilio_signature(TOKEN, url, params),
    })
    assert response.status == 200, await response.text()


async def test_a_group_message_from_the_console_and_its_deliveries_live(
    hub: HubFactory, make_agent: Any, settings: Settings, browser: Browser
) -> None:
    errors: list[str] = []
    async with FakeTwilio(account_sid=ACCOUNT, auth_token=TOKEN) as twilio:
        client = await _hub(hub, settings, twilio)
        base = server_url(client)
        admin = await make_agent(client, login="paakayttaja", role=Role.ADMIN)
        dispatcher = await make_agent(client, login="valittaja", role=Role.TEAM,
                                      name="Välittäjä Virtanen")

        # The admin makes the group and pastes its members.
        page = await _page(browser, errors)
        await _sign_in(page, f"{base}/admin#groups", admin.login)
        await page.get_by_test_id("group-add-name").fill("Yövuoro")
        await page.get_by_test_id("group-add").click()
        await expect(page.get_by_test_id("group-heading")).to_have_text("Ryhmä: Yövuoro")
        await page.get_by_test_id("group-csv").fill("nimi;puhelin;sähköposti\n" + "\n".join(
            f"Kuljettaja {n:02d};040 300 {n:04d};" for n in range(1, MEMBERS + 1)))
        await page.get_by_test_id("group-csv-import").click()
        await expect(page.get_by_test_id("groups-status")).to_have_text(
            "Lisätty 12, ohitettu 0, poistettu 0.")
        await expect(page.get_by_test_id("member-row")).to_have_count(MEMBERS)
        row = page.locator('[data-testid="group-row"][data-name="Yövuoro"]')
        await expect(row.get_by_test_id("group-phones")).to_have_text(str(MEMBERS))
        await expect(page.get_by_test_id("member-phone").first).to_have_value("+358403000001")

        # The dispatcher writes to the group from the console.
        console = await _page(browser, errors)
        await _sign_in(console, f"{base}/console", dispatcher.login)
        await expect(console.get_by_test_id("connection-state")).to_have_attribute(
            "data-state", "live")
        await console.get_by_test_id("group-open").click()
        dialog = console.get_by_test_id("group-dialog")
        await expect(dialog).to_be_visible()
        await expect(console.get_by_test_id("group-pick").locator("option")).to_have_text(
            ["Yövuoro (12 jäsentä)"])
        await expect(console.get_by_test_id("group-sms")).to_be_checked()
        await expect(console.get_by_test_id("group-email")).to_be_disabled()  # no addresses
        await console.get_by_test_id("group-text").fill(TEXT)
        await expect(console.get_by_test_id("group-counter")).to_have_text(
            f"{len(TEXT)} merkkiä · 1 osa · GSM-7 · 12 vastaanottajaa · 12 tekstiviestiä")
        twilio.script = [500, 400, 500, 500]
        await console.get_by_test_id("group-send").click()
        await expect(dialog).to_be_hidden()

        # The thread opens: claimed by the sender, the counts follow the deliveries live.
        await expect(console.get_by_test_id("detail-status")).to_have_attribute(
            "data-status", "claimed")
        summary = console.get_by_test_id("group-deliveries")
        counts = summary.get_by_test_id("group-count")
        queued = summary.locator('[data-testid="group-count"][data-state="queued"]')
        await expect(queued).to_have_text("Lähetysjonossa 3")  # the 500s, waiting to retry
        await expect(counts).to_have_text(["Epäonnistui 1", "Lähetetty 11"], timeout=15_000)
        failed = summary.get_by_test_id("group-failed").get_by_test_id("group-recipient")
        await expect(failed).to_have_count(1)
        await expect(failed).to_contain_text("Kuljettaja")
        await expect(failed.get_by_test_id("delivery-reason")).to_contain_text("21211")
        await summary.get_by_test_id("group-recipients").locator("summary").click()
        listed = summary.get_by_test_id("group-recipients").get_by_test_id("group-recipient")
        await expect(listed).to_have_count(MEMBERS)
        assert len(twilio.received) == MEMBERS + 3

        # A member answers; the thread shows it under their name, the list stays open.
        await _text_in(client, "+358403000005", "OK, matkalla")
        answer = console.locator('[data-testid="timeline-message"][data-direction="inbound"]')
        await expect(answer).to_contain_text("OK, matkalla")
        await expect(answer).to_contain_text("Kuljettaja 05 (040 300 0005)")
        await expect(listed).to_have_count(MEMBERS)
        if os.environ.get("TAXICONNECT_SCREENSHOTS") == "1":
            SCREENSHOT.parent.mkdir(exist_ok=True)
            await summary.get_by_test_id("group-counts").scroll_into_view_if_needed()
            await console.screenshot(path=str(SCREENSHOT))
    assert errors == []
