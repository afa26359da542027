"""The dispatcher console in a real browser (Debian's Chromium driven by Playwright).

A web-form request reaches a logged-in console live, without a reload; the dispatcher opens,
claims, notes and resolves it through the page, and the API agrees about the result.

With TAXICONNECT_SCREENSHOTS=1 the test also saves docs/console.png for the README.
"""

from __future__ import annotations

import dataclasses
import os
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from playwright.async_api import Page, async_playwright, expect

from hub.appkeys import INGESTOR, KEYS, REDIS, WEBSOCKETS
from hub.model import Channel, InboundContact
from tests.conftest import (
    CHROMIUM,
    CHROMIUM_ARGS,
    PASSWORD,
    HubFactory,
    log_in,
    require_chromium,
    server_url,
)

SCREENSHOT = Path(__file__).resolve().parents[1] / "docs" / "console.png"
VIEWPORT = {"width": 1366, "height": 768}  # the dispatchers' laptops

# Waiting before the console opens, oldest first: (minutes ago, contact).
EARLIER = [
    (72, InboundContact(
        channel=Channel.WEBFORM, idempotency_key="", received_at=datetime.now(UTC),
        name="Aino Virtanen", phone="+358401234567",
        body="Tarvitsen taksin Kampista lentokentälle klo 18.",
        details={"pickup_address": "Kampinkuja 2, Helsinki",
                 "destination": "Helsinki-Vantaan lentoasema"})),
    (13, InboundContact(
        channel=Channel.EMAIL, idempotency_key="", received_at=datetime.now(UTC),
        name="Emma Smith", email="emma.smith@example.org", subject="Taxi for four",
        body="Need a taxi for 4 people with luggage from Hotel Kämp at 15:30.")),
    (6, InboundContact(
        channel=Channel.SMS, idempotency_key="", received_at=datetime.now(UTC),
        phone="+358505550101",
        body="Unohdin sateenvarjon autoon eilen illalla, kyyti Kalliosta Töölöön.")),
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


async def submit_form(client: TestClient[Any, Any], fields: dict[str, str]) -> str:
    """Post the hosted form as a passenger would; returns the reference it shows."""
    response = await client.post("/form", data={
        **fields, "language": "fi", "submission_token": f"tok-{uuid.uuid4().hex}"})
    html = await response.text()
    assert response.status == 201, html
    found = re.search(r'class="reference">([^<]+)<', html)
    assert found, html
    return found.group(1)


async def ingest_earlier(client: TestClient[Any, Any]) -> list[str]:
    """Requests that came in over other channels a while ago; returns their references."""
    references = []
    for minutes, contact in EARLIER:
        result = await client.app[INGESTOR].submit(dataclasses.replace(
            contact, idempotency_key=f"test-{uuid.uuid4()}",
            received_at=datetime.now(UTC) - timedelta(minutes=minutes)))
        references.append(result.reference)
    return references


async def sign_in(page: Page, base: str, login: str) -> None:
    await page.goto(f"{base}/console")
    await page.get_by_test_id("login-user").fill(login)
    await page.get_by_test_id("login-password").fill(PASSWORD)
    await page.get_by_test_id("login-submit").click()
    await expect(page.get_by_test_id("connection-state")).to_have_attribute(
        "data-state", "live")


def queue_row(page: Page, reference: str) -> Any:
    return page.locator(f'[data-testid="queue-row"][data-reference="{reference}"]')


def offer_item(page: Page, reference: str) -> Any:
    """An offer to me in the dock under the queue, with its countdown and buttons."""
    return page.locator(f'[data-testid="offer-item"][data-reference="{reference}"]')


async def test_dispatcher_claims_and_resolves_a_live_web_form_request(
    hub: HubFactory, make_agent: Any, page: Page
) -> None:
    client = await hub()
    base = server_url(client)
    dispatcher = await make_agent(client, login="aino.v", name="Aino Välittäjä")
    colleague = await make_agent(client, login="pekka.k", name="Pekka Kollega")
    earlier = await ingest_earlier(client)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    # Finnish by default for a Finnish browser; a wrong password is refused in words.
    await page.goto(f"{base}/console")
    await expect(page.get_by_test_id("login-submit")).to_have_text("Kirjaudu")
    await page.get_by_test_id("login-user").fill(dispatcher.login)
    await page.get_by_test_id("login-password").fill("not the password")
    await page.get_by_test_id("login-submit").click()
    await expect(page.get_by_test_id("login-error")).to_have_text(
        "Väärä käyttäjätunnus tai salasana.")
    await sign_in(page, base, dispatcher.login)
    rows = page.get_by_test_id("queue-row")
    await expect(rows).to_have_count(len(EARLIER))
    assert await rows.evaluate_all("rows => rows.map(r => r.dataset.reference)") == earlier
    oldest_wait = queue_row(page, earlier[0]).locator("td.col-wait")
    await expect(oldest_wait).to_have_text(re.compile(r"^1:1[23]:\d\d$"))
    await expect(oldest_wait).to_have_class(re.compile(r"\bwait-alert\b"))

    # A passenger submits the form: the request appears live, the page is not reloaded.
    await page.evaluate("window.stillTheSamePage = true")
    reference = await submit_form(client, {
        "name": "Ville Live", "phone": "040 765 4321",
        "message": "Taksi Pasilan asemalle\nkaksi matkalaukkua",
        "pickup_address": "Mannerheimintie 5", "destination": "Pasilan asema",
        "passengers": "2"})
    row = queue_row(page, reference)
    await expect(row).to_be_visible()
    await expect(rows).to_have_count(len(EARLIER) + 1)
    assert await page.evaluate("window.stillTheSamePage") is True
    await expect(row).to_contain_text("Ville Live")
    await expect(row).to_contain_text("Taksi Pasilan asemalle")
    await expect(row).to_contain_text("Lomake")
    await expect(page.get_by_test_id("announcer")).to_contain_text(reference)
    wait_cell = row.locator("td.col-wait")
    waited = await wait_cell.text_content()
    assert waited is not None and re.fullmatch(r"\d\d:\d\d", waited), waited
    await expect(wait_cell).not_to_have_text(waited, timeout=3000)  # it ticks
    request_id = await row.get_attribute("data-request-id")
    assert request_id

    # Open it: the detail shows the passenger, the order and the message, untouched.
    await row.click()
    await expect(page.get_by_test_id("detail-reference")).to_have_text(reference)
    await expect(page.get_by_test_id("detail-status")).to_have_text("Jonossa")
    await expect(page.get_by_test_id("passenger-name")).to_have_text("Ville Live")
    await expect(page.get_by_test_id("passenger-phones")).to_have_text("040 765 4321")
    await expect(page.get_by_test_id("detail-facts")).to_contain_text("Pasilan asema")
    await expect(page.get_by_test_id("timeline-message")).to_contain_text("kaksi matkalaukkua")

    # Claim, note: the detail and the queue row follow.
    await page.get_by_test_id("action-claim").click()
    await expect(page.get_by_test_id("detail-status")).to_have_text("Käsittelyssä")
    await expect(page.get_by_test_id("detail-last-agent")).to_have_text("Aino Välittäjä")
    await expect(page.get_by_test_id("detail-assigned")).to_have_text("Aino Välittäjä")
    await expect(row.locator("td.col-agent")).to_have_text("Aino Välittäjä")
    await expect(page.get_by_test_id("action-claim")).to_be_hidden()
    await expect(page.get_by_test_id("action-release")).to_be_enabled()
    await page.get_by_test_id("note-text").fill("Soitettu takaisin, auto tilattu.")
    await page.get_by_test_id("action-note").click()
    await expect(page.get_by_test_id("timeline-handling")).to_have_count(2)
    await expect(page.get_by_test_id("timeline")).to_contain_text(
        "Soitettu takaisin, auto tilattu.")
    await expect(page.get_by_test_id("note-text")).to_have_value("")
    await page.get_by_test_id("filter-mine").click()
    await expect(rows).to_have_count(1)
    await page.get_by_test_id("filter-unassigned").click()
    await expect(rows).to_have_count(len(EARLIER))
    await page.get_by_test_id("filter-all").click()

    # A colleague holds another request: claiming it answers 409 and says who holds it.
    other = queue_row(page, earlier[0])
    other_id = await other.get_attribute("data-request-id")
    async with aiohttp.ClientSession(base_url=base,
                                     cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        answer = await session.post("/api/v1/auth/login",
                                    json={"login": colleague.login, "password": PASSWORD})
        assert answer.status == 200
        answer = await session.post(f"/api/v1/requests/{other_id}/claim")
        assert answer.status == 200, await answer.text()
    await expect(other.locator("td.col-agent")).to_have_text("Pekka Kollega")
    await other.click()
    await expect(page.get_by_test_id("detail-reference")).to_have_text(earlier[0])
    await expect(page.get_by_test_id("action-resolve")).to_be_disabled()
    await page.get_by_test_id("action-claim").click()
    await expect(page.get_by_test_id("action-error")).to_contain_text(
        "Pyyntö on käyttäjän Pekka Kollega käsittelyssä.")

    # Back to the live request: resolve it; it leaves the open queue, the detail stays.
    await row.click()
    await expect(page.get_by_test_id("detail-reference")).to_have_text(reference)
    await expect(page.get_by_test_id("action-error")).to_have_text("")
    await page.get_by_test_id("action-resolve").click()
    await expect(page.get_by_test_id("detail-status")).to_have_text("Ratkaistu")
    await expect(row).to_have_count(0)
    await expect(page.get_by_test_id("detail-last-agent")).to_have_text("Aino Välittäjä")
    await expect(page.get_by_test_id("action-reopen")).to_be_enabled()
    await expect(page.get_by_test_id("timing-ended_at")).not_to_have_text("–")

    # The API agrees.
    await log_in(client, dispatcher.login)
    response = await client.get(f"/api/v1/requests/{request_id}")
    assert response.status == 200
    stored = (await response.json())["request"]
    assert stored["status"] == "resolved"
    assert stored["reference"] == reference
    assert stored["last_agent"] == {"id": str(dispatcher.id), "name": "Aino Välittäjä"}
    assert [h["action"] for h in stored["history"]] == ["claim", "note", "resolve"]
    assert stored["timings"]["ended_at"] is not None

    # English and back; the choice is remembered across a reload.
    await page.get_by_test_id("lang-en").click()
    await expect(page.get_by_test_id("detail-status")).to_have_text("Resolved")
    await expect(page.get_by_test_id("action-reopen")).to_have_text("Reopen")
    await expect(page.get_by_test_id("filter-unassigned")).to_contain_text("Unassigned")
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await page.get_by_test_id("lang-fi").click()
    await expect(page.get_by_test_id("detail-status")).to_have_text("Ratkaistu")
    await expect(page.get_by_test_id("action-reopen")).to_have_text("Avaa uudelleen")
    await page.get_by_test_id("lang-en").click()
    await page.reload()
    await expect(page.get_by_test_id("connection-state")).to_have_text("Live")
    await expect(page.locator("#queue-heading")).to_have_text("Open requests")

    if os.environ.get("TAXICONNECT_SCREENSHOTS") == "1":
        await _screenshot(page, client, earlier)
    assert errors == []


async def _screenshot(page: Page, client: TestClient[Any, Any], earlier: list[str]) -> None:
    """The console with a few requests and one open, as the README shows it."""
    await submit_form(client, {"name": "Matti Meikäläinen", "phone": "044 987 6543",
                               "message": "Kaksi pyörätuolia, tarvitaan invataksi.",
                               "pickup_address": "Fredrikinkatu 40"})
    await expect(page.get_by_test_id("queue-row")).to_have_count(len(EARLIER) + 1)
    await page.wait_for_function("document.getAnimations().length === 0")  # new-row glow
    await queue_row(page, earlier[1]).click()
    await page.get_by_test_id("action-claim").click()
    await expect(page.get_by_test_id("detail-status")).to_have_text("Claimed")
    await page.get_by_test_id("note-text").fill("Called back: van with a large boot booked.")
    await page.get_by_test_id("action-note").click()
    await expect(page.get_by_test_id("timeline-handling")).to_have_count(2)
    await page.get_by_test_id("detail-close").focus()
    await page.locator(".detail-scroll").evaluate("box => { box.scrollTop = 0; }")
    await page.mouse.move(0, 0)  # no hover highlight in the picture
    SCREENSHOT.parent.mkdir(exist_ok=True)
    await page.screenshot(path=str(SCREENSHOT))


async def test_console_catches_up_after_a_dropped_connection(
    hub: HubFactory, make_agent: Any, page: Page
) -> None:
    client = await hub()
    base = server_url(client)
    dispatcher = await make_agent(client)
    sockets: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    await sign_in(page, base, dispatcher.login)
    state = page.get_by_test_id("connection-state")

    for ws in list(client.app[WEBSOCKETS]):
        await ws.close()
    await expect(state).to_have_attribute("data-state", "reconnecting")
    # Submitted while the console is away: the reconnect's replay must bring it.
    reference = await submit_form(client, {"phone": "040 222 3333", "message": "Taksi heti"})
    await expect(state).to_have_attribute("data-state", "live", timeout=10_000)
    await expect(queue_row(page, reference)).to_be_visible()
    await expect(page.get_by_test_id("queue-row")).to_have_count(1)
    assert "last_event_id" not in sockets[0]
    assert re.search(r"\?last_event_id=\d+-\d+$", sockets[-1]), sockets

    # An event without a request (say, deleted meanwhile) is skipped; the next still lands.
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await client.app[REDIS].client.xadd(
        client.app[KEYS].events, {"data": '{"type":"request.message","request":null}'})
    later = await submit_form(client, {"email": "liisa@example.fi", "message": "Kyyti huomenna"})
    await expect(queue_row(page, later)).to_be_visible()
    await expect(page.get_by_test_id("queue-row")).to_have_count(2)
    assert errors == []


async def test_dispatcher_transfers_a_request_and_logs_out(
    hub: HubFactory, make_agent: Any, page: Page
) -> None:
    client = await hub()
    base = server_url(client)
    dispatcher = await make_agent(client, name="Aino Välittäjä")
    colleague = await make_agent(client, name="Pekka Kollega")
    reference = await submit_form(client, {"phone": "040 222 4444", "message": "Taksi kotiin"})
    await sign_in(page, base, dispatcher.login)
    await page.get_by_test_id("lang-en").click()

    await queue_row(page, reference).click()
    await page.get_by_test_id("transfer-agent").select_option(label="Pekka Kollega")
    await page.get_by_test_id("action-transfer").click()
    await expect(page.get_by_test_id("detail-assigned")).to_have_text("Pekka Kollega")
    await expect(page.get_by_test_id("detail-last-agent")).to_have_text("Aino Välittäjä")
    await expect(page.get_by_test_id("timeline-handling")).to_contain_text(
        "Aino Välittäjä transferred it to Pekka Kollega")
    await expect(queue_row(page, reference).locator("td.col-agent")).to_have_text(
        "Pekka Kollega")
    assert colleague.name == "Pekka Kollega"

    await page.get_by_test_id("logout").click()
    await expect(page.get_by_test_id("login-form")).to_be_visible()
    await expect(page.get_by_test_id("login-submit")).to_have_text("Sign in")
    assert await page.evaluate("fetch('/api/v1/me').then(r => r.status)") == 401
    await page.reload()  # the session is gone for good, not just hidden
    await expect(page.get_by_test_id("login-form")).to_be_visible()
