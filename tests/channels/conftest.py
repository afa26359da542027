"""Fixtures for channel tests that need a real mail server."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.dovecot import Dovecot, MailUser, find_dovecot


def require_dovecot() -> None:
    """IMAP tests run wherever Dovecot is; in CI its absence is a failure, not a skip."""
    if find_dovecot() is not None:
        return
    if os.environ.get("CI"):
        pytest.fail("dovecot not found; CI must install dovecot-imapd")
    pytest.skip("dovecot not found (apt-get install dovecot-imapd)")


@pytest.fixture(scope="session")
def dovecot_server() -> Iterator[Dovecot]:
    """One throwaway Dovecot for the whole session (TLS too when openssl is present)."""
    require_dovecot()
    with Dovecot() as server:
        yield server


@pytest.fixture
def dovecot(dovecot_server: Dovecot) -> MailUser:
    """A fresh login with empty mailboxes on the session's Dovecot, for one test."""
    return dovecot_server.add_user()
