"""The generic gateway format: its signature, inbound SMS and delivery reports."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from channels.sms import generic_inbound
from channels.sms.delivery import DeliveryState, DeliveryUpdate
from channels.sms.generic_inbound import parse_inbound, parse_status, sign, verify
from hub.errors import BadInput

# The example the module docstring (and so the README) gives an integrator.
DOC_BODY = (b'{"message_id":"gw-000123","from":"+358401234567","to":"+358451234567",'
            b'"text":"Taksi Kamppiin"}')
DOC_SECRET = "whsec_example"
DOC_T = 1718007300
DOC_HEADER = "t=1718007300,v1=ffe111871f5f6a423bf77b3bd28defbcb6887d342f724812cc748c4e9fbcf0aa"
NOW = datetime(2024, 6, 10, 8, 20, tzinfo=UTC)


def _hmac(secret: str, t: int, body: bytes) -> str:
    """The scheme written out independently of the module: HMAC-SHA256 over "<t>." + body."""
    return hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()


def test_the_documented_example_holds() -> None:
    assert sign(DOC_BODY, DOC_SECRET, DOC_T) == DOC_HEADER
    assert sign(DOC_BODY, DOC_SECRET, DOC_T) == f"t={DOC_T},v1={_hmac(DOC_SECRET, DOC_T, DOC_BODY)}"
    assert verify(DOC_BODY, DOC_HEADER, [DOC_SECRET], now=DOC_T)
    doc = generic_inbound.__doc__ or ""
    assert DOC_BODY.decode() in doc
    assert DOC_HEADER in doc


@pytest.mark.parametrize("header", [
    DOC_HEADER,
    DOC_HEADER.upper().replace("T=", "t=").replace("V1=", "v1="),  # upper-case hex
    DOC_HEADER.replace(",", ", "),
    f"v1={_hmac(DOC_SECRET, DOC_T, DOC_BODY)},t={DOC_T}",  # any order
    f"t={DOC_T},v0=abc,v1={_hmac(DOC_SECRET, DOC_T, DOC_BODY)},x=1",  # unknown keys ignored
])
def test_accepted_headers(header: str) -> None:
    assert verify(DOC_BODY, header, [DOC_SECRET], now=DOC_T)


def test_secret_rotation_either_side() -> None:
    both = f"t={DOC_T},v1={_hmac('old', DOC_T, DOC_BODY)},v1={_hmac('new', DOC_T, DOC_BODY)}"
    assert verify(DOC_BODY, both, ["new"], now=DOC_T)
    assert verify(DOC_BODY, both, ["old"], now=DOC_T)
    assert verify(DOC_BODY, sign(DOC_BODY, "old", DOC_T), ["old", "new"], now=DOC_T)
    assert verify(DOC_BODY, sign(DOC_BODY, "new", DOC_T), ["", "new"], now=DOC_T)
    assert not verify(DOC_BODY, both, ["other"], now=DOC_T)


@pytest.mark.parametrize("skew", [-300, 300])
def test_the_edges_of_the_window_pass(skew: int) -> None:
    assert verify(DOC_BODY, DOC_HEADER, [DOC_SECRET], now=DOC_T + skew)


@pytest.mark.parametrize(("body", "header", "secrets", "now"), [
    (DOC_BODY, DOC_HEADER, [DOC_SECRET], DOC_T + 301),  # replayed later
    (DOC_BODY, DOC_HEADER, [DOC_SECRET], DOC_T - 301),  # from the future
    (DOC_BODY + b" ", DOC_HEADER, [DOC_SECRET], DOC_T),  # body altered
    (DOC_BODY, DOC_HEADER.replace("1718007300", "1718007301", 1), [DOC_SECRET], DOC_T),
    (DOC_BODY, DOC_HEADER, ["whsec_other"], DOC_T),
    (DOC_BODY, DOC_HEADER, [], DOC_T),
    (DOC_BODY, DOC_HEADER, [""], DOC_T),
    (DOC_BODY, DOC_HEADER.split(",")[1], [DOC_SECRET], DOC_T),  # no t
    (DOC_BODY, DOC_HEADER.split(",")[0], [DOC_SECRET], DOC_T),  # no v1
    (DOC_BODY, DOC_HEADER.replace("t=", "t=+"), [DOC_SECRET], DOC_T),
    (DOC_BODY, DOC_HEADER[:-1] + "é", [DOC_SECRET], DOC_T),  # not ASCII
    (DOC_BODY, "", [DOC_SECRET], DOC_T),
    (DOC_BODY, "garbage", [DOC_SECRET], DOC_T),
])
def test_refused(body: bytes, header: str, secrets: list[str], now: int) -> None:
    assert not verify(body, header, secrets, now=now)


INBOUND: dict[str, Any] = json.loads(DOC_BODY)


def test_inbound_without_received_at_is_received_now() -> None:
    inbound = parse_inbound(INBOUND, default_region="FI", now=NOW)
    assert inbound == generic_inbound.GenericInbound(
        message_id="gw-000123", phone="+358401234567", to="+358451234567",
        text="Taksi Kamppiin", received_at=NOW)


@pytest.mark.parametrize(("received_at", "expected"), [
    ("2024-06-10T08:15:00Z", datetime(2024, 6, 10, 8, 15, tzinfo=UTC)),
    ("2024-06-10T11:15:00+03:00", datetime(2024, 6, 10, 8, 15, tzinfo=UTC)),
    ("2024-06-10T08:15:00.250Z", datetime(2024, 6, 10, 8, 15, 0, 250_000, tzinfo=UTC)),
    ("2024-06-10t08:15:00z", datetime(2024, 6, 10, 8, 15, tzinfo=UTC)),
    ("2024-06-10T09:00:00Z", NOW),  # ahead of our clock
])
def test_received_at(received_at: str, expected: datetime) -> None:
    inbound = parse_inbound({**INBOUND, "received_at": received_at}, default_region="FI",
                            now=NOW)
    assert inbound.received_at == expected
    assert inbound.received_at.tzinfo is UTC


def test_a_national_number_is_read_in_the_default_region_and_extra_fields_ignored() -> None:
    inbound = parse_inbound({**INBOUND, "from": "040 123 4567", "operator": "x", "text": ""},
                            default_region="FI", now=NOW)
    assert (inbound.phone, inbound.text) == ("+358401234567", "")


@pytest.mark.parametrize(("change", "field"), [
    ({"message_id": None}, "message_id"),
    ({"message_id": ""}, "message_id"),
    ({"message_id": 123}, "message_id"),
    ({"message_id": "x" * 101}, "message_id"),
    ({"from": None}, "from"),
    ({"from": "taksi"}, "from"),
    ({"from": ["+358401234567"]}, "from"),
    ({"to": ""}, "to"),
    ({"text": None}, "text"),
    ({"text": "x" * 1601}, "text"),
    ({"text": "a\u0000b"}, "text"),
    ({"text": "\ud800"}, "text"),
    ({"received_at": "2024-06-10T08:15:00"}, "received_at"),  # no offset
    ({"received_at": "2024-06-10"}, "received_at"),
    ({"received_at": "yesterday"}, "received_at"),
    ({"received_at": 1718007300}, "received_at"),
])
def test_bad_inbound_fields_are_named(change: dict[str, Any], field: str) -> None:
    body = {k: v for k, v in {**INBOUND, **change}.items() if v is not None}
    with pytest.raises(BadInput) as caught:
        parse_inbound(body, default_region="FI", now=NOW)
    assert field in caught.value.field_errors


def test_a_body_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(BadInput, match="JSON object"):
        parse_inbound(["not", "an", "object"], default_region="FI", now=NOW)  # type: ignore[arg-type]
    with pytest.raises(BadInput, match="JSON object"):
        parse_status("delivered")  # type: ignore[arg-type]


@pytest.mark.parametrize(("report", "expected"), [
    ({"message_id": "9b2f6c1e", "status": "delivered"},
     DeliveryUpdate("9b2f6c1e", DeliveryState.DELIVERED)),
    ({"message_id": "gw-77", "status": "sent", "error": None},
     DeliveryUpdate("gw-77", DeliveryState.SENT)),
    ({"message_id": "9b2f6c1e", "status": "failed", "error": "absent subscriber"},
     DeliveryUpdate("9b2f6c1e", DeliveryState.FAILED, "absent subscriber")),
    ({"message_id": "9b2f6c1e", "status": "failed"},
     DeliveryUpdate("9b2f6c1e", DeliveryState.FAILED, "failed")),
    ({"message_id": "9b2f6c1e", "status": "failed", "error": ""},
     DeliveryUpdate("9b2f6c1e", DeliveryState.FAILED, "failed")),
])
def test_delivery_reports(report: dict[str, Any], expected: DeliveryUpdate) -> None:
    assert parse_status(report) == expected


@pytest.mark.parametrize(("report", "field"), [
    ({"status": "delivered"}, "message_id"),
    ({"message_id": "m1", "status": "DELIVERED"}, "status"),
    ({"message_id": "m1", "status": "queued"}, "status"),
    ({"message_id": "m1"}, "status"),
    ({"message_id": "m1", "status": "failed", "error": 30003}, "error"),
    ({"message_id": "m1", "status": "failed", "error": "x" * 201}, "error"),
])
def test_bad_reports_are_named(report: dict[str, Any], field: str) -> None:
    with pytest.raises(BadInput) as caught:
        parse_status(report)
    assert field in caught.value.field_errors
