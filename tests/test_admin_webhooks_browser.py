"""The outbound webhooks' delivery log on the admin page, in a real browser, against a hub
delivering to a real local receiver: one event refused (given up), one failing and waiting for
its next attempt, the rest delivered; newest first, filtered by state and event type, paged
with "more", in Finnish and English (issue 15: the taxi system on the other end)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import pytest
from playwright.async_api import Page, expect

from hub.model import Role
from hub.settings import Secret, Settings, WebhookEndpoint, WebhooksSettings
from tests.conftest import PASSWORD, HubFactory, server_url
from tests.helpers import eventually, http_session, order
from tests.hub.test_webhooks import Receiver, form_post, pickup_time

PAGE = 25  # web/admin/webhooks.js's page
MORE = PAGE - 3  # plain requests besides the three of the story: one page and a bit


@pytest.fixture
def page(laptop_page: Page) -> Page:
    return laptop_page


@pytest.fixture
async def sink() -> AsyncIterator[Receiver]:
    # The first request's event is refused, the second's fails and waits; the rest taken.
    found = Receiver([400, 500])
    await found.start()
    yield found
    await found.stop()


def _hooked(settings: Settings, url: str) -> Settings:
    endpoint = WebhookEndpoint(name="tilausjarjestelma", url=url, secret=Secret("whsec-admin"),
                               events=("request.created", "order.ready"))
    # A failing event waits a minute for its next attempt: it is still failing when shown.
    return dataclasses.replace(settings, webhooks=WebhooksSettings(
        endpoints=(endpoint,), max_attempts=5, backoff_base_s=60.0, backoff_max_s=120.0,
        timeout_s=5.0))


async def _arrivals(sink: Receiver, count: int) -> None:
    async def probe() -> int | None:
        return len(sink.arrivals) if len(sink.arrivals) >= count else None
    await eventually(probe, what=f"{count} webhook arrivals")


async def test_an_admin_reads_the_delivery_log_filters_it_and_pages_on(
    hub: HubFactory, make_agent: Any, page: Page, settings: Settings, sink: Receiver
) -> None:
    client = await hub(_hooked(settings, sink.url))
    base = server_url(client)
    admin = await make_agent(client, login="paakayttaja", role=Role.ADMIN, name="Pää Käyttäjä")
    await form_post(client, "wh-admin-refused", phone="050 100 0001")
    await _arrivals(sink, 1)
    await form_post(client, "wh-admin-failing", phone="050 100 0002")
    await _arrivals(sink, 2)
    await form_post(client, "wh-admin-order", pickup_address="Mannerheimintie 1, Helsinki",
                    pickup_time=pickup_time())
    await _arrivals(sink, 4)  # request.created and order.ready
    async with http_session() as passenger:
        async def post(n: int) -> None:
            async with passenger.post(f"{base}/api/v1/contact-requests", json=order(
                    f"wh-admin-more-{n:03d}", phone=f"+35845100{n:04d}")) as response:
                assert response.status == 201, await response.text()
        await asyncio.gather(*(post(n) for n in range(MORE)))
    await _arrivals(sink, 4 + MORE)

    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(f"{base}/admin#webhooks")
    await page.get_by_test_id("login-user").fill(admin.login)
    await page.get_by_test_id("login-password").fill(PASSWORD)
    await page.get_by_test_id("login-submit").click()

    await expect(page.get_by_test_id("tab-webhooks")).to_have_text("Webhookit")
    rows = page.get_by_test_id("webhooks-row")
    await expect(rows).to_have_count(PAGE)
    await expect(page.get_by_test_id("webhooks-count")).to_have_text(f"{PAGE} lähetystä näkyvissä")
    seqs = [int(s) for s in await rows.evaluate_all("rows => rows.map(r => r.dataset.seq)")]
    assert seqs == sorted(seqs, reverse=True)  # newest first
    await page.get_by_test_id("webhooks-more").click()
    await expect(rows).to_have_count(4 + MORE)
    await expect(page.get_by_test_id("webhooks-more")).to_be_hidden()
    await expect(page.get_by_test_id("webhooks-count")).to_have_text(
        f"{4 + MORE} lähetystä näkyvissä")

    # The oldest two: given up after a refusal, and failing with its next attempt due.
    refused, failing = rows.nth(4 + MORE - 1), rows.nth(4 + MORE - 2)
    await expect(refused).to_have_attribute("data-state", "given_up")
    await expect(refused.get_by_test_id("webhooks-last")).to_have_text("Luovuttuhttp 400")
    await expect(refused.get_by_test_id("webhooks-done")).to_contain_text("luovuttu ")
    await expect(refused.get_by_test_id("webhooks-next")).to_have_text("–")
    await expect(failing).to_have_attribute("data-state", "failing")
    await expect(failing.get_by_test_id("webhooks-last")).to_have_text(
        "Epäonnistuu, yritetään uudelleenhttp 500")
    await expect(failing.get_by_test_id("webhooks-next").locator("time")).to_have_count(1)
    await expect(failing.get_by_test_id("webhooks-done")).to_have_text("–")
    await expect(failing).to_contain_text("tilausjarjestelma")
    await expect(failing).to_contain_text("Uusi pyyntö")

    # Only the failing ones; then only orders, which name the request's reference.
    await page.get_by_test_id("webhooks-state").select_option("failing")
    await page.get_by_test_id("webhooks-search").click()
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_have_attribute("data-state", "failing")
    await expect(page.get_by_test_id("webhooks-count")).to_have_text("1 lähetys näkyvissä")
    await page.get_by_test_id("webhooks-state").select_option("")
    await page.get_by_test_id("webhooks-event").select_option("order.ready")
    await page.get_by_test_id("webhooks-search").click()
    await expect(rows).to_have_count(1)
    ordered = rows.first
    await expect(ordered).to_contain_text("Tilaus")
    await expect(ordered).to_have_attribute("data-state", "delivered")
    await expect(ordered.get_by_test_id("webhooks-attempts")).to_have_text("1")
    await expect(ordered.get_by_test_id("webhooks-done").locator("time")).to_have_count(1)
    reference = sink.arrivals[3].event["request"]["reference"]
    assert sink.arrivals[3].event["type"] == "order.ready"
    await expect(ordered).to_contain_text(reference)
    await page.get_by_test_id("webhooks-state").select_option("given_up")
    await page.get_by_test_id("webhooks-search").click()
    await expect(page.get_by_test_id("webhooks-body")).to_have_text(
        "Ei lähetyksiä näillä ehdoilla.")
    await expect(page.get_by_test_id("webhooks-more")).to_be_hidden()

    # In English, every word of it.
    await page.get_by_test_id("lang-en").click()
    await expect(page.get_by_test_id("tab-webhooks")).to_have_text("Webhooks")
    await expect(page.get_by_test_id("webhooks-table")).to_contain_text("Next attempt")
    await expect(page.get_by_test_id("webhooks-body")).to_have_text(
        "No deliveries with these filters.")
    await expect(page.get_by_test_id("webhooks-state").locator("option:checked")).to_have_text(
        "Given up")
    await page.get_by_test_id("webhooks-state").select_option("")
    await page.get_by_test_id("webhooks-event").select_option("")
    await page.get_by_test_id("webhooks-search").click()
    await expect(rows).to_have_count(PAGE)
    await expect(rows.last).to_contain_text("Request created")
    assert errors == []
