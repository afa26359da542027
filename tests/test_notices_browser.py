"""Service notices in real browsers (Debian's Chromium driven by Playwright), two dispatchers
side by side and an external user.

Aino opens the Notice dialog in her console: the times offered are now and four hours on,
the counters count characters and SMS parts, announcement-only needs the phone and warns that
callers' numbers are not kept, and a notice without its English text is not sent. She
publishes one for the phone, SMS, chat and the web form in the orders lane, announcement-only
on the phone. Her banner and her colleague Pekka's appear at once (his page is not
reloaded), in each console's language; a second notice, published through the API, stacks
above it. Each ends one notice from his or her banner after a confirmation and the banners
go in both consoles; the history lists both, ended. The external user sees none of it.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from playwright.async_api import Browser, Page, expect

from dispatch.lanes_demo import seed_lanes
from hub.appkeys import DATABASE, LANES
from hub.model import Role
from tests.conftest import (
    PASSWORD,
    HubFactory,
    server_url,
)

VIEWPORT = {"width": 1366, "height": 768}  # the dispatchers' laptops
ZONE = "Europe/Helsinki"
LIVE_MS = 10_000  # across the hub: outbox, Redis stream, the other console's socket
TEXT_FI = "Lumimyrsky: odotusajat ovat tavallista pidempiä. Tilaa taksi mieluiten netistä."
TEXT_EN = "Snowstorm: waiting times are longer than usual. Please order online if you can."
TEXT_SV = "Snöstorm: väntetiderna är längre än vanligt. Beställ helst på nätet."
SECOND = {"text_fi": "Maksupäätteissä on häiriö: käteinen ja sovellus toimivat.",
          "text_en": "Card terminals are down: cash and the app work.",
          "channels": ["sms", "chat"], "lanes": []}


async def _console(browser: Browser, base: str, login: str, errors: list[str]) -> Page:
    """A console of its own (cookies, storage), logged in and live."""
    context = await browser.new_context(locale="fi-FI", timezone_id=ZONE, viewport=VIEWPORT)
    page = await context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(f"{base}/console")
    await page.get_by_test_id("login-user").fill(login)
    await page.get_by_test_id("login-password").fill(PASSWORD)
    await page.get_by_test_id("login-password").press("Enter")
    await expect(page.get_by_test_id("connection-state")).to_have_attribute(
        "data-state", "live")
    await page.evaluate("window.stillTheSamePage = true")
    return page


async def test_a_dispatcher_publishes_a_notice_colleagues_see_it_live_and_end_it(
    hub: HubFactory, make_agent: Any, browser: Browser
) -> None:
    client = await hub()
    await seed_lanes(client.app[DATABASE])
    client.app[LANES].invalidate()  # as the lanes API does: the consoles list them at once
    base = server_url(client)
    aino = await make_agent(client, login="aino", name="Aino Välittäjä")
    pekka = await make_agent(client, login="pekka", name="Pekka Päivystäjä", role=Role.ADMIN)
    partner = await make_agent(client, login="kumppani", name="Kumppani Oy",
                               role=Role.EXTERNAL)
    errors: list[str] = []
    mine = await _console(browser, base, aino.login, errors)
    his = await _console(browser, base, pekka.login, errors)
    theirs = await _console(browser, base, partner.login, errors)
    await his.get_by_test_id("lang-en").click()
    for page in (mine, his):
        await expect(page.get_by_test_id("notice-bar")).to_be_hidden()

    # The dialog offers now and four hours on; counters count characters and SMS parts.
    await mine.get_by_test_id("notice-open").click()
    dialog = mine.get_by_test_id("notice-dialog")
    await expect(dialog).to_be_visible()
    await expect(mine.get_by_test_id("notice-text-fi")).to_be_focused()
    start = datetime.fromisoformat(await mine.get_by_test_id("notice-from").input_value())
    end_value = await mine.get_by_test_id("notice-until").input_value()
    assert (datetime.fromisoformat(end_value) - start).total_seconds() == 4 * 3600
    await mine.get_by_test_id("notice-text-fi").fill(TEXT_FI)
    await expect(mine.get_by_test_id("notice-count-fi")).to_have_text(
        f"{len(TEXT_FI)} / 1000 merkkiä · 1 tekstiviesti")
    await mine.get_by_test_id("notice-text-en").fill(TEXT_EN * 3)
    await expect(mine.get_by_test_id("notice-count-en")).to_have_text(
        f"{len(TEXT_EN) * 3} / 1000 merkkiä · 2 tekstiviestiä")

    # Announcement-only is a phone mode and warns what it costs.
    only = mine.get_by_test_id("notice-announcement-only")
    warning = mine.get_by_test_id("notice-announcement-warning")
    await only.check()
    await expect(warning).to_contain_text("Soittajien numeroita ei tallenneta")
    await mine.get_by_test_id("notice-channel-phone").uncheck()
    await expect(only).to_be_disabled()
    await expect(only).not_to_be_checked()
    await expect(warning).to_have_text("Vain tiedote -tila koskee puheluita: valitse Puhelin.")
    await mine.get_by_test_id("notice-channel-phone").check()
    await only.check()
    await mine.get_by_test_id("notice-channel-email").uncheck()
    await mine.get_by_test_id("notice-lane-orders").check()

    # Without its English text the notice is not sent.
    await mine.get_by_test_id("notice-text-en").fill("")
    await mine.get_by_test_id("notice-publish").click()
    await expect(mine.get_by_test_id("notice-error")).to_have_text(
        "Kirjoita tiedote suomeksi ja englanniksi.")
    await expect(mine.get_by_test_id("notice-text-en")).to_be_focused()
    await mine.get_by_test_id("notice-text-en").fill(TEXT_EN)
    await mine.get_by_test_id("notice-text-sv").fill(TEXT_SV)  # optional
    await expect(mine.get_by_test_id("notice-count-sv")).to_have_text(
        f"{len(TEXT_SV)} / 1000 merkkiä · 1 tekstiviesti")
    await mine.get_by_test_id("notice-publish").click()
    await expect(dialog).to_be_hidden()

    # The hub has it as chosen, ending four hours after it was published (the offered times
    # are "now" and "four hours on" until the dispatcher changes them).
    answer = await mine.request.get(f"{base}/api/v1/notices")
    assert answer.status == 200
    active = (await answer.json())["active"]
    assert [(n["text"], n["channels"], n["lanes"], n["announcement_only"]) for n in active] == [
        ({"fi": TEXT_FI, "sv": TEXT_SV, "en": TEXT_EN}, ["chat", "phone", "sms", "webform"],
         ["orders"], True)]
    first_id = active[0]["id"]
    until = datetime.fromisoformat(active[0]["valid_until"]).astimezone(ZoneInfo(ZONE))
    offered = datetime.fromisoformat(end_value).replace(tzinfo=ZoneInfo(ZONE))
    assert timedelta(0) <= until - offered <= timedelta(minutes=1)

    # Both consoles show it at once, each in its own language.
    banner = mine.get_by_test_id("notice-banner")
    await expect(banner).to_have_count(1)
    await expect(banner.get_by_test_id("notice-text")).to_have_text(TEXT_FI)
    await expect(banner.get_by_test_id("notice-only")).to_have_text("Puhelut: vain tiedote")
    await expect(banner.get_by_test_id("notice-meta")).to_have_text(re.compile(
        r"^Puhelin, Tekstiviesti, Chat, Verkkolomake · Jonot: Tilaukset · voimassa "
        rf"(klo |\d+\.\d+\. klo ){until:%H\.%M} asti$"))
    seen = his.get_by_test_id("notice-banner")
    await expect(seen).to_have_count(1, timeout=LIVE_MS)
    await expect(seen.get_by_test_id("notice-text")).to_have_text(TEXT_EN)
    await expect(seen.get_by_test_id("notice-only")).to_have_text("Calls: announcement only")
    await expect(seen.get_by_test_id("notice-meta")).to_contain_text(
        "Phone, SMS, Chat, Web form · Lanes: Orders · until ")
    assert await his.evaluate("window.stillTheSamePage") is True

    published = await his.request.post(f"{base}/api/v1/notices", data=SECOND)
    assert published.status == 201, await published.text()
    second_id = (await published.json())["notice"]["id"]

    # A second notice stacks above the first, in both consoles.
    for page in (mine, his):
        banners = page.get_by_test_id("notice-banner")
        await expect(banners).to_have_count(2, timeout=LIVE_MS)
        assert await banners.evaluate_all("nodes => nodes.map(n => n.dataset.noticeId)") == [
            second_id, first_id]
    await expect(mine.get_by_test_id("notice-banner").first.get_by_test_id("notice-meta")
                 ).to_contain_text("Tekstiviesti, Chat · Kaikki jonot · ")
    await expect(mine.get_by_test_id("notice-banner").first.get_by_test_id("notice-only")
                 ).to_have_count(0)

    # The external user sees none of it: no button, no banner, and the API says no.
    await expect(theirs.get_by_test_id("notice-open")).to_be_hidden()
    await expect(theirs.get_by_test_id("notice-banner")).to_have_count(0)
    assert (await theirs.request.get(f"{base}/api/v1/notices")).status == 403

    # Pekka ends the first after a confirmation; it goes in both consoles.
    first = his.locator(f'[data-testid="notice-banner"][data-notice-id="{first_id}"]')
    await first.get_by_test_id("notice-end").click()
    await expect(first).to_contain_text("End this notice now on all its channels?")
    await first.get_by_test_id("notice-end-no").click()
    await expect(first.get_by_test_id("notice-end-yes")).to_have_count(0)
    await first.get_by_test_id("notice-end").click()
    await first.get_by_test_id("notice-end-yes").click()
    await expect(his.get_by_test_id("notice-banner")).to_have_count(1)
    await expect(mine.get_by_test_id("notice-banner")).to_have_count(1, timeout=LIVE_MS)
    await expect(mine.get_by_test_id("notice-text")).to_have_text(SECOND["text_fi"])

    # Aino ends the second: no banner is left anywhere.
    await mine.get_by_test_id("notice-end").click()
    await expect(mine.get_by_test_id("notice-banner")).to_contain_text(
        "Päätetäänkö tiedote nyt kaikilta kanaviltaan?")
    await mine.get_by_test_id("notice-end-yes").click()
    for page in (mine, his):
        await expect(page.get_by_test_id("notice-banner")).to_have_count(0, timeout=LIVE_MS)
        await expect(page.get_by_test_id("notice-bar")).to_be_hidden()

    # The history lists both, newest first, ended.
    await mine.get_by_test_id("notice-open").click()
    await mine.get_by_test_id("notice-tab-history").click()
    items = mine.get_by_test_id("notice-history-item")
    await expect(items).to_have_count(2)
    await expect(items.get_by_test_id("notice-history-text")).to_have_text(
        [SECOND["text_fi"], TEXT_FI])
    await expect(items.get_by_test_id("notice-history-state")).to_have_text(
        ["Päätetty", "Päätetty"])
    await expect(items.nth(1)).to_contain_text("Puhelut: vain tiedote")
    await mine.keyboard.press("Escape")
    await expect(mine.get_by_test_id("notice-dialog")).to_be_hidden()
    await expect(theirs.get_by_test_id("notice-banner")).to_have_count(0)
    assert errors == []
