"""A dispatcher calls missed callers back from the console in Chromium, with a fake Asterisk
as the PBX: "Soita" has the PBX ring her extension and says so, the outcome buttons record
"no answer" with a note (the queue then counts one attempt) and "reached" (the callback
ends); when the PBX refuses, the console falls back to the tel: link and says why."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from playwright.async_api import Page, async_playwright, expect

from hub.agents import add_agent
from hub.appkeys import DATABASE
from hub.model import Role
from hub.settings import AmiSettings, ChannelsSettings, PhoneSettings, Secret, Settings
from tests.channels.test_phone_ami import _abandoned, _arrives
from tests.conftest import (
    CHROMIUM,
    CHROMIUM_ARGS,
    PASSWORD,
    DispatcherFactory,
    HubFactory,
    require_chromium,
    server_url,
)
from tests.fake_ami import FakeAmi
from tests.helpers import Dispatcher, eventually

USER, SECRET = "taxiconnect", "ami-secret"
PASSENGER = "+358401234567"
PASSENGER_SHOWN = "040 123 4567"  # as the console shows it (phone.js)
VIEWPORT = {"width": 1366, "height": 768}  # the dispatchers' laptops


@pytest.fixture
async def asterisk() -> AsyncIterator[FakeAmi]:
    async with FakeAmi(USER, SECRET) as fake:
        yield fake


@pytest.fixture
async def page(hub: HubFactory) -> AsyncIterator[Page]:
    """A Chromium page, closed before the hub stops (its open websocket would delay that)."""
    require_chromium()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            context = await browser.new_context(locale="fi-FI", timezone_id="Europe/Helsinki",
                                                viewport=VIEWPORT)
            yield await context.new_page()
        finally:
            await browser.close()


async def _missed_call(fake: FakeAmi, viewer: Dispatcher, linked: str) -> dict[str, Any]:
    """The passenger gives up waiting in the queue: the new callback request."""
    seen = {r["id"] for r in await viewer.open_requests()}
    await fake.send(_arrives(linked) + _abandoned(linked))

    async def callback() -> dict[str, Any] | None:
        found = [r for r in await viewer.open_requests()
                 if r["details"].get("callback") == "true" and r["id"] not in seen]
        return found[0] if found else None
    return await eventually(callback, what="a callback request")


async def test_calling_back_from_the_console_and_recording_how_it_went(
    hub: HubFactory, dispatcher: DispatcherFactory, page: Page, settings: Settings,
    asterisk: FakeAmi
) -> None:
    client = await hub(dataclasses.replace(
        settings, channels=ChannelsSettings(enabled=("webform", "asterisk_ami")),
        phone=PhoneSettings(ami=AmiSettings(host="127.0.0.1", port=asterisk.port, user=USER,
                                            secret=Secret(SECRET)))))
    await add_agent(client.app[DATABASE], login="anna", name="Anna Ajaja", role=Role.TEAM,
                    password=PASSWORD, phone_login="201")
    viewer = await dispatcher(client, role=Role.ADMIN)
    await asterisk.wait_for_logins(1)
    callback = await _missed_call(asterisk, viewer, "1700000700.81")
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    await page.goto(f"{server_url(client)}/console")
    await page.get_by_test_id("login-user").fill("anna")
    await page.get_by_test_id("login-password").fill(PASSWORD)
    await page.get_by_test_id("login-submit").click()
    row = page.locator(f'[data-testid="queue-row"][data-request-id="{callback["id"]}"]')
    await row.click()
    box = page.get_by_test_id("callback-box")
    outcomes = box.get_by_test_id("callback-outcomes")
    await expect(outcomes).to_be_hidden()

    # Call: the PBX rings Anna's extension first.
    await box.get_by_test_id("callback-call").click()
    await expect(box.get_by_test_id("callback-status")).to_have_text(
        f"Puhelu yhdistetään… Vastaa puhelimeesi, sitten numeroon {PASSENGER_SHOWN} soitetaan.")
    [originate] = [a for a in asterisk.actions if a["action"] == "Originate"]
    assert (originate["channel"], originate["exten"]) == ("PJSIP/201", PASSENGER)
    await expect(page.get_by_test_id("detail-assigned")).to_have_text("Anna Ajaja")

    # Nobody answered: a note and "Ei vastausta"; the queue counts the attempt.
    await expect(outcomes).to_be_visible()
    await outcomes.get_by_test_id("callback-note").fill("Soitan uudelleen 10 min päästä")
    await outcomes.get_by_test_id("callback-outcome-no_answer").click()
    await expect(box.get_by_test_id("callback-status")).to_have_text("Kirjattu: Ei vastausta")
    await expect(outcomes.get_by_test_id("callback-note")).to_have_value("")
    await expect(row.get_by_test_id("callback-attempts")).to_have_text("1 yritys")
    await expect(box.get_by_test_id("callback-attempts")).to_have_text("1 yritys")
    handling = page.get_by_test_id("timeline-handling")
    await expect(handling.filter(has_text="soitti: ei vastausta")).to_contain_text(
        "Soitan uudelleen 10 min päästä")

    # In English, the second call reaches the passenger: the callback is done.
    await page.get_by_test_id("lang-en").click()
    await expect(outcomes.get_by_test_id("callback-outcome-reached")).to_have_text("Reached")
    await outcomes.get_by_test_id("callback-outcome-reached").click()
    await expect(box).to_be_hidden()
    await expect(handling.filter(has_text="reached the passenger")).to_have_count(1)
    await expect(row.get_by_test_id("queue-callback")).to_have_count(0)
    await expect(page.get_by_test_id("detail-status")).to_have_attribute(
        "data-status", "claimed")
    done = await viewer.request(callback["id"])
    assert [h["action"] for h in done["history"]] == [
        "callback_call", "cb_no_answer", "cb_reached"]

    # Anna's colleague resolves it; the passenger misses the queue again, and this time the
    # PBX refuses the call: the console falls back to the tel: link and says why.
    async with viewer.http.post(f"{viewer.base}/api/v1/requests/{callback['id']}/resolve") \
            as resp:
        assert resp.status == 200, await resp.text()
    asterisk.refuse_originate = "Permission denied"
    second = await _missed_call(asterisk, viewer, "1700000800.91")
    await page.locator(f'[data-testid="queue-row"][data-request-id="{second["id"]}"]').click()
    await box.get_by_test_id("callback-call").click()
    await expect(box.get_by_test_id("callback-status")).to_have_text(re.compile(
        rf"^The PBX did not take the call \(.*Permission denied\)\. Call {PASSENGER_SHOWN} on "
        "your phone\\.$"))
    await expect(outcomes).to_be_visible()
    assert len([a for a in asterisk.actions if a["action"] == "Originate"]) == 2
    assert errors == []
