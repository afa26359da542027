"""The suite's log search (tests/log_scan.py) finds what it is for, and only that."""

from __future__ import annotations

import pytest

from tests.log_scan import Literals

# Nothing here touches the stores: the PostgreSQL pass would only repeat it.
pytestmark = pytest.mark.store_independent

SOURCE = '''
TWILIO_TOKEN = "twilio-log-scan-token"
await post(form, {"phone": "+358401234567", "email": "maija.meikalainen@example.fi"})
await sms(sender="040 765 4321", body="x")
payload = {"message": "Taksi Kamppiin heti", "body": "not found"}
'''
HUB_SOURCE = 'raise BadInput("not found")'


def literals() -> Literals:
    return Literals.harvest([SOURCE], [HUB_SOURCE])


def kinds(lines: list[str]) -> list[str]:
    return [leak.kind for leak in literals().leaks_in(lines, "test")]


def test_harvest_takes_numbers_emails_texts_and_secrets_from_the_sources() -> None:
    found = literals()
    assert found.number_tails == {"401234567", "407654321"}
    assert found.emails == {"maija.meikalainen@example.fi"}
    assert found.texts == {"Taksi Kamppiin heti"}
    assert found.secrets == {"twilio-log-scan-token"}


def test_a_number_is_found_in_any_form_and_a_masked_one_is_not() -> None:
    assert kinds(["sms from +358 40 123 4567 stored"]) == ["number"]
    assert kinds(["call from 0401234567 ended"]) == ["number"]
    assert kinds(["sms from +***67 stored", "batch of 401 contacts in 23 ms"]) == []


def test_emails_texts_and_secrets_are_found_unless_masked() -> None:
    assert kinds(["mail from Maija.Meikalainen@example.fi"]) == ["email"]
    assert kinds(["mail from ***@example.fi"]) == []
    assert kinds(['request with "Taksi Kamppiin heti" stored']) == ["text"]
    assert kinds(["signed with twilio-log-scan-token"]) == ["secret"]
    assert kinds(["404 not found"]) == []
