"""Channel alerts seen by an admin in Chromium (Debian's, driven by Playwright).

A fake Asterisk drops the AMI link and refuses the login, and a real Dovecot starts refusing
the IMAP poller's login: past the window the admin's console shows a banner, in the
console's language, and the alert is on the API, the console's websocket and /metrics; once
the login works again the banner goes. A team console never shows it. An SMS channel quiet
past its window (the clock moved by configuration on a restarted hub) shows its banner until
a text arrives. (The on-call group's messages: test_channel_alerts.py.)"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from hub.channel_alerts import QuietWindow
from hub.model import Role
from hub.settings import (
    AmiSettings,
    ChannelsSettings,
    PhoneSettings,
    Secret,
    Settings,
)
from tests.conftest import PASSWORD, DispatcherFactory, HubFactory, free_port, server_url
from tests.dovecot import Dovecot, MailUser
from tests.fake_ami import FakeAmi
from tests.gateways import FakeGenericGateway
from tests.helpers import eventually
from tests.hub.test_channel_alerts import (
    FAST,
    connected,
    imap_settings,
    inbound_sms,
    looked,
    own_dovecot,  # noqa: F401  (a fixture: pytest finds it by its name here)
    raised_and_cleared,
    set_password,
    sms_settings,
)

AMI_USER, AMI_SECRET = "taxiconnect", "ami-secret"
ASKS_EVERY_MS = 5_000  # web/console/alerts.js ALERTS_EVERY_MS


@pytest.fixture
async def fake_ami() -> AsyncIterator[FakeAmi]:
    async with FakeAmi(AMI_USER, AMI_SECRET) as fake:
        yield fake


async def _console(browser: Browser, base: str, login: str) -> Page:
    context = await browser.new_context(locale="en-GB", timezone_id="Europe/Helsinki")
    page = await context.new_page()
    await page.clock.install()  # time runs, and the banner's next look can be brought on
    await page.goto(f"{base}/console")
    await page.get_by_test_id("login-user").fill(login)
    await page.get_by_test_id("login-password").fill(PASSWORD)
    await page.get_by_test_id("login-password").press("Enter")
    await expect(page.get_by_test_id("connection-state")).to_have_attribute(
        "data-state", "live")
    return page


async def test_ami_link_down_past_the_window_raises_and_reconnect_clears(
    hub: HubFactory, dispatcher: DispatcherFactory, make_agent: Any, settings: Settings,
    fake_ami: FakeAmi, browser: Browser
) -> None:
    client = await hub(dataclasses.replace(
        settings, channels=ChannelsSettings(enabled=("webform", "asterisk_ami")),
        alerts=dataclasses.replace(FAST, link_down_s=1.0),
        phone=PhoneSettings(ami=AmiSettings(host="127.0.0.1", port=fake_ami.port,
                                            user=AMI_USER, secret=Secret(AMI_SECRET)))))
    admin = await dispatcher(client, role=Role.ADMIN)
    console = await admin.console()
    page = await _console(browser, server_url(client), admin.agent.login)
    team = await make_agent(client)
    colleague = await _console(browser, server_url(client), team.login)
    await page.get_by_test_id("lang-en").click()
    await fake_ami.wait_for_logins(1)
    banner = page.get_by_test_id("channel-alert-asterisk_ami-down")

    fake_ami.secret = "rotated-on-the-pbx"  # every login from now on is refused
    dropped = time.monotonic()
    await fake_ami.drop()
    await raised_and_cleared(client, admin, console, "asterisk_ami", "down", raised=True)
    assert time.monotonic() - dropped >= 1.0  # not before the window
    await page.clock.fast_forward(ASKS_EVERY_MS)
    await expect(banner).to_contain_text("asterisk_ami: link down since")
    await page.get_by_test_id("lang-fi").click()
    await expect(banner).to_contain_text("asterisk_ami: yhteys poikki")

    fake_ami.secret = AMI_SECRET
    await raised_and_cleared(client, admin, console, "asterisk_ami", "down", raised=False)
    await page.clock.fast_forward(ASKS_EVERY_MS)
    await expect(page.get_by_test_id("channel-alerts")).to_be_hidden()
    await colleague.clock.fast_forward(ASKS_EVERY_MS)
    await expect(colleague.get_by_test_id("channel-alerts")).to_have_count(0)


async def test_imap_login_refused_shows_the_banner_until_the_login_works_again(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings,
    own_dovecot: Dovecot, browser: Browser  # noqa: F811
) -> None:
    mail: MailUser = own_dovecot.add_user()
    client = await hub(imap_settings(settings, mail))
    admin = await dispatcher(client, role=Role.ADMIN)
    console = await admin.console()
    page = await _console(browser, server_url(client), admin.agent.login)
    await page.get_by_test_id("lang-fi").click()
    await eventually(lambda: connected(client), what="the IMAP poller connected")
    banner = page.get_by_test_id("channel-alert-email-down")

    set_password(own_dovecot, mail.password, "changed-by-the-provider")
    own_dovecot.kick(mail.user)
    await raised_and_cleared(client, admin, console, "email", "down", raised=True)
    await page.clock.fast_forward(ASKS_EVERY_MS)
    await expect(banner).to_contain_text("email: yhteys poikki")
    await page.get_by_test_id("lang-en").click()
    await expect(banner).to_contain_text("email: link down since")

    set_password(own_dovecot, "changed-by-the-provider", mail.password)
    await raised_and_cleared(client, admin, console, "email", "down", raised=False)
    await page.clock.fast_forward(ASKS_EVERY_MS)
    await expect(page.get_by_test_id("channel-alerts")).to_be_hidden()
    await client.close()  # before Dovecot stops: it would wait on the poller's session


async def test_sms_quiet_past_its_window_shows_the_banner_until_a_text_arrives(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings, browser: Browser
) -> None:
    alerts = dataclasses.replace(
        FAST, quiet=(QuietWindow(adapter="generic_sms", after_min=30),))
    async with FakeGenericGateway() as gateway:
        port = free_port()
        first = await hub(sms_settings(settings, gateway, port, alerts), port=port)
        admin = await dispatcher(first, role=Role.ADMIN)
        await eventually(lambda: looked(first), what="the watcher's first look")
        await first.close()

        # The same hub 31 minutes on (its clock moved by configuration).
        port = free_port()
        client = await hub(sms_settings(settings, gateway, port, dataclasses.replace(
            alerts, clock_offset_s=31 * 60)), port=port)
        admin.base = server_url(client)
        console = await admin.console()
        page = await _console(browser, admin.base, admin.agent.login)
        await page.get_by_test_id("lang-fi").click()
        banner = page.get_by_test_id("channel-alert-generic_sms-quiet")
        await raised_and_cleared(client, admin, console, "generic_sms", "quiet", raised=True)
        await page.clock.fast_forward(ASKS_EVERY_MS)
        await expect(banner).to_contain_text("generic_sms: ei yhteydenottoja")

        await inbound_sms(admin, "gw-alert-browser-1")
        await raised_and_cleared(client, admin, console, "generic_sms", "quiet", raised=False)
        await page.clock.fast_forward(ASKS_EVERY_MS)
        await expect(page.get_by_test_id("channel-alerts")).to_be_hidden()
