"""MailboxClient against a real Dovecot: mail is delivered with IMAP APPEND on a connection
of its own, then read, marked and moved the way the email poller does it."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import ssl
import time
from typing import Any

import pytest

from channels.email.imap_client import ImapAccount, MailboxClient, imap_utf7, mask_user
from hub.errors import OperatorMustAct, RetryLater
from tests.dovecot import Dovecot, MailUser, free_port

PLAIN = (
    b"From: Aino Virtanen <aino@example.fi>\r\n"
    b"To: tilaukset@taksi.example\r\n"
    b"Subject: Taxi to the airport\r\n"
    b"Message-ID: <plain-1@example.fi>\r\n"
    b"Date: Sat, 28 Nov 2026 06:10:00 +0200\r\n"
    b"\r\n"
    b"Please send a car to Mannerheimintie 1 at 7:30.\r\n"
)
FINNISH_8BIT = (
    "From: Matti Meikäläinen <matti@example.fi>\r\n"
    "To: tilaukset@taksi.example\r\n"
    "Subject: Taksi Hämeentielle huomenna\r\n"
    "Message-ID: <fi-8bit-1@example.fi>\r\n"
    "Date: Sat, 28 Nov 2026 06:11:00 +0200\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: 8bit\r\n"
    "\r\n"
    "Hyvää huomenta! Tarvitsen taksin osoitteeseen Hämeentie 5 klo 7.30.\r\n"
    "Mukana on pyörätuoli. Hinta-arvio 25 €? Kiitos, Åsa & Öhman\r\n"
).encode()
# Lines that look like IMAP protocol to a careless parser of the literal.
PROTOCOL_LOOKALIKE = (
    b"From: Lea <lea@example.fi>\r\n"
    b"Subject: {5}\r\n"
    b"Message-ID: <lookalike-1@example.fi>\r\n"
    b"\r\n"
    b"* 1 EXISTS\r\n"
    b"A001 OK done\r\n"
    b"{12}\r\n"
    b")\r\n"
)

WAIT_S = 5.0  # the longest an announcement may take to arrive


def account_for(user: MailUser, **changes: Any) -> ImapAccount:
    fields: dict[str, Any] = {"host": user.host, "port": user.port, "user": user.user,
                              "password": user.password, "security": "none", "timeout_s": WAIT_S}
    return ImapAccount(**(fields | changes))


async def test_reads_the_exact_bytes_of_each_new_message(dovecot: MailUser) -> None:
    mails = [PLAIN, FINNISH_8BIT, PROTOCOL_LOOKALIKE]
    uids = [await dovecot.append(raw) for raw in mails]
    async with MailboxClient(account_for(dovecot)) as client:
        await client.select()
        assert await client.uids_after(0) == uids
        assert [await client.fetch(uid) for uid in uids] == mails
        assert client.fetched == 3
    # BODY.PEEK: reading is not taking.
    assert [await dovecot.flags_of(uid) for uid in uids] == [frozenset()] * 3


async def test_nothing_after_the_highest_uid(dovecot: MailUser) -> None:
    first, second, third = [await dovecot.append(PLAIN) for _ in range(3)]
    async with MailboxClient(account_for(dovecot)) as client:
        await client.select()
        assert await client.uids_after(first) == [second, third]
        # The server answers `UID n:*` with the highest UID even when it is below n.
        assert await client.uids_after(third) == []
        assert await client.uids_after(third + 100) == []
        assert client.highest_uid == third + 100


async def test_an_empty_mailbox(dovecot: MailUser) -> None:
    async with MailboxClient(account_for(dovecot)) as client:
        await client.select()
        assert await client.uids_after(0) == []
        assert await client.fetch(1) is None


async def test_a_vanished_message_fetches_as_none(dovecot: MailUser) -> None:
    uid = await dovecot.append(PLAIN)
    async with MailboxClient(account_for(dovecot, move_to="Done")) as client:
        await client.select()
        await client.mark_taken(uid)
        assert await client.fetch(uid) is None
        assert await client.fetch(uid + 1) is None
        await client.mark_taken(uid)  # taking a vanished message again is harmless


async def test_taken_mail_is_seen_and_stays(dovecot: MailUser) -> None:
    kept, taken = await dovecot.append(PLAIN), await dovecot.append(FINNISH_8BIT)
    async with MailboxClient(account_for(dovecot)) as client:
        await client.select()
        await client.mark_taken(taken)
        assert client.taken == 1
    assert await dovecot.flags_of(taken) == {r"\Seen"}
    assert await dovecot.flags_of(kept) == frozenset()
    assert await dovecot.list_uids() == [kept, taken]
    assert await dovecot.list_uids(criteria="UNSEEN") == [kept]


@pytest.mark.parametrize("server_moves", [True, False], ids=["MOVE", "COPY+EXPUNGE"])
async def test_taken_mail_moves_into_a_new_mailbox(dovecot: MailUser,
                                                   server_moves: bool) -> None:
    stays, goes = await dovecot.append(PLAIN), await dovecot.append(FINNISH_8BIT)
    async with MailboxClient(account_for(dovecot, move_to="Käsitelty")) as client:
        await client.select()
        if not server_moves:
            client._caps -= {"MOVE"}
        await client.mark_taken(goes)
        assert await client.uids_after(0) == [stays]
    assert await dovecot.list_uids() == [stays]
    [moved] = await dovecot.list_uids("K&AOQ-sitelty")
    assert await dovecot.flags_of(moved, "K&AOQ-sitelty") == {r"\Seen"}
    done = account_for(dovecot, mailbox="Käsitelty")
    async with MailboxClient(done) as client:
        await client.select()
        assert await client.fetch(moved) == FINNISH_8BIT


async def test_moving_into_an_existing_mailbox(dovecot: MailUser) -> None:
    await dovecot.append(PLAIN, mailbox="Done")
    uids = [await dovecot.append(raw) for raw in (PLAIN, FINNISH_8BIT)]
    async with MailboxClient(account_for(dovecot, move_to="Done")) as client:
        await client.select()
        for uid in uids:
            await client.mark_taken(uid)
    assert await dovecot.list_uids() == []
    assert len(await dovecot.list_uids("Done", criteria="SEEN")) == 2


async def test_uidvalidity_is_stable_across_reconnects(dovecot: MailUser) -> None:
    uid = await dovecot.append(PLAIN)
    client = MailboxClient(account_for(dovecot))
    try:
        await client.connect()
        validity = await client.select()
        await client.connect()  # a reconnect closes the old connection first
        assert await client.select() == validity
        assert client.connects == 2
        assert await client.uids_after(0) == [uid]
    finally:
        await client.close()
    async with MailboxClient(account_for(dovecot)) as other:
        assert await other.select() == validity


async def test_idle_wakes_up_when_mail_arrives(dovecot: MailUser) -> None:
    async with MailboxClient(account_for(dovecot)) as client:
        await client.select()
        assert client.supports_idle
        assert await client.uids_after(0) == []

        async def deliver() -> int:
            await asyncio.sleep(0.3)  # by then the client is idling
            return await dovecot.append(PLAIN)

        started = time.monotonic()
        delivery = asyncio.create_task(deliver())
        assert await client.wait_for_news(30) is True
        assert time.monotonic() - started < WAIT_S
        assert await client.uids_after(0) == [await delivery]


async def test_idle_times_out_when_nothing_arrives(dovecot: MailUser) -> None:
    uid = await dovecot.append(PLAIN)
    async with MailboxClient(account_for(dovecot)) as client:
        await client.select()
        assert await client.uids_after(0) == [uid]
        started = time.monotonic()
        assert await client.wait_for_news(0.5) is False
        assert 0.5 <= time.monotonic() - started < WAIT_S
        # The connection is still good after DONE.
        assert await client.fetch(uid) == PLAIN
        assert await client.wait_for_news(0.2) is False


async def test_mail_that_came_before_idle_is_news(dovecot: MailUser) -> None:
    async with MailboxClient(account_for(dovecot)) as client:
        await client.select()
        assert await client.uids_after(0) == []
        await dovecot.append(PLAIN)
        assert await asyncio.wait_for(client.wait_for_news(30), 1) is True


async def test_a_hang_up_during_idle_is_retry_later(dovecot: MailUser,
                                                   dovecot_server: Dovecot) -> None:
    async with MailboxClient(account_for(dovecot, timeout_s=30)) as client:
        await client.select()
        waiting = asyncio.create_task(client.wait_for_news(30))
        await asyncio.sleep(0.3)
        await asyncio.to_thread(dovecot_server.kick, dovecot.user)
        with pytest.raises(RetryLater, match="closed the connection"):
            await asyncio.wait_for(waiting, WAIT_S)
        with pytest.raises(RetryLater, match="not open"):
            await client.uids_after(0)
        await client.connect()
        await client.select()
        assert await client.uids_after(0) == []


async def test_wrong_password_is_for_the_operator(dovecot: MailUser) -> None:
    account = dataclasses.replace(account_for(dovecot), password="not-the-password")
    client = MailboxClient(account)
    with pytest.raises(OperatorMustAct, match="AUTHENTICATIONFAILED") as caught:
        await client.connect()
    assert "not-the-password" not in str(caught.value)
    assert dovecot.user not in str(caught.value)
    await client.close()


async def test_unknown_mailbox_is_for_the_operator(dovecot: MailUser) -> None:
    async with MailboxClient(account_for(dovecot, mailbox="Tilaukset")) as client:
        with pytest.raises(OperatorMustAct, match="Tilaukset"):
            await client.select()


async def test_closed_port_is_retry_later(dovecot: MailUser) -> None:
    account = dataclasses.replace(account_for(dovecot), port=free_port())
    with pytest.raises(RetryLater, match="connect"):
        await MailboxClient(account).connect()


def tls_user(dovecot: MailUser) -> tuple[MailUser, ssl.SSLContext]:
    if dovecot.tls_port is None or dovecot.cafile is None:
        if os.environ.get("CI"):
            pytest.fail("no openssl, so the test Dovecot has no certificate; CI must have it")
        pytest.skip("no openssl, so the test Dovecot has no certificate")
    return dovecot, ssl.create_default_context(cafile=str(dovecot.cafile))


async def test_implicit_tls(dovecot: MailUser) -> None:
    user, context = tls_user(dovecot)
    assert user.tls_port is not None
    uid = await user.append(FINNISH_8BIT)
    account = account_for(user, security="ssl", port=user.tls_port)
    async with MailboxClient(account, ssl_context=context) as client:
        await client.select()
        assert await client.fetch(uid) == FINNISH_8BIT


async def test_starttls(dovecot: MailUser) -> None:
    user, context = tls_user(dovecot)
    uid = await user.append(PLAIN)
    async with MailboxClient(account_for(user, security="starttls"),
                             ssl_context=context) as client:
        await client.select()
        assert await client.fetch(uid) == PLAIN
        assert client.supports_idle


async def test_an_untrusted_certificate_is_for_the_operator(dovecot: MailUser) -> None:
    user, _ = tls_user(dovecot)
    for account in (account_for(user, security="starttls"),
                    account_for(user, security="ssl", port=user.tls_port)):
        with pytest.raises(OperatorMustAct, match="untrusted certificate"):
            await MailboxClient(account).connect()


async def test_repr_shows_counters_and_hides_the_login(dovecot: MailUser) -> None:
    uid = await dovecot.append(PLAIN)
    async with MailboxClient(account_for(dovecot)) as client:
        await client.select()
        await client.uids_after(0)
        await client.fetch(uid)
        text = repr(client)
    assert dovecot.password not in text and dovecot.user not in text
    assert mask_user(dovecot.user) in text
    assert "mailbox='INBOX'" in text and "fetched=1" in text and "highest_uid=1" in text
    assert dovecot.password not in repr(client.account)


async def test_logs_neither_the_password_nor_the_mail(dovecot: MailUser,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    uid = await dovecot.append(FINNISH_8BIT)
    async with MailboxClient(account_for(dovecot, move_to="Done")) as client:
        await client.select()
        assert await client.fetch(uid) == FINNISH_8BIT
        await client.mark_taken(uid)
    assert "IMAP connected" in caplog.text
    assert dovecot.password not in caplog.text
    assert "Mukana on" not in caplog.text and "fi-8bit-1" not in caplog.text


def test_mailbox_names_in_modified_utf7() -> None:
    assert imap_utf7("INBOX") == "INBOX"
    assert imap_utf7("Käsitelty") == "K&AOQ-sitelty"
    assert imap_utf7("Tom & Jerry") == "Tom &- Jerry"
    assert imap_utf7("~peter/mail/台北/日本語") == "~peter/mail/&U,BTFw-/&ZeVnLIqe-"


def test_an_unknown_security_mode_is_for_the_operator() -> None:
    with pytest.raises(OperatorMustAct, match="tls"):
        ImapAccount(host="imap.example.fi", port=993, user="u", password="p",
                    security="tls")  # type: ignore[arg-type]
