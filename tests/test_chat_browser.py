"""The chat widget in a real browser (Debian's Chromium driven by Playwright), embedded with
one script tag on a taxi company's page of its own origin (tests/chat_site.py).

The passenger writes, a dispatcher's console (the real /console page) sees it live, the
dispatcher answers in the console's composer and the passenger sees the answer under the
dispatcher's name (and "<name> kirjoittaa…" while they write); a reload keeps the
conversation; a message written while the network is down arrives once when it is back.
A page on an origin the hub does not allow gets its socket refused and says it cannot connect.

With TAXICONNECT_SCREENSHOTS=1 the test also saves docs/chat-widget.png for the README.
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, Page, expect

from hub.settings import AnswersSettings, Settings
from tests.chat_site import ChatSite, chat_settings
from tests.conftest import (
    PASSWORD,
    DispatcherFactory,
    HubFactory,
    server_url,
)
from tests.helpers import Dispatcher, eventually

SCREENSHOT = Path(__file__).resolve().parents[1] / "docs" / "chat-widget.png"
VIEWPORT = {"width": 1100, "height": 760}
# Waits that cross the hub (router, relay, outbound worker) on a busy machine.
LIVE_MS = 10_000


async def _page(browser: Browser, errors: list[str]) -> Page:
    context = await browser.new_context(locale="fi-FI", viewport=VIEWPORT)
    page = await context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return page


async def _console(browser: Browser, base: str, agent: Dispatcher, errors: list[str]) -> Page:
    page = await _page(browser, errors)
    await page.goto(f"{base}/console")
    await page.get_by_test_id("login-user").fill(agent.agent.login)
    await page.get_by_test_id("login-password").fill(PASSWORD)
    await page.get_by_test_id("login-submit").click()
    await expect(page.get_by_test_id("connection-state")).to_have_attribute("data-state", "live")
    return page


async def _only_request(agent: Dispatcher) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        found = await agent.open_requests()
        return found[0] if found else None
    summary = await eventually(probe, what="the chat request")
    return await agent.request(summary["id"])


async def test_passenger_and_dispatcher_chat_through_the_widget(
    hub: HubFactory, settings: Settings, dispatcher: DispatcherFactory, browser: Browser
) -> None:
    errors: list[str] = []
    async with ChatSite(lang="fi") as site:
        client = await hub(chat_settings(settings, allowed_origins=(site.origin,)))
        base = site.hub = server_url(client)
        agent = await dispatcher(client, name="Aino Välittäjä")
        console = await _console(browser, base, agent, errors)
        page = await _page(browser, errors)
        sockets: list[str] = []
        page.on("websocket", lambda ws: sockets.append(ws.url))

        # One script tag: the launcher appears, the socket is live, the panel opens by keyboard.
        await page.goto(site.url)
        assert await page.locator("script[src$='/widget/chat.js']").count() == 1
        launcher = page.get_by_test_id("chat-launcher")
        await expect(launcher).to_have_text("Chat")
        await expect(launcher).to_have_attribute("aria-expanded", "false")
        assert sockets == []  # a page view alone opens no socket; opening the chat does
        await launcher.focus()
        await page.keyboard.press("Enter")
        panel = page.get_by_test_id("chat-panel")
        await expect(panel).to_be_visible()
        await expect(page.get_by_test_id("chat-status")).to_have_attribute("data-state", "live")
        await expect(page.get_by_test_id("chat-notice")).to_be_hidden()  # a dispatcher is in
        text = page.get_by_test_id("chat-text")
        await expect(text).to_be_focused()
        await page.keyboard.press("Escape")
        await expect(panel).to_be_hidden()
        await expect(launcher).to_be_focused()
        await launcher.click()

        # The passenger writes; the console shows the request live, without a reload.
        await text.fill("Hei! Tarvitsen taksin Kamppiin, Fredrikinkatu 40.")
        await text.press("Enter")
        lines = page.get_by_test_id("chat-line")
        await expect(lines).to_have_count(1)
        await expect(lines.nth(0)).to_have_attribute("data-state", "sent", timeout=LIVE_MS)
        await expect(lines.nth(0).get_by_test_id("chat-text-body")).to_have_text(
            "Hei! Tarvitsen taksin Kamppiin, Fredrikinkatu 40.")
        request = await _only_request(agent)
        row = console.locator(f'[data-testid="queue-row"][data-reference="{request["reference"]}"]')
        await expect(row).to_be_visible(timeout=LIVE_MS)
        await expect(row).to_contain_text("Chat")
        await expect(row).to_contain_text("Tarvitsen taksin Kamppiin")
        await row.click()
        await expect(console.get_by_test_id("timeline-message")).to_contain_text(
            "Tarvitsen taksin Kamppiin")

        # The dispatcher types in the console's composer, then sends: the passenger sees
        # both, the answer under the dispatcher's name.
        await expect(console.get_by_test_id("composer-channel")).to_have_value("chat")
        composer = console.get_by_test_id("composer-text")
        await composer.press_sequentially("Auto on matkalla")
        await expect(page.get_by_test_id("chat-typing")).to_have_text(
            "Aino Välittäjä kirjoittaa…", timeout=LIVE_MS)
        await composer.fill("Auto on matkalla, perillä 5 min.")
        await console.get_by_test_id("composer-send").click()
        await expect(lines).to_have_count(2, timeout=LIVE_MS)
        reply = lines.nth(1)
        await expect(reply).to_have_attribute("data-from", "dispatcher")
        await expect(reply.get_by_test_id("chat-who")).to_have_text("Aino Välittäjä")
        await expect(reply.get_by_test_id("chat-text-body")).to_have_text(
            "Auto on matkalla, perillä 5 min.")
        await expect(page.get_by_test_id("chat-typing")).to_have_text("")
        await agent.wait_for_reply(request["id"], "delivered")  # the open panel showed it
        await expect(console.get_by_test_id("timeline")).to_contain_text("Auto on matkalla",
                                                                          timeout=LIVE_MS)

        if os.environ.get("TAXICONNECT_SCREENSHOTS") == "1":
            await _screenshot(page, base, agent, request["id"])

        # A reload: the conversation is still there, from the hub.
        assert await page.evaluate(
            "Object.keys(localStorage).some(k => k.startsWith('taxiconnect-chat:'))")
        await page.reload()
        await page.get_by_test_id("chat-launcher").click()
        await expect(page.get_by_test_id("chat-status")).to_have_attribute("data-state", "live")
        await expect(lines).to_have_count(2)
        await expect(lines.nth(0)).to_contain_text("Tarvitsen taksin Kamppiin")
        await expect(lines.nth(1)).to_contain_text("Aino Välittäjä")

        # The network drops: the message waits as "sending", and arrives once when it is back.
        await page.context.set_offline(True)
        await expect(page.get_by_test_id("chat-status")).to_have_attribute(
            "data-state", "offline")
        await text.fill("Olen ulko-ovella <img src=x onerror=alert(1)>")
        await text.press("Enter")
        await expect(lines).to_have_count(3)
        await expect(lines.nth(2)).to_have_attribute("data-state", "sending")
        assert len((await agent.request(request["id"]))["messages"]) == 2  # not sent yet
        await page.context.set_offline(False)
        await expect(lines.nth(2)).to_have_attribute("data-state", "sent", timeout=15_000)
        await expect(page.get_by_test_id("chat-status")).to_have_attribute("data-state", "live")
        bodies = [m["body"] for m in (await agent.request(request["id"]))["messages"]]
        assert bodies.count("Olen ulko-ovella <img src=x onerror=alert(1)>") == 1
        await expect(lines).to_have_count(3)
        await expect(page.get_by_test_id("chat-line").filter(
            has_text="Olen ulko-ovella")).to_have_count(1)
        await expect(lines.nth(2).get_by_test_id("chat-text-body")).to_have_text(
            "Olen ulko-ovella <img src=x onerror=alert(1)>")  # text, never markup
        assert await page.locator("[data-testid=chat-log] img").count() == 0
        assert len([url for url in sockets if url.endswith("/chat/ws")]) >= 3
        await console.close()
    assert errors == []


async def test_with_nobody_in_a_passenger_orders_by_the_shortcut_and_ends_the_chat(
    hub: HubFactory, settings: Settings, dispatcher: DispatcherFactory, browser: Browser
) -> None:
    errors: list[str] = []
    async with ChatSite(lang="en") as site:
        client = await hub(chat_settings(settings, allowed_origins=(site.origin,)))
        site.hub = server_url(client)
        page = await _page(browser, errors)  # a Finnish browser; the site says English
        await page.goto(site.url)
        await page.get_by_test_id("chat-launcher").click()
        await expect(page.get_by_test_id("chat-status")).to_have_text("Connected")
        notice = page.get_by_test_id("chat-notice")
        await expect(notice).to_have_text(re.compile(r"^No dispatcher is available"))
        await expect(page.get_by_test_id("chat-details")).to_have_attribute("open", "")

        await page.get_by_test_id("chat-name").fill("Emma Smith")
        await page.get_by_test_id("chat-phone").fill("040 222 3333")
        await page.get_by_test_id("chat-order").locator("summary").click()
        await page.get_by_test_id("chat-pickup_address").fill("Hotel Kämp, Pohjoisesplanadi 29")
        await page.get_by_test_id("chat-pickup_time").fill("18:30")
        await page.get_by_test_id("chat-order-send").click()
        lines = page.get_by_test_id("chat-line")
        await expect(lines).to_have_count(1)
        await expect(lines.nth(0)).to_have_text(re.compile(
            r"Taxi order: Hotel Kämp, Pohjoisesplanadi 29, 18:30"))
        await expect(lines.nth(0)).to_have_attribute("data-state", "sent")
        await expect(notice).to_have_text(re.compile(r"^Thank you!"))
        agent = await dispatcher(client)
        request = await _only_request(agent)
        assert request["details"]["callback"] == "true"
        assert request["details"]["pickup_address"] == "Hotel Kämp, Pohjoisesplanadi 29"
        assert "T18:30:00" in request["details"]["pickup_time"]
        assert request["contact"]["name"] == "Emma Smith"
        assert request["contact"]["phones"] == ["+358402223333"]

        # End the chat asking for the transcript: no email channel here, and it says so.
        await page.get_by_test_id("chat-end").click()
        await expect(page.get_by_test_id("chat-end_email")).to_be_focused()
        await page.get_by_test_id("chat-end_email").fill("emma@example.org")
        await page.get_by_test_id("chat-end-confirm").click()
        await expect(notice).to_have_text(re.compile(
            r"^The chat has ended.*Email cannot be sent right now"))
        await expect(lines).to_have_count(0)
        assert (await agent.request(request["id"]))["status"] == "queued"  # nothing resolved
        await page.reload()
        await page.get_by_test_id("chat-launcher").click()
        await expect(page.get_by_test_id("chat-status")).to_have_attribute("data-state", "live")
        await expect(lines).to_have_count(0)  # the closed conversation stays closed
    assert errors == []


async def test_a_page_on_an_origin_not_allowed_cannot_connect(
    hub: HubFactory, settings: Settings, browser: Browser
) -> None:
    errors: list[str] = []
    async with ChatSite(lang="en") as allowed, ChatSite(lang="en") as foreign:
        client = await hub(chat_settings(settings, allowed_origins=(allowed.origin,)))
        foreign.hub = server_url(client)
        page = await _page(browser, errors)
        closed: list[bool] = []
        page.on("websocket", lambda ws: ws.on("close", lambda _: closed.append(True)))
        await page.goto(foreign.url)
        await page.get_by_test_id("chat-launcher").click()
        status = page.get_by_test_id("chat-status")
        await expect(status).to_have_attribute("data-state", "unreachable")
        await expect(status).to_have_text(re.compile(r"^The chat cannot connect"))
        assert closed, "the socket was not refused"
        async with client.get("/chat/ws", headers={
                "Origin": foreign.origin, "Connection": "Upgrade", "Upgrade": "websocket",
                "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="
        }) as resp:
            assert resp.status == 403
    assert errors == []


async def test_the_widget_on_a_swedish_page_speaks_swedish(
    hub: HubFactory, settings: Settings, browser: Browser
) -> None:
    """Its words come from the hub's catalogue (fetched across origins), and the hub's own
    answer to the passenger is Swedish too."""
    errors: list[str] = []
    async with ChatSite(lang="sv") as site:
        client = await hub(dataclasses.replace(
            chat_settings(settings, allowed_origins=(site.origin,)),
            answers=AnswersSettings(acknowledge=("chat",))))
        site.hub = server_url(client)
        page = await _page(browser, errors)
        await page.goto(site.url)
        launcher = page.get_by_test_id("chat-launcher")
        await expect(launcher).to_have_text("Chatt")
        await launcher.click()
        await expect(page.get_by_test_id("chat-panel")).to_have_attribute("lang", "sv")
        await expect(page.get_by_test_id("chat-status")).to_have_text("Ansluten")
        await expect(page.get_by_test_id("chat-notice")).to_have_text(
            re.compile(r"^Ingen förmedlare är på plats just nu\."))
        text = page.get_by_test_id("chat-text")
        await expect(text).to_have_attribute("placeholder", "Skriv ett meddelande…")
        await expect(page.get_by_test_id("chat-send")).to_have_text("Skicka")
        await text.fill("Hej, en taxi till Tölö")
        await text.press("Enter")
        lines = page.get_by_test_id("chat-line")
        await expect(lines).to_have_count(2, timeout=LIVE_MS)
        await expect(lines.nth(0)).to_contain_text("Du")
        await expect(lines.nth(1)).to_contain_text("Förmedlare")
        await expect(lines.nth(1)).to_contain_text(
            "Tack för att du kontaktade oss. Ditt referensnummer är")
    assert errors == []


async def _screenshot(page: Page, base: str, agent: Dispatcher, request_id: str) -> None:
    """The company's page with the widget open mid-conversation, as the README shows it."""
    async with agent.http.post(f"{base}/api/v1/requests/{request_id}/typing",
                               json={"on": True}) as resp:
        assert resp.status == 204
    await expect(page.get_by_test_id("chat-typing")).not_to_have_text("")
    await page.get_by_test_id("chat-text").fill("Kiitos! Odotan ulko-ovella.")
    await page.mouse.move(0, 0)
    SCREENSHOT.parent.mkdir(exist_ok=True)
    await page.screenshot(path=str(SCREENSHOT))
