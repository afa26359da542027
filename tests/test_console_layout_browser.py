"""The console's layout holds whatever passengers type and whatever the shift brings (issue 15:
1, 4, 6, 7), in Chromium at the dispatchers' 1,366×768 and at 1,024×768.

A dispatcher's shift, run once at each width: a form contact (a long name without spaces),
one with an unclosed U+202E in its name, a callback and a passenger's chat (over the
`websockets` library, as the widget speaks it) come in; the form's request is found by its
number as a Finn says it, opened, claimed, answered by email and at last resolved; the chat is
claimed, answered, handed back to the queue and transferred to a colleague. After every one
of those actions no button, field or text box leaves its panel, the hub's own words still
read left to right, every lane tab shows in full and no status badge is clipped; a callback
shows its number as Finns write it and its deadline with "klo".

Offers to the dispatcher come and go without a row changing its height or place; they are
answered from the dock under the queue, by the buttons or by the keys A and X, and a click on
the row itself only opens it.

One hub and one browser serve the whole module, to keep it fast.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
import websockets
from aiohttp.test_utils import TestClient, TestServer
from playwright.async_api import Browser, Page, async_playwright, expect
from sqlalchemy import update
from websockets.asyncio.client import ClientConnection
from websockets.typing import Origin

from hub import schema
from hub.agents import add_agent
from hub.app import create_app
from hub.appkeys import DATABASE, INGESTOR
from hub.log_privacy import PrivateAccessLogger
from hub.model import Agent, Channel, InboundContact, Role
from hub.settings import (
    AnswersSettings,
    ChannelsSettings,
    EmailSettings,
    QueueSettings,
    Secret,
    Settings,
    SmtpListenerSettings,
    SmtpRelaySettings,
    load_settings,
)
from tests.chat_site import ORIGIN, chat_settings
from tests.conftest import CHROMIUM, CHROMIUM_ARGS, PASSWORD, require_chromium, server_url
from tests.helpers import WAIT_S
from tests.services import fresh_database
from tests.smtp_sink import SmtpSink
from tests.test_console_browser import offer_item, queue_row, sign_in, submit_form

pytestmark = pytest.mark.asyncio(loop_scope="module")

WIDTHS = (1366, 1024)
HEIGHT = 768
LONG_NAME = "Kuljetuspalvelu" + "Virtanen" * 12  # 111 letters, no space to break at
RLO_NAME = "Aino \u202eVirtanen"  # an unclosed right-to-left override
NUMBER = "+358 40 123 4567"  # the form's number, searched for as "040 123 4567"
COLLEAGUE = "Pekka Kollega"
HUB_WAIT_MS = 20_000  # for what waits on the hub's work, which a loaded machine can slow
# The demo's lanes (hub demo) and more: "Kuljettajatuki" was hidden at 1,366 px.
LANES: list[dict[str, Any]] = [
    {"key": "where", "name_fi": "Missä taksini?", "name_en": "Where is my taxi"},
    {"key": "lost", "name_fi": "Löytötavarat", "name_en": "Lost property"},
    {"key": "invoicing", "name_fi": "Laskutus", "name_en": "Invoicing"},
    {"key": "drivers", "name_fi": "Kuljettajatuki", "name_en": "Driver support"},
    {"key": "airport", "name_fi": "Lentokenttäkuljetukset", "name_en": "Airport transfers"},
    {"key": "school", "name_fi": "Koulukyydit ja sopimusasiakkaat",
     "name_en": "School runs and contract customers"},
    {"key": "orders", "name_fi": "Tilaukset", "name_en": "Orders", "strategy": "offer",
     "offer_timeout_s": 60},
]

# Every control that sticks out of its panel sideways: [{control, panel, overflow px}].
OVERFLOWS = """() => {
  const found = [];
  const panels = [...document.querySelectorAll(".topbar, .queue, .detail")];
  for (const panel of panels) {
    const box = panel.getBoundingClientRect();
    if (!box.width) continue;
    const controls = panel.querySelectorAll(
      "button, input, textarea, select, a.call-link, .entry, .card, .lane-tab, .offer-item");
    for (const control of controls) {
      const rect = control.getBoundingClientRect();
      if (!rect.width || control.closest("[hidden], .visually-hidden, dialog")) continue;
      const over = Math.max(box.left - rect.left, rect.right - box.right);
      if (over > 0.5) {
        found.push({ control: control.dataset.testid || control.id || control.className,
          panel: panel.className, over: Math.round(over) });
      }
    }
  }
  const page = document.scrollingElement;
  if (page.scrollWidth > page.clientWidth) {
    found.push({ control: "page", panel: "window", over: page.scrollWidth - page.clientWidth });
  }
  return found;
}"""

# The hub's own words read backwards anywhere: [text]. A word's first letter must sit left of
# its last; text that people typed (isolated in its own elements) is left to itself.
REVERSED = """() => {
  const USER = "bdi, .user-text, td.col-name, td.col-preview, .preview-text, .passenger-name,"
    + " .entry-head strong, .entry .body, .entry .subject, textarea, input, select, option";
  const found = [];
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walk.nextNode(); node; node = walk.nextNode()) {
    const parent = node.parentElement;
    if (!parent || parent.closest(USER) || !parent.closest(".topbar, .queue, .detail")) continue;
    if (!parent.getClientRects().length) continue;
    for (const match of node.data.matchAll(/\\p{L}{4,}/gu)) {
      const range = document.createRange();
      range.setStart(node, match.index);
      range.setEnd(node, match.index + 1);
      const first = range.getBoundingClientRect();
      range.setStart(node, match.index + match[0].length - 1);
      range.setEnd(node, match.index + match[0].length);
      const last = range.getBoundingClientRect();
      if (first.width && last.width && Math.abs(first.top - last.top) < 2
          && first.left > last.left) found.push(match[0]);
    }
  }
  return found;
}"""

# Lane tabs not wholly inside the tab strip, and status badges wider than their cell.
HIDDEN_PARTS = """() => {
  const strip = document.getElementById("lane-tabs").getBoundingClientRect();
  const tabs = [...document.querySelectorAll("#lane-tabs .lane-tab")].filter((tab) => {
    const r = tab.getBoundingClientRect();
    return r.left < strip.left - 0.5 || r.right > strip.right + 0.5;
  }).map((tab) => tab.textContent);
  const badges = [...document.querySelectorAll("#queue-body .col-status .badge")]
    .filter((badge) => badge.scrollWidth > badge.clientWidth + 0.5
      || badge.getBoundingClientRect().right > badge.parentElement.getBoundingClientRect().right
      || badge.parentElement.scrollWidth > badge.parentElement.clientWidth + 0.5)
    .map((badge) => badge.textContent);
  return { tabs, badges };
}"""

# Each row's place and height, by reference.
ROWS = """() => Object.fromEntries([...document.querySelectorAll("#queue-body tr")].map((tr) => {
  const r = tr.getBoundingClientRect();
  return [tr.dataset.reference, [Math.round(r.top), Math.round(r.height)]];
}))"""


@dataclasses.dataclass
class Shift:
    client: TestClient[Any, Any]
    base: str
    me: Agent
    browser: Browser


@pytest.fixture(scope="module")
def module_settings(tmp_path_factory: pytest.TempPathFactory, redis_url: str
                    ) -> Iterator[Settings]:
    folder: Path = tmp_path_factory.mktemp("layout")
    with fresh_database(folder) as database_url:
        base = load_settings(None, environ={
            "TAXICONNECT_DATA_DIR": str(folder / "data"),
            "TAXICONNECT_DATABASE_URL": database_url,
            "TAXICONNECT_REDIS_URL": redis_url,
            "TAXICONNECT_REDIS_PREFIX": f"t{uuid.uuid4().hex[:10]}:",
        })
        yield dataclasses.replace(
            base, answers=AnswersSettings(acknowledge=()),
            queue=QueueSettings(reclaim_idle_ms=500, events_maxlen=10_000,
                                outbox_sweep_s=0.5, offer_check_s=0.1))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shift(module_settings: Settings) -> AsyncIterator[Shift]:
    """One hub with the lanes, a dispatcher, her colleague and one Chromium for the whole
    module; the chat takes the company's site, email replies go to a local SMTP sink."""
    require_chromium()
    async with SmtpSink() as sink:
        settings = dataclasses.replace(
            chat_settings(module_settings),
            channels=ChannelsSettings(enabled=("webform", "email", "chat")),
            email=EmailSettings(
                address="taksi@taxi.example", reply_token_secret=Secret("reply-secret"),
                smtp=SmtpListenerSettings(port=0, domains=("taxi.example",)),
                relay=SmtpRelaySettings(host="127.0.0.1", port=sink.port, security="none")))
        async for found in _shift(settings):
            yield found


async def _shift(settings: Settings) -> AsyncIterator[Shift]:
    # The access log on, through the hub's own logger, as the hub fixture has it (the suite's
    # log is searched for personal data at the end).
    client: TestClient[Any, Any] = TestClient(TestServer(
        create_app(settings), access_log=logging.getLogger("hub.access"),
        access_log_class=PrivateAccessLogger))
    await client.start_server()
    try:
        base = server_url(client)
        database = client.app[DATABASE]
        await add_agent(database, login="admin", name="Admin", role=Role.ADMIN,
                        password=PASSWORD)
        me = await add_agent(database, login="aino.v", name="Aino Välittäjä", role=Role.TEAM,
                             password=PASSWORD)
        await add_agent(database, login="pekka.k", name=COLLEAGUE, role=Role.TEAM,
                        password=PASSWORD)
        async with aiohttp.ClientSession(base_url=base,
                                         cookie_jar=aiohttp.CookieJar(unsafe=True)) as admin:
            answer = await admin.post("/api/v1/auth/login",
                                      json={"login": "admin", "password": PASSWORD})
            assert answer.status == 200, await answer.text()
            for position, lane in enumerate(LANES, start=1):
                answer = await admin.post("/api/v1/admin/lanes",
                                          json={**lane, "position": position})
                assert answer.status == 201, await answer.text()
            # Email goes to the offer lane; the form stays in the general one.
            answer = await admin.post("/api/v1/admin/routing-rules",
                                      json={"lane": "orders", "channel": "email"})
            assert answer.status == 201, await answer.text()
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            try:
                yield Shift(client, base, me, browser)
            finally:
                await browser.close()
    finally:
        await client.close()


@pytest_asyncio.fixture(loop_scope="module")
async def page(shift: Shift) -> AsyncIterator[Page]:
    context = await shift.browser.new_context(locale="fi-FI",
                                              viewport={"width": WIDTHS[0], "height": HEIGHT})
    errors: list[str] = []
    try:
        found = await context.new_page()
        found.on("pageerror", lambda exc: errors.append(str(exc)))
        yield found
    finally:
        await context.close()
    assert errors == []


async def _ingest(client: TestClient[Any, Any], seconds_ago: float, **fields: Any) -> str:
    contact = InboundContact(
        channel=fields.pop("channel", Channel.SMS), idempotency_key=f"t-{uuid.uuid4()}",
        received_at=datetime.now(UTC) - timedelta(seconds=seconds_ago), **fields)
    reference: str = (await client.app[INGESTOR].submit(contact)).reference
    return reference


async def _holds(page: Page, what: str) -> None:
    """Nothing sticks out of its panel, reads backwards, or hides, after `what`."""
    overflows = await page.evaluate(OVERFLOWS)
    assert overflows == [], f"after {what}: {overflows}"
    reversed_words = await page.evaluate(REVERSED)
    assert reversed_words == [], f"after {what}: hub words reversed: {reversed_words}"
    hidden = await page.evaluate(HIDDEN_PARTS)
    assert hidden == {"tabs": [], "badges": []}, f"after {what}: {hidden}"


@pytest.mark.store_independent
@pytest.mark.parametrize("width", WIDTHS)
async def test_a_shift_keeps_every_control_in_its_panel(
    shift: Shift, page: Page, width: int
) -> None:
    """A form contact and a chat come in; the form's is found by its number as a Finn says
    it, claimed, answered and resolved; the chat's is claimed, answered, handed back to the
    queue and transferred to a colleague. The layout holds after every one of those."""
    client, base = shift.client, shift.base
    await page.set_viewport_size({"width": width, "height": HEIGHT})
    form_ref = await submit_form(client, {"name": LONG_NAME, "phone": NUMBER,
                                          "email": "kuljetus@example.org",
                                          "message": "Taksi " + "Mannerheimintie" * 8})
    # Numbers of this width's own: a contact from a number with an open request joins it.
    callback_number, callback_shown = f"+35850765{width:04d}", f"050 765 {width:04d}"
    rlo_ref = await submit_form(client, {"name": RLO_NAME, "phone": f"040 111 {width:04d}",
                                         "message": "Taksi asemalle"})
    callback_ref = await _ingest(client, 60, phone=callback_number, body="Soittakaa")
    due = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=30)
    async with client.app[DATABASE].write() as conn:
        await conn.execute(update(schema.contact_requests)
                           .where(schema.contact_requests.c.reference == callback_ref)
                           .values(details={"callback": "true",
                                            "callback_due_at": due.isoformat(),
                                            "callback_number": callback_number}))
    await sign_in(page, base, shift.me.login)  # a dispatcher online: the chat is answered live
    async with _chat_passenger(base) as passenger:
        chat_text = f"Hei, tarvitsen taksin Kamppiin ({width} px)"
        await passenger.send(json.dumps({"type": "message", "id": str(uuid.uuid4()),
                                         "text": chat_text}))
        await _frame(passenger, "ack")
        await page.get_by_test_id("filter-all").click()
        chat_row = page.get_by_test_id("queue-row").filter(has_text=chat_text)
        await expect(chat_row).to_have_count(1, timeout=HUB_WAIT_MS)
        chat_ref = await chat_row.get_attribute("data-reference")
        assert chat_ref
        for reference in (form_ref, rlo_ref, callback_ref, chat_ref):
            await expect(queue_row(page, reference)).to_be_visible()
        await expect(queue_row(page, chat_ref).locator(".channel")).to_have_text("Chat")
        await _holds(page, "the queue with a form contact and a chat")

        # A callback: the number as Finns write it, the deadline with "klo" (7).
        callback = queue_row(page, callback_ref)
        await expect(callback.get_by_test_id("callback-number")).to_have_text(callback_shown)
        local = due.astimezone()  # the browser's zone is the machine's
        day = "" if local.date() == datetime.now().astimezone().date() \
            else f"{local.day}.{local.month}.{local.year} "
        await expect(callback.get_by_test_id("callback-due")).to_have_text(
            f"soita viimeistään {day}klo {local.hour}.{local.minute:02d}")

        # The number as the passenger says it on the phone finds the form's +358 number.
        await page.get_by_test_id("queue-search").fill("040 123 4567")
        await expect(page.get_by_test_id("queue-search-box")).to_have_attribute(
            "data-state", "done")
        await expect(page.get_by_test_id("queue-row")).to_have_count(1)
        await expect(queue_row(page, form_ref)).to_be_visible()
        await expect(page.get_by_test_id("queue-search-status")).to_have_text("1 osuma")
        await _holds(page, "a search by number")

        # The form's long name: opened, claimed, answered (1, 6).
        await queue_row(page, form_ref).locator(".row-open").click()
        await expect(page.get_by_test_id("detail-reference")).to_have_text(form_ref)
        await expect(page.get_by_test_id("passenger-phones")).to_have_text("040 123 4567")
        await _holds(page, "opening a long name")
        await page.get_by_test_id("queue-search-clear").click()
        await expect(queue_row(page, chat_ref)).to_be_visible()
        await _holds(page, "clearing the search")
        await _claim(page)
        await _holds(page, "claiming")
        await _reply(page, "email", f"Auto tulossa, {width}.")
        await _holds(page, "an email reply")

        # The unclosed U+202E: the hub's words around the name still read left to right.
        await queue_row(page, rlo_ref).locator(".row-open").click()
        await expect(page.get_by_test_id("detail-reference")).to_have_text(rlo_ref)
        head = page.get_by_test_id("timeline-message").locator(".entry-head")
        await expect(head).to_contain_text("Verkkolomake")
        await _holds(page, "opening the U+202E name")

        # The chat: claimed, answered (the passenger reads it), handed back, transferred.
        await queue_row(page, chat_ref).locator(".row-open").click()
        await expect(page.get_by_test_id("detail-reference")).to_have_text(chat_ref)
        await expect(page.get_by_test_id("composer-channel")).to_have_value("chat")
        await _holds(page, "opening a chat")
        await _claim(page)
        await _holds(page, "claiming a chat")
        reply = f"Auto on matkalla, {width}."
        await _reply(page, "chat", reply)
        line = await _frame(passenger, "message", sent_by="dispatcher")
        assert line["text"] == reply
        await _holds(page, "a chat reply")
        await page.get_by_test_id("action-release").click()
        await expect(page.get_by_test_id("detail-status")).to_have_text("Jonossa")
        await _holds(page, "handing back")
        await page.get_by_test_id("transfer-agent").select_option(label=COLLEAGUE)
        await page.get_by_test_id("action-transfer").click()
        await expect(page.get_by_test_id("detail-assigned")).to_have_text(COLLEAGUE)
        await expect(queue_row(page, chat_ref).locator("td.col-agent")).to_have_text(
            COLLEAGUE)
        await _holds(page, "a transfer to a colleague")

    # The form's request resolved: it leaves the open queue, its detail stays.
    await queue_row(page, form_ref).locator(".row-open").click()
    await expect(page.get_by_test_id("detail-reference")).to_have_text(form_ref)
    await _holds(page, "opening a request again")
    await page.get_by_test_id("action-resolve").click()
    await expect(page.get_by_test_id("detail-status")).to_have_text("Ratkaistu")
    await expect(queue_row(page, form_ref)).to_have_count(0)
    await _holds(page, "resolving")

    await callback.locator(".row-open").click()
    await expect(page.get_by_test_id("callback-call")).to_contain_text(callback_shown)
    await _holds(page, "opening a callback")


async def _claim(page: Page) -> None:
    await page.get_by_test_id("action-claim").click()
    await expect(page.get_by_test_id("detail-status")).to_have_text("Käsittelyssä")


async def _reply(page: Page, channel: str, text: str) -> None:
    """Send `text` from the composer on `channel`; returns once the timeline shows it and the
    status line says it is queued (that line pushed the text box out, issue 15: 1)."""
    await page.get_by_test_id("composer-channel").select_option(channel)
    await page.get_by_test_id("composer-text").fill(text)
    await page.get_by_test_id("composer-send").click()
    await expect(page.get_by_test_id("composer-status")).to_have_text(
        "Vastaus on lähetysjonossa.", timeout=HUB_WAIT_MS)  # with the hub's answer
    await expect(page.get_by_test_id("timeline-message").filter(has_text=text)
                 ).to_have_count(1)


@contextlib.asynccontextmanager
async def _chat_passenger(base: str) -> AsyncIterator[ClientConnection]:
    """A passenger's widget on the company's site, spoken over the `websockets` library."""
    url = base.replace("http://", "ws://") + "/chat/ws"
    async with websockets.connect(url, origin=Origin(ORIGIN)) as ws:
        await ws.send(json.dumps({"type": "hello", "token": None, "last_seen": None,
                                  "lang": "fi"}))
        welcome = await _frame(ws, "welcome")
        assert welcome["available"] is True, welcome
        yield ws


async def _frame(ws: ClientConnection, kind: str, sent_by: str | None = None
                 ) -> dict[str, Any]:
    """The next frame of `kind` (a line `sent_by` whom, if given); others (typing, queue
    place, the passenger's own lines) are passed over."""
    while True:
        frame: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), WAIT_S))
        if frame["type"] == kind and sent_by in (None, frame.get("from")):
            return frame


async def test_offers_keep_rows_in_place_and_are_answered_from_the_dock(
    shift: Shift, page: Page
) -> None:
    client = shift.client
    for n in range(3):
        await _ingest(client, 200 - n * 10, phone=f"+35840333000{n}", body=f"Taksi {n}")
    await sign_in(page, shift.base, shift.me.login)
    await expect(page.get_by_test_id("queue-row")).not_to_have_count(0)
    before = await page.evaluate(ROWS)
    heights = sorted(height for _, height in before.values())
    one_line = heights[0]

    # An offer to me: its row comes in one line high at its own place; every other row stays.
    offered = await _ingest(client, 0, channel=Channel.EMAIL, name="Emma Smith",
                            email="emma@example.org", subject="Taxi", body="Taxi please")
    row = queue_row(page, offered)
    await expect(row).to_have_attribute("data-offer", "mine", timeout=15_000)
    item = offer_item(page, offered)
    await expect(item.get_by_test_id("offer-countdown")).to_have_text(
        re.compile(r"^\d:\d\d jäljellä$"))
    after = await page.evaluate(ROWS)
    assert {ref: after[ref] for ref in before} == before  # no row moved or grew
    assert list(after)[-1] == offered  # placed by its wait, not on top
    assert after[offered][1] == one_line
    await _holds(page, "an offer")

    # A click on the row's centre opens it, and only that: the offer stands.
    await row.click()
    await expect(page.get_by_test_id("detail-reference")).to_have_text(offered)
    await expect(row).to_have_attribute("data-offer", "mine")
    await _holds(page, "opening an offered request")

    # X declines the offer, wherever the focus is but in a field; the dock empties and goes.
    await page.keyboard.press("x")
    await expect(row).not_to_have_attribute("data-offer", "mine")
    await expect(item).to_have_count(0)
    await expect(page.get_by_test_id("offer-dock")).to_be_hidden()
    assert await page.evaluate(ROWS) == after

    # The next offer: A accepts it, and the request opens, held by me.
    second = await _ingest(client, 0, channel=Channel.EMAIL, email="liisa@example.org",
                           subject="Taksi", body="Taksi satamaan")
    await expect(queue_row(page, second)).to_have_attribute("data-offer", "mine",
                                                            timeout=15_000)
    await page.locator("#queue-heading").focus()
    await page.keyboard.press("a")
    await expect(page.get_by_test_id("detail-reference")).to_have_text(second)
    await expect(queue_row(page, second)).to_have_attribute("data-status", "claimed")
    await expect(page.get_by_test_id("offer-dock")).to_be_hidden()
