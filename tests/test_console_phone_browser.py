"""The console on a phone (issue 15: 7, "the console is 967 px wide on a 390 px phone"), in
Chromium at 390×844 and 360×740.

A short shift (the queue, open a request, claim it, write a reply, back to the queue by the
request's own button and by the browser's Back) checks after every step that the page is no
wider than the screen, that the queue and the request are never squeezed side by side (one
fills the screen at a time), that every visible control is at least 44 px tall to tap, and
that axe finds no serious or critical violation. The lane tabs keep to one line and scroll.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from hub.model import Role
from tests.accessibility import assert_accessible
from tests.conftest import HubFactory, log_in, server_url
from tests.test_console_browser import queue_row, sign_in, submit_form

PHONES = ({"width": 390, "height": 844}, {"width": 360, "height": 740})
TAP_TARGET = 44  # px, WCAG 2.5.5 (AAA): a thumb hits it without hitting its neighbour
LONG_NAME = "Kuljetuspalvelu" + "Virtanen" * 12  # no space to break at
LANES = [("lost", "Löytötavarat"), ("drivers", "Kuljettajatuki"),
         ("airport", "Lentokenttäkuljetukset"), ("school", "Koulukyydit ja sopimusasiakkaat")]

# How wide the page is beyond the screen (0: it fits), the panels on show with their widths,
# and every visible control shorter than a tap target: [testid or text, height].
SCREEN = """(tapTarget) => {
  const page = document.scrollingElement;
  const panels = [...document.querySelectorAll(".queue, .detail")]
    .filter((panel) => panel.checkVisibility())
    .map((panel) => [panel.className, Math.round(panel.getBoundingClientRect().width)]);
  const small = [...document.querySelectorAll("button, select, input, a.call-link")]
    .filter((control) => control.checkVisibility() && control.type !== "checkbox")
    .map((control) => [control.dataset.testid || control.id || control.textContent.trim(),
                       control.getBoundingClientRect().height])
    .filter(([, height]) => height < tapTarget);
  const tabs = document.getElementById("lane-tabs");
  const lines = new Set([...tabs.children].map((tab) => Math.round(tab.offsetTop))).size;
  return { beyond: page.scrollWidth - page.clientWidth, panels, small, lines,
           scrolls: tabs.scrollWidth > tabs.clientWidth };
}"""


async def _fits(page: Page, width: int, what: str) -> None:
    """The page fits the screen, shows one panel across it, every control is tappable, and
    axe finds nothing serious, after `what`."""
    found: dict[str, Any] = await page.evaluate(SCREEN, TAP_TARGET)
    assert found["beyond"] == 0, f"{what} at {width} px: {found['beyond']} px too wide"
    assert len(found["panels"]) == 1, f"{what} at {width} px: panels {found['panels']}"
    [[_, panel_width]] = found["panels"]
    assert panel_width >= width - 24, f"{what} at {width} px: panel {panel_width} px wide"
    assert found["small"] == [], f"{what} at {width} px: too small to tap: {found['small']}"
    await assert_accessible(page, f"{what} at {width} px")


async def _tabs_scroll(page: Page, width: int) -> None:
    """The lane tabs stay on one line and scroll sideways (they are more than fit)."""
    found: dict[str, Any] = await page.evaluate(SCREEN, TAP_TARGET)
    assert (found["lines"], found["scrolls"]) == (1, True), f"lane tabs at {width} px: {found}"


@pytest.mark.store_independent  # the layout at a phone's width, whatever the stores
async def test_a_shift_on_a_phone_shows_one_panel_at_a_time_and_fits_the_screen(
    hub: HubFactory, make_agent: Any, browser: Browser
) -> None:
    client = await hub()
    base = server_url(client)
    dispatcher = await make_agent(client, login="aino.v", name="Aino Välittäjä")
    admin = await make_agent(client, login="paakayttaja", role=Role.ADMIN)
    await log_in(client, admin.login)
    for position, (key, name) in enumerate(LANES, start=1):
        answer = await client.post("/api/v1/admin/lanes", json={
            "key": key, "name_fi": name, "name_en": key, "position": position})
        assert answer.status == 201, await answer.text()
    references = [
        await submit_form(client, {"name": LONG_NAME, "phone": "040 765 4321",
                                   "message": "Taksi " + "Mannerheimintie" * 8}),
        await submit_form(client, {"name": "Ville Live", "phone": "040 222 3344",
                                   "message": "Taksi satamaan"}),
    ]
    errors: list[str] = []
    for phone, reference in zip(PHONES, references, strict=True):
        width = phone["width"]
        context = await browser.new_context(locale="fi-FI", viewport=phone)
        page = await context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await sign_in(page, base, dispatcher.login)
        row = queue_row(page, reference)
        await expect(row).to_be_visible()
        await _fits(page, width, "the queue")
        await _tabs_scroll(page, width)

        await row.locator(".row-open").click()
        await expect(page.get_by_test_id("detail-reference")).to_have_text(reference)
        await expect(page.locator(".queue")).to_be_hidden()
        await expect(page.locator("#detail-heading")).to_be_focused()
        await _fits(page, width, "a request opened")

        await page.get_by_test_id("action-claim").click()
        await expect(page.get_by_test_id("detail-status")).to_have_text("Käsittelyssä")
        await _fits(page, width, "a request claimed")

        await page.get_by_test_id("composer-text").fill("Auto on tulossa.")
        await page.get_by_test_id("composer-send").click()
        # Sent or refused (no SMS gateway here), the line under the box says which.
        await expect(page.locator("#composer-status:not(:empty), #composer-error:not(:empty)")
                     ).to_have_count(1)
        await _fits(page, width, "a reply sent")

        # Back to the queue by the request's own button, then by the browser's Back.
        await page.get_by_test_id("detail-back").click()
        await expect(row).to_be_visible()
        await expect(page.get_by_test_id("detail-panel")).to_be_hidden()
        await _fits(page, width, "back to the queue")
        await row.locator(".row-open").click()
        await expect(page.get_by_test_id("detail-reference")).to_have_text(reference)
        await page.go_back()
        await expect(row).to_be_visible()
        await expect(page.get_by_test_id("detail-panel")).to_be_hidden()
        assert page.url.endswith("/console")  # Back closed the request, not the console
        await context.close()
    assert errors == []
