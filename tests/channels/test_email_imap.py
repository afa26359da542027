"""The IMAP poller against a real Dovecot: each mail taken exactly once, across restarts."""

from __future__ import annotations

import asyncio
import dataclasses
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

from aiohttp.test_utils import TestClient

from hub.settings import (
    ChannelsSettings,
    EmailSettings,
    ImapSettings,
    Secret,
    Settings,
)
from tests.conftest import DispatcherFactory, HubFactory
from tests.dovecot import MailUser
from tests.helpers import Dispatcher, eventually

COMPANY = "tilaukset@taxi.example"


def _settings(settings: Settings, mail: MailUser, move_to: str = "") -> Settings:
    return dataclasses.replace(
        settings,
        channels=ChannelsSettings(enabled=("webform", "email")),
        email=EmailSettings(
            address=COMPANY, reply_token_secret=Secret("imap-test-secret"),
            imap=ImapSettings(host=mail.host, port=mail.port, security="none", user=mail.user,
                              password=Secret(mail.password), move_to=move_to, poll_s=0.3)),
    )


def _mail(n: int, *, charset: str = "utf-8") -> bytes:
    mail = EmailMessage()
    mail["From"] = f"Matkustaja {n} <matkustaja{n}@example.fi>"
    mail["To"] = COMPANY
    mail["Subject"] = f"Tilaus {n}"
    mail["Message-ID"] = make_msgid(domain="example.fi")
    mail.set_content(f"Taksi osoitteeseen Hämeentie {n}, kiitos.", charset=charset)
    return mail.as_bytes().replace(b"\n", b"\r\n")


async def _inbound_messages(agent: Dispatcher, count: int) -> list[dict[str, Any]]:
    async def probe() -> list[dict[str, Any]] | None:
        bodies = []
        for summary in await agent.open_requests():
            detail = await agent.request(summary["id"])
            bodies += [m for m in detail["messages"] if m["direction"] == "inbound"]
        return bodies if len(bodies) >= count else None
    return await eventually(probe, what=f"{count} mails taken in")


async def test_each_mail_is_taken_once_also_across_a_restart(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings, dovecot: MailUser
) -> None:
    first = [_mail(1), _mail(2, charset="iso-8859-1"), _mail(3)]
    uids = [await dovecot.append(raw) for raw in first]
    client: TestClient[Any, Any] = await hub(_settings(settings, dovecot))
    agent = await dispatcher(client)
    taken = await _inbound_messages(agent, 3)
    assert sorted(m["body"] for m in taken) == [
        f"Taksi osoitteeseen Hämeentie {n}, kiitos." for n in (1, 2, 3)]
    for uid in uids:
        assert "\\Seen" in await dovecot.flags_of(uid)
    await client.close()

    # While the hub is down: two new mails, and one of the first delivered again
    # (a forwarding rule firing twice).
    for raw in (_mail(4), _mail(5), first[0]):
        await dovecot.append(raw)
    restarted = await hub(_settings(settings, dovecot))
    agent = await dispatcher(restarted)
    taken = await _inbound_messages(agent, 5)
    await asyncio.sleep(1.0)  # a few more polls: nothing more may come in
    taken = await _inbound_messages(agent, 5)
    assert len(taken) == 5
    assert len(await dovecot.list_uids(criteria="UNSEEN")) == 0


async def test_taken_mail_is_moved_and_unreadable_mail_stays_for_a_person(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings, dovecot: MailUser
) -> None:
    await dovecot.append(b"From: \r\nSubject: nothing here\r\n\r\n")  # no sender, no text
    await dovecot.append(_mail(6))
    client = await hub(_settings(settings, dovecot, move_to="Käsitelty"))
    agent = await dispatcher(client)
    await _inbound_messages(agent, 1)

    async def moved() -> list[int] | None:
        found = await dovecot.list_uids(mailbox="K&AOQ-sitelty")
        return found or None
    assert len(await eventually(moved, what="the mail moved")) == 1
    left = await dovecot.list_uids()
    assert len(left) == 1  # the unreadable one, marked seen, left where it was
    assert "\\Seen" in await dovecot.flags_of(left[0])
