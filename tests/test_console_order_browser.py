"""The console's "Send order", in a real browser, against a hub delivering to a real local
receiver (the company's dispatch system): a request with pickup address and time shows that
its order went out and was taken; the dispatcher sends it again, the receiver refuses once
and takes the retry, and the pane shows it arrived, live and after a reload; a request with
no order has no button (issue 15: the taxi system on the other end)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from playwright.async_api import Page, expect

from hub.settings import Settings
from tests.conftest import HubFactory, server_url
from tests.helpers import eventually
from tests.hub.test_webhooks import SECRET, Receiver, form_post, hooked, pickup_time, signed_by
from tests.test_console_browser import queue_row, sign_in


@pytest.fixture
def page(laptop_page: Page) -> Page:
    return laptop_page


@pytest.fixture
async def sink() -> AsyncIterator[Receiver]:
    found = Receiver()
    await found.start()
    yield found
    await found.stop()


async def _arrivals(sink: Receiver, count: int) -> None:
    async def probe() -> int | None:
        return len(sink.arrivals) if len(sink.arrivals) >= count else None
    await eventually(probe, what=f"{count} webhook arrivals")


async def test_a_dispatcher_sends_the_order_and_sees_it_taken(
    hub: HubFactory, make_agent: Any, page: Page, settings: Settings, sink: Receiver
) -> None:
    client = await hub(hooked(settings, sink.url, events=("order.ready",)))
    base = server_url(client)
    await make_agent(client, login="aino.v", name="Aino Välittäjä")
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await form_post(client, "console-order-1", pickup_address="Mannerheimintie 1, Helsinki",
                    pickup_time=pickup_time(), destination="Lentoasema", passengers="2")
    await form_post(client, "console-order-2", phone="050 111 2233", name="Eero Heino",
                    message="Unohdin laukun autoon")
    await _arrivals(sink, 1)  # the new request's own order.ready
    reference = sink.arrivals[0].event["request"]["reference"]

    await sign_in(page, base, "aino.v")
    rows = page.get_by_test_id("queue-row")
    await expect(rows).to_have_count(2)
    # No order in the lost-bag request: nothing to send.
    await rows.filter(has_text="Eero Heino").click()
    await expect(page.get_by_test_id("passenger-name")).to_have_text("Eero Heino")
    await expect(page.get_by_test_id("order-box")).to_be_hidden()

    await queue_row(page, reference).click()
    box = page.get_by_test_id("order-box")
    status = page.get_by_test_id("order-status")
    await expect(box).to_be_visible()
    await expect(status).to_contain_text("Tilaus lähetetty tilausjärjestelmään")
    await expect(status).to_contain_text("Perillä")
    await expect(box).to_have_attribute("data-state", "delivered")

    sink.script = [503]  # the dispatch system stumbles once
    send = page.get_by_test_id("order-send")
    await expect(send).to_have_text("Lähetä tilaus")
    await send.click()
    await _arrivals(sink, 3)  # refused once, then taken
    # The pane shows the order just sent (not the first one) taken.
    await expect(box).to_have_attribute("data-event", sink.arrivals[2].event["id"])
    await expect(box).to_have_attribute("data-state", "delivered")
    await expect(page.get_by_test_id("timeline")).to_contain_text(
        "lähetti tilauksen tilausjärjestelmään")
    again = sink.arrivals[1:]
    assert {a.event["id"] for a in again} == {again[0].event["id"]}  # one event, retried
    assert again[0].event["id"] != sink.arrivals[0].event["id"]
    assert again[0].event["type"] == "order.ready"
    assert again[0].event["order"]["pickup_address"] == "Mannerheimintie 1, Helsinki"
    assert all(signed_by(SECRET, a.body, a.headers["X-TaxiConnect-Signature"]) for a in again)
    await expect(page.get_by_test_id("detail-last-agent")).to_have_text("Aino Välittäjä")

    # After a reload the pane still knows, and in English.
    await page.reload()
    await expect(page.get_by_test_id("connection-state")).to_have_attribute("data-state", "live")
    await queue_row(page, reference).click()
    await expect(box).to_have_attribute("data-event", sink.arrivals[2].event["id"])
    await expect(box).to_have_attribute("data-state", "delivered")
    await page.get_by_test_id("lang-en").click()
    await expect(status).to_contain_text("Order sent to the dispatch system")
    await expect(status).to_contain_text("Taken")
    await expect(send).to_have_text("Send order")
    await expect(page.get_by_test_id("timeline")).to_contain_text(
        "sent the order to the dispatch system")
    assert len(sink.arrivals) == 3
    assert errors == []
