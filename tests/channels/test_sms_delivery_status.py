"""Delivery reports from Twilio and Vonage, folded into one state that only moves forward."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from urllib.parse import parse_qsl

import pytest

from channels.sms.delivery import STATE_RANK, DeliveryState, DeliveryUpdate, supersedes
from channels.sms.twilio_status import parse_status as parse_twilio
from channels.sms.vonage_status import parse_status as parse_vonage
from hub.errors import BadInput

# Status callbacks as Twilio posted them, captured by integrators: a plain delivered SMS,
# and one sent through a Messaging Service with the carrier's RawDlrDoneDate (CleverTap's
# docs, ids redacted there).
TWILIO_DELIVERED = dict(parse_qsl(
    "SmsSid=SM1fc5c260adf048999bce1a51c6a3565f&SmsStatus=delivered&MessageStatus=delivered"
    "&To=%2B8613314517617&MessageSid=SM1fc5c260adf048999bce1a51c6a3565f"
    "&AccountSid=ACa499142e597071b0adafb93e75851302&From=%2B14158779310&ApiVersion=2010-04-01"))
TWILIO_SERVICE_DELIVERED = {
    "RawDlrDoneDate": "2308102223", "SmsSid": "SMXXXXXXXXXXXXX", "SmsStatus": "delivered",
    "MessageStatus": "delivered", "To": "00000000000", "MessagingServiceSid": "MGXXXXXXXXXXXX",
    "MessageSid": "SMXXXXXXXXXXXX", "AccountSid": "AC0000000000", "From": "0000000000",
    "ApiVersion": "2010-04-01",
}
TWILIO_UNDELIVERED = {**TWILIO_DELIVERED, "SmsStatus": "undelivered",
                      "MessageStatus": "undelivered", "ErrorCode": "30003"}
TWILIO_FAILED = {"MessageSid": "SM1234567890abcdef", "MessageStatus": "failed",
                 "To": "+1234567890", "From": "+19876543210", "ErrorCode": "30008",
                 "ErrorMessage": "Unknown destination handset"}

SID = "SM1fc5c260adf048999bce1a51c6a3565f"


@pytest.mark.parametrize(("form", "expected"), [
    (TWILIO_DELIVERED, DeliveryUpdate(SID, DeliveryState.DELIVERED)),
    (TWILIO_SERVICE_DELIVERED, DeliveryUpdate("SMXXXXXXXXXXXX", DeliveryState.DELIVERED)),
    (TWILIO_UNDELIVERED, DeliveryUpdate(SID, DeliveryState.FAILED, "undelivered, error 30003")),
    (TWILIO_FAILED, DeliveryUpdate("SM1234567890abcdef", DeliveryState.FAILED,
                                   "failed, error 30008: Unknown destination handset")),
])
def test_twilio_callbacks(form: dict[str, str], expected: DeliveryUpdate) -> None:
    assert parse_twilio(form) == expected


@pytest.mark.parametrize(("status", "state"), [
    ("queued", DeliveryState.QUEUED), ("accepted", DeliveryState.QUEUED),
    ("scheduled", DeliveryState.QUEUED), ("sending", DeliveryState.QUEUED),
    ("sent", DeliveryState.SENT), ("delivered", DeliveryState.DELIVERED),
    ("read", DeliveryState.DELIVERED), ("undelivered", DeliveryState.FAILED),
    ("failed", DeliveryState.FAILED), ("canceled", DeliveryState.FAILED),
])
def test_every_twilio_status_maps(status: str, state: DeliveryState) -> None:
    update = parse_twilio({**TWILIO_DELIVERED, "MessageStatus": status, "SmsStatus": status})
    assert update.state is state
    assert (update.reason is not None) == (state is DeliveryState.FAILED)
    assert update.at is None  # Twilio's callback carries no time with a zone


def test_twilio_deprecated_names_are_enough() -> None:
    update = parse_twilio({"SmsSid": SID, "SmsStatus": "sent"})
    assert update == DeliveryUpdate(SID, DeliveryState.SENT)


@pytest.mark.parametrize(("change", "field"), [
    ({"MessageSid": "", "SmsSid": ""}, "MessageSid"),
    ({"MessageSid": "SM" + "0" * 63}, "MessageSid"),
    ({"MessageStatus": "received", "SmsStatus": "received"}, "MessageStatus"),  # inbound
    ({"MessageStatus": "", "SmsStatus": ""}, "MessageStatus"),
    ({"MessageStatus": "Delivered"}, "MessageStatus"),
    ({"ErrorCode": "30003a"}, "ErrorCode"),
    ({"ErrorCode": "３０００３"}, "ErrorCode"),
])
def test_bad_twilio_callbacks_are_named(change: dict[str, str], field: str) -> None:
    with pytest.raises(BadInput) as caught:
        parse_twilio({**TWILIO_DELIVERED, **change})
    assert field in caught.value.field_errors


# Vonage's "typical DLR" (developer.vonage.com SMS delivery receipts guide) and the OpenAPI
# example (Nexmo/api-specification definitions/sms.yml, DeliveryReceipt), signed fields too.
VONAGE_TYPICAL = {
    "err-code": "0", "message-timestamp": "2018-10-25 12:10:29", "messageId": "0B00000127FDBC63",
    "msisdn": "447547232824", "network-code": "23410", "price": "0.03330000",
    "scts": "1810251310", "status": "delivered", "to": "Nexmo CLI",
}
VONAGE_SPEC = {
    "msisdn": "447700900000", "to": "AcmeInc", "network-code": "12345",
    "messageId": "0A0000001234567B", "price": "0.03330000", "status": "delivered",
    "scts": "2001011400", "err-code": "0", "api-key": "abcd1234",
    "message-timestamp": "2020-01-01 12:00:00", "timestamp": "1582650446",
    "nonce": "ec11dd3e-1e7f-4db5-9467-82b02cd223b9",
    "sig": "1A20E4E2069B609FDA6CECA9DE18D5CAFE99720DDB628BD6BE8B19942A336E1C",
}


@pytest.mark.parametrize(("params", "expected"), [
    (VONAGE_TYPICAL, DeliveryUpdate("0B00000127FDBC63", DeliveryState.DELIVERED, None,
                                     datetime(2018, 10, 25, 12, 10, 29, tzinfo=UTC))),
    (VONAGE_SPEC, DeliveryUpdate("0A0000001234567B", DeliveryState.DELIVERED, None,
                                 datetime(2020, 1, 1, 12, 0, tzinfo=UTC))),
    ({**VONAGE_TYPICAL, "status": "expired", "err-code": "2"},
     DeliveryUpdate("0B00000127FDBC63", DeliveryState.FAILED, "expired, err-code 2",
                    datetime(2018, 10, 25, 12, 10, 29, tzinfo=UTC))),
    ({"messageId": "3295d748-4e14-4681-af78-166dca3c5aab", "status": "rejected",
      "err-code": "6"},
     DeliveryUpdate("3295d748-4e14-4681-af78-166dca3c5aab", DeliveryState.FAILED,
                    "rejected, err-code 6")),
])
def test_vonage_receipts(params: dict[str, str], expected: DeliveryUpdate) -> None:
    assert parse_vonage(params) == expected


@pytest.mark.parametrize(("status", "state"), [
    ("delivered", DeliveryState.DELIVERED), ("accepted", DeliveryState.SENT),
    ("buffered", DeliveryState.SENT), ("unknown", DeliveryState.SENT),
    ("expired", DeliveryState.FAILED), ("failed", DeliveryState.FAILED),
    ("rejected", DeliveryState.FAILED),
])
def test_every_vonage_status_maps(status: str, state: DeliveryState) -> None:
    update = parse_vonage({**VONAGE_TYPICAL, "status": status, "err-code": "1"})
    assert update.state is state
    if state is DeliveryState.FAILED or status == "unknown":
        assert update.reason == f"{status}, err-code 1"
    else:
        assert update.reason is None


@pytest.mark.parametrize(("change", "field"), [
    ({"messageId": ""}, "messageId"),
    ({"status": "DELIVRD"}, "status"),
    ({"status": ""}, "status"),
    ({"err-code": "x"}, "err-code"),
    ({"message-timestamp": "1810251310"}, "message-timestamp"),
])
def test_bad_vonage_receipts_are_named(change: dict[str, str], field: str) -> None:
    with pytest.raises(BadInput) as caught:
        parse_vonage({**VONAGE_TYPICAL, **change})
    assert field in caught.value.field_errors


def test_rank_orders_the_states() -> None:
    assert sorted(DeliveryState, key=STATE_RANK.__getitem__) == [
        DeliveryState.QUEUED, DeliveryState.SENT, DeliveryState.FAILED,
        DeliveryState.DELIVERED]


@pytest.mark.parametrize(("new", "current", "expected"), [
    (DeliveryState.SENT, None, True),
    (DeliveryState.SENT, DeliveryState.QUEUED, True),
    (DeliveryState.SENT, DeliveryState.DELIVERED, False),  # late 'sent'
    (DeliveryState.QUEUED, DeliveryState.SENT, False),
    (DeliveryState.FAILED, DeliveryState.DELIVERED, False),  # stale failure
    (DeliveryState.DELIVERED, DeliveryState.FAILED, True),
    (DeliveryState.DELIVERED, DeliveryState.DELIVERED, False),  # a retried report
])
def test_supersedes(new: DeliveryState, current: DeliveryState | None, expected: bool) -> None:
    assert supersedes(new, current) is expected


@pytest.mark.parametrize("order", list(itertools.permutations(["queued", "sending", "sent",
                                                               "delivered"])))
def test_callbacks_in_any_order_end_delivered(order: tuple[str, ...]) -> None:
    state: DeliveryState | None = None
    for status in order:
        new = parse_twilio({"MessageSid": SID, "MessageStatus": status}).state
        if supersedes(new, state):
            state = new
    assert state is DeliveryState.DELIVERED
