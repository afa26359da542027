"""Attaching files to an email reply in the console, in a real browser: the dispatcher picks
two files with "Liitä tiedosto" (the limits shown beside it), removes one chip, sends; the
relay receives the mail with the file kept, and the sent reply shows it in the timeline
as a mailed-in file is shown (issue 15: attachments)."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable

import pytest
from playwright.async_api import Page, expect

from hub.model import Agent
from hub.settings import Settings, SmtpRelaySettings
from tests.conftest import HubFactory, server_url
from tests.dispatch.test_attachments import PDF, PNG, email_settings, photo_mail, send_mail
from tests.helpers import eventually
from tests.smtp_sink import SmtpSink
from tests.test_console_browser import queue_row, sign_in


@pytest.fixture
def page(laptop_page: Page) -> Page:
    return laptop_page


async def test_a_dispatcher_attaches_a_file_removes_another_and_sends(
    hub: HubFactory, make_agent: Callable[..., Awaitable[Agent]], settings: Settings,
    page: Page
) -> None:
    async with SmtpSink() as sink:
        mailing = email_settings(settings)
        client = await hub(dataclasses.replace(mailing, email=dataclasses.replace(
            mailing.email, relay=SmtpRelaySettings(host="127.0.0.1", port=sink.port,
                                                   security="none"))))
        base = server_url(client)
        await make_agent(client, login="aino.v", name="Aino Välittäjä")
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await send_mail(client, photo_mail("Kuitti"))

        await sign_in(page, base, "aino.v")
        rows = page.get_by_test_id("queue-row")
        await expect(rows).to_have_count(1)
        await queue_row(page, str(await rows.first.get_attribute("data-reference"))).click()

        attach = page.get_by_test_id("composer-attach")
        await expect(attach).to_have_text("Liitä tiedosto")
        await expect(page.locator("#composer-attach-limits")).to_contain_text(
            "Enintään 10 Mt / tiedosto: PDF, PNG, JPEG, GIF, WebP, TXT, Word, Excel, ODT")
        await page.get_by_test_id("composer-file").set_input_files([
            {"name": "kuitti äö.pdf", "mimeType": "application/pdf", "buffer": PDF},
            {"name": "kartta.png", "mimeType": "image/png", "buffer": PNG}])
        chips = page.get_by_test_id("composer-file-chip")
        await expect(chips).to_have_count(2)
        await page.get_by_role("button", name="Poista liite kartta.png").click()
        await expect(chips).to_have_count(1)
        await expect(chips.first).to_contain_text(f"kuitti äö.pdf {len(PDF)} t")

        await page.get_by_test_id("composer-text").fill("Kuitti liitteenä.")
        await page.get_by_test_id("composer-send").click()
        await expect(chips).to_have_count(0)

        async def mailed() -> bool | None:
            return bool(sink.delivered) or None
        await eventually(mailed, what="the reply at the relay")
        parts = list(sink.delivered[0].message.iter_attachments())
        assert [(p.get_filename(), p.get_content()) for p in parts] == [("kuitti äö.pdf", PDF)]

        sent = page.locator('[data-testid="timeline-message"][data-direction="outbound"]')
        await expect(sent.get_by_test_id("attachment")).to_contain_text("kuitti äö.pdf")
        assert errors == []
