"""The on-call group told of every kind of channel alert, raised and cleared, as its members
receive it, besides the alerts API, the admin console's websocket and /metrics: a real
Dovecot that starts refusing the IMAP login (the group told by email through the SMTP
relay, a local sink), a fake Asterisk that drops the AMI link and refuses the login (told
by SMS at a fake gateway), and SMS deliveries failing in a row (told by email). Each message
is in the staff catalogue's languages, Finnish first, and names the channel, never a
passenger. (The quiet window's messages: test_channel_alerts.py.)"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from dispatch.channel_alerts import ALERT_WATCH
from hub.catalogue import pages
from hub.model import Role
from hub.settings import (
    AmiSettings,
    ChannelsSettings,
    EmailSettings,
    ImapSettings,
    PhoneSettings,
    Secret,
    Settings,
    SmtpListenerSettings,
    SmtpRelaySettings,
)
from tests.conftest import DispatcherFactory, HubFactory, free_port
from tests.dovecot import Dovecot, MailUser
from tests.fake_ami import FakeAmi
from tests.gateways import FakeGenericGateway
from tests.helpers import Dispatcher, eventually
from tests.hub.test_channel_alerts import (
    FAST,
    ONCALL_PHONE,
    Client,
    _imap_error_has,
    _sent_to,
    connected,
    inbound_sms,
    own_dovecot,  # noqa: F401  (a fixture: pytest finds it by its name here)
    raised_and_cleared,
    set_password,
    sms_settings,
)
from tests.smtp_sink import SmtpSink

GROUP = "Päivystys"
ONCALL_EMAIL = "paivystys@taxi.example"
AMI_USER, AMI_SECRET = "taxiconnect", "ami-secret"
# What tests.hub.test_channel_alerts.inbound_sms brings in: the passenger.
PASSENGER_PHONE, PASSENGER_TEXT = "+358401112233", "Taksi Kamppiin"


async def _oncall_group(admin: Dispatcher, **member: str) -> str:
    """The on-call staff group's id, with one member reached as `member` says (phone,
    email or both)."""
    async with admin.http.post(f"{admin.base}/api/v1/admin/groups", json={"name": GROUP}) as resp:
        assert resp.status == 201, await resp.text()
        group = (await resp.json())["group"]
    async with admin.http.post(f"{admin.base}/api/v1/admin/groups/{group['id']}/members",
                               json={"name": "Päivystäjä", **member}) as resp:
        assert resp.status == 201, await resp.text()
    return str(group["id"])


def _says(body: str, kind: str, adapter: str, *, raised: bool) -> None:
    """The body is the catalogue's `oncall.<kind>_<raised|cleared>` in every staff language,
    Finnish first, one per line, the adapter filled in and the time left to any text."""
    key = f"oncall.{kind}_{'raised' if raised else 'cleared'}"
    lines = body.strip().splitlines()
    assert len(lines) == len(pages.LANGUAGES), body
    for line, language in zip(lines, pages.LANGUAGES, strict=True):
        entry = str(pages.entries(language)[key])
        pattern = re.escape(entry).replace(re.escape("{adapter}"), re.escape(adapter))
        pattern = pattern.replace(re.escape("{since}"), r"\d.+")
        assert re.fullmatch(pattern, line), (language, line, entry)


def _mails_to(sink: SmtpSink, count: int) -> list[tuple[str, str]] | None:
    """(subject, text) of the mails the sink took for the on-call address, once `count`."""
    found = []
    for delivered in sink.delivered:
        if ONCALL_EMAIL in delivered.rcpt_tos:
            mail = delivered.message
            part = mail.get_body(("plain",))
            assert part is not None
            found.append((str(mail["Subject"]), str(part.get_content())))
    return found if len(found) >= count else None


async def _mails(sink: SmtpSink, count: int) -> list[tuple[str, str]]:
    async def arrived() -> list[tuple[str, str]] | None:
        return _mails_to(sink, count)
    return await eventually(arrived, what=f"{count} on-call mail(s)")


@pytest.fixture
async def sink() -> AsyncIterator[SmtpSink]:
    async with SmtpSink() as found:
        yield found


# ---- IMAP: a real Dovecot refusing the login, the group told by email ------------------------


async def test_imap_login_refused_tells_the_on_call_group_by_email_raised_and_cleared(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings,
    own_dovecot: Dovecot, sink: SmtpSink  # noqa: F811
) -> None:
    mail: MailUser = own_dovecot.add_user()
    client = await hub(dataclasses.replace(
        settings, channels=ChannelsSettings(enabled=("webform", "email")),
        # Longer than the poller's first retry: a dropped session alone raises nothing.
        alerts=dataclasses.replace(FAST, link_down_s=1.5, oncall_group=GROUP),
        email=EmailSettings(
            address="tilaukset@taxi.example", reply_token_secret=Secret("alerts-secret"),
            relay=SmtpRelaySettings(host="127.0.0.1", port=sink.port, security="none"),
            imap=ImapSettings(host=mail.host, port=mail.port, security="none", user=mail.user,
                              password=Secret(mail.password), poll_s=0.3))))
    admin = await dispatcher(client, role=Role.ADMIN)
    await _oncall_group(admin, email=ONCALL_EMAIL)
    console = await admin.console()
    await eventually(lambda: connected(client), what="the IMAP poller connected")

    set_password(own_dovecot, mail.password, "changed-by-the-provider")
    own_dovecot.kick(mail.user)
    await raised_and_cleared(client, admin, console, "email", "down", raised=True)
    # Refused, not just dropped: the kick's error comes first, the refused login next.
    await eventually(lambda: _imap_error_has(admin, "LOGIN"), what="the refused login")
    [(subject, body)] = await _mails(sink, 1)
    _says(body, "down", "email", raised=True)
    assert subject.startswith("TaxiConnect-hälytys: email / TaxiConnect alert: email [#")

    set_password(own_dovecot, "changed-by-the-provider", mail.password)
    await raised_and_cleared(client, admin, console, "email", "down", raised=False)
    [_, (subject, body)] = await _mails(sink, 2)
    _says(body, "down", "email", raised=False)
    assert subject.startswith("TaxiConnect: email toimii taas / TaxiConnect: email is back")
    assert all(mail.password not in text for text in (subject, body))
    await client.close()  # before Dovecot stops: it would wait on the poller's session


# ---- AMI: the link dropped and the login refused, the group told by SMS ----------------------


async def test_ami_link_down_tells_the_on_call_group_by_sms_raised_and_cleared(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    async with FakeGenericGateway() as gateway, FakeAmi(AMI_USER, AMI_SECRET) as ami:
        port = free_port()
        sms = sms_settings(settings, gateway, port, dataclasses.replace(
            FAST, link_down_s=1.0, oncall_group=GROUP))
        client = await hub(dataclasses.replace(
            sms, channels=ChannelsSettings(enabled=("webform", "generic_sms", "asterisk_ami")),
            phone=PhoneSettings(ami=AmiSettings(host="127.0.0.1", port=ami.port,
                                                user=AMI_USER, secret=Secret(AMI_SECRET)))),
            port=port)
        admin = await dispatcher(client, role=Role.ADMIN)
        await _oncall_group(admin, phone=ONCALL_PHONE)
        console = await admin.console()
        await ami.wait_for_logins(1)

        ami.secret = "rotated-on-the-pbx"  # every login from now on is refused
        await ami.drop()
        await raised_and_cleared(client, admin, console, "asterisk_ami", "down", raised=True)
        [told] = await eventually(lambda: _sent_to(gateway, ONCALL_PHONE, 1),
                                  what="the on-call SMS of the AMI alert")
        _says(told, "down", "asterisk_ami", raised=True)

        ami.secret = AMI_SECRET
        await raised_and_cleared(client, admin, console, "asterisk_ami", "down", raised=False)
        told_both = await eventually(lambda: _sent_to(gateway, ONCALL_PHONE, 2),
                                     what="the on-call SMS of the AMI's recovery")
        _says(told_both[1], "down", "asterisk_ami", raised=False)
        await _told_once(client, lambda: _sent_to(gateway, ONCALL_PHONE, 3))


async def _told_once(client: Client, more: Any) -> None:
    """A few more looks of the watcher tell nobody again."""
    looks = client.app[ALERT_WATCH].looks
    async def looked_again() -> bool | None:
        return True if client.app[ALERT_WATCH].looks >= looks + 3 else None
    await eventually(looked_again, what="three more looks of the watcher")
    await asyncio.sleep(0.3)  # a message queued by a look reaches the fake within this
    assert await more() is None


# ---- deliveries failing in a row, the group told by email, no passenger in it ----------------


async def test_deliveries_failing_tell_the_on_call_group_without_the_passenger(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings, sink: SmtpSink
) -> None:
    async with FakeGenericGateway() as gateway:
        port = free_port()
        sms = sms_settings(settings, gateway, port, dataclasses.replace(
            FAST, failed_in_row=2, oncall_group=GROUP))
        client = await hub(dataclasses.replace(
            sms, channels=ChannelsSettings(enabled=("webform", "generic_sms", "email")),
            email=EmailSettings(
                address="tilaukset@taxi.example", reply_token_secret=Secret("alerts-secret"),
                smtp=SmtpListenerSettings(port=0, domains=("taxi.example",)),
                relay=SmtpRelaySettings(host="127.0.0.1", port=sink.port, security="none"))),
            port=port)
        admin = await dispatcher(client, role=Role.ADMIN)
        # Reachable both ways: the news of the SMS gateway failing goes by email only.
        group_id = await _oncall_group(admin, email=ONCALL_EMAIL, phone=ONCALL_PHONE)
        console = await admin.console()
        await inbound_sms(admin, "gw-oncall-fail-1")
        [request] = await eventually(admin.open_requests, what="the SMS request")

        refusal = (400, {"error": f"number {PASSENGER_PHONE} blocked at the operator"})
        gateway.script = [refusal, refusal]
        replies = ["Auto tulossa Kamppiin", "Auto tulossa 5 min", "Auto on perillä"]
        assert (await admin.reply(request["id"], replies[0], "k-1"))[0] == 201
        await admin.wait_for_reply(request["id"], "failed", replies[0])
        assert (await admin.reply(request["id"], replies[1], "k-2"))[0] == 201
        await raised_and_cleared(client, admin, console, "generic_sms", "failing", raised=True)
        [(subject, body)] = await _mails(sink, 1)
        _says(body, "failing", "generic_sms", raised=True)
        assert subject.startswith("TaxiConnect-hälytys: generic_sms / TaxiConnect alert: ")
        async with admin.http.get(f"{admin.base}/api/v1/groups/{group_id}/messages") as resp:
            assert resp.status == 200, await resp.text()
            [told_raised] = (await resp.json())["messages"]
        assert told_raised["channels"] == ["email"], told_raised

        assert (await admin.reply(request["id"], replies[2], "k-3"))[0] == 201
        await raised_and_cleared(client, admin, console, "generic_sms", "failing",
                                 raised=False)
        told = await _mails(sink, 2)
        _says(told[1][1], "failing", "generic_sms", raised=False)
        words = " ".join(f"{s}\n{b}" for s, b in told)
        for personal in (PASSENGER_PHONE, PASSENGER_PHONE[1:], PASSENGER_TEXT, *replies,
                         "blocked at the operator"):
            assert personal not in words
