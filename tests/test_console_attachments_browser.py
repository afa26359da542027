"""Mailed files in the console, in a real browser: a passenger mails a photo of the pickup
spot and a receipt (a real SMTP session); the dispatcher opening the request sees the photo
as a thumbnail the browser decoded, which opens full size, and the receipt as a download
link, each with its name, type and size; the passenger's next mail brings its files into
the open request as it arrives, and the passenger's whole history shows every mail's files
the same way (issue 15: attachments)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from hub.model import Agent
from hub.settings import Settings
from tests.accessibility import assert_accessible
from tests.conftest import HubFactory, server_url
from tests.dispatch.test_attachments import PDF, PNG, email_settings, photo_mail, send_mail
from tests.helpers import eventually
from tests.test_console_browser import queue_row, sign_in

RECEIPT = PDF + b"%" + b"0" * (12_345 - len(PDF) - 1)  # 12 kB


@pytest.fixture
def page(laptop_page: Page) -> Page:
    return laptop_page


async def test_the_photo_is_a_thumbnail_and_the_pdf_a_download(
    hub: HubFactory, make_agent: Callable[..., Awaitable[Agent]], settings: Settings,
    page: Page
) -> None:
    client = await hub(email_settings(settings))
    base = server_url(client)
    await make_agent(client, login="aino.v", name="Aino Välittäjä")
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await send_mail(client, photo_mail("Noutopaikka", receipt=RECEIPT,
                                       receipt_name="kuitti.pdf"))

    await sign_in(page, base, "aino.v")
    rows = page.get_by_test_id("queue-row")
    await expect(rows).to_have_count(1)
    reference = await rows.first.get_attribute("data-reference")
    await queue_row(page, str(reference)).click()

    chips = page.get_by_test_id("attachment")
    await expect(chips).to_have_count(2)
    await expect(chips.nth(0)).to_contain_text("nouto.png")
    await expect(chips.nth(0)).to_contain_text(f"image/png · {len(PNG)} t")
    await expect(chips.nth(1)).to_contain_text("kuitti.pdf")
    await expect(chips.nth(1)).to_contain_text("application/pdf · 12 kt")

    thumb = page.get_by_test_id("attachment-thumb")
    await expect(thumb).to_have_attribute("alt", "nouto.png")
    await expect(thumb).to_have_attribute("loading", "lazy")

    async def decoded() -> int | None:
        width = await thumb.evaluate("(img) => img.complete ? img.naturalWidth : 0")
        return int(width) or None
    assert await eventually(decoded, what="the thumbnail decoded") == 3

    opener = page.get_by_test_id("attachment-open")
    full = await opener.get_attribute("href")
    assert full == await thumb.get_attribute("src")
    await expect(opener).to_have_attribute("target", "_blank")

    download = page.get_by_test_id("attachment-download")
    await expect(download).to_have_attribute("download", "kuitti.pdf")
    async with page.expect_download() as waiting:
        await download.click()
    saved = await waiting.value
    assert saved.suggested_filename == "kuitti.pdf"
    assert await asyncio.to_thread(Path(await saved.path()).read_bytes) == RECEIPT

    await page.get_by_test_id("lang-en").click()
    await expect(chips.nth(0)).to_contain_text(f"image/png · {len(PNG)} B")
    await expect(chips.nth(1)).to_contain_text("application/pdf · 12 kB")

    # The passenger's next mail, while the request is open: its files appear with it.
    await send_mail(client, photo_mail("Vielä yksi", receipt=PDF + b"%" + b"1" * 1_200_000,
                                       receipt_name="iso.pdf"))
    await expect(chips).to_have_count(4)
    await expect(chips.nth(3)).to_contain_text("application/pdf · 1.2 MB")

    # The passenger's whole history shows each mail's files the same way, newest mail first.
    await page.get_by_test_id("passenger-whole-history").click()
    history = page.get_by_test_id("passenger-timeline")
    await expect(history.get_by_test_id("passenger-timeline-item")).to_have_count(2)
    files = history.get_by_test_id("attachment")
    await expect(files).to_have_count(4)
    await expect(files.nth(1)).to_contain_text("application/pdf · 1.2 MB")
    receipt = files.filter(has_text="kuitti.pdf")
    await expect(receipt).to_contain_text("application/pdf · 12 kB")
    await expect(history.get_by_test_id("attachment-thumb")).to_have_count(2)
    photo = history.get_by_test_id("attachment-thumb").last
    await expect(photo).to_have_attribute("alt", "nouto.png")

    async def photo_decoded() -> int | None:
        width = await photo.evaluate("(img) => img.complete ? img.naturalWidth : 0")
        return int(width) or None
    assert await eventually(photo_decoded, what="the timeline's thumbnail decoded") == 3
    async with page.expect_download() as waiting:
        await receipt.get_by_test_id("attachment-download").click()
    saved = await waiting.value
    assert saved.suggested_filename == "kuitti.pdf"
    assert await asyncio.to_thread(Path(await saved.path()).read_bytes) == RECEIPT
    assert await page.locator('link[href="/static/console/attachments.css"]').count() == 1
    await assert_accessible(page, "the whole history with mailed files")
    assert not errors
