"""Vonage's signed requests and inbound SMS, pinned to the SDK's vectors and Vonage's payloads."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from channels.sms.concat import MISSING_PART, ConcatPart, assemble
from channels.sms.vonage_inbound import parse_inbound
from channels.sms.vonage_signature import is_valid, sign, signed_string
from hub.errors import BadInput, OperatorMustAct

# vonage-python-sdk 3.x tests/test_signature.py (DummyData.signature_secret = "secret")
SDK3_PARAMS = {"a": "1", "b": "2", "timestamp": "1461605396"}
SDK3_VECTORS = [
    ("md5hash", "6af838ef94998832dbfc29020b564830"),
    ("md5", "c15c21ced558c93a226c305f58f902f2"),
    ("sha1", "3e19a4e6880fdc2c1426bfd0587c98b9532f0210"),
    ("sha256", "a321e824b9b816be7c3f28859a31749a098713d39f613c80d455bbaffae1cd24"),
    ("sha512", "812a18f76680fa0fe1b8bd9ee1625466ceb1bd96242e4d050d2cfd9a7b40166c"
               "63ed26ec9702168781b6edcf1633db8ff95af9341701004eec3fcf9550572ee8"),
]
# vonage-python-sdk 4.x http_client/tests/test_auth.py (signature_secret = "signature_secret")
SDK4_VECTORS = [
    ({"param1": "value1", "param2": "value2", "timestamp": "1234567890"}, "sha256",
     "280c4320703dbc98bfa22db676655ed2acfbfe8792b062ff7622e67f1183c287"),
    ({"param1": "value1", "param2": "value2", "timestamp": "1234567890"}, "md5",
     "724c2bf6ca423c36e20631b11d1c5753"),
    ({"param1": "value&1", "param2": "value=2", "timestamp": "1234567890"}, "md5",
     "2bbf0abafb2c55e5af6231513896a2ac"),
    ({"param1": "value1", "param2": "value2", "timestamp": "12345"}, "md5",
     "bc7e95bb4e341090b3a202a2885903a5"),
    ({"param": "value", "timestamp": "1234567890"}, "md5",
     "655a4d0b7f064dff438defc52b012cf5"),
]

NOW = datetime(2024, 6, 10, 8, 20, tzinfo=UTC)


@pytest.mark.parametrize(("method", "expected"), SDK3_VECTORS)
def test_sdk3_vectors(method: str, expected: str) -> None:
    assert sign(SDK3_PARAMS, "secret", method) == expected
    signed = {**SDK3_PARAMS, "sig": expected}
    assert is_valid(signed, "secret", method, now=1461605396)
    assert sign(signed, "secret", method) == expected  # `sig` itself is never signed


@pytest.mark.parametrize(("params", "method", "expected"), SDK4_VECTORS)
def test_sdk4_vectors(params: dict[str, str], method: str, expected: str) -> None:
    assert sign(params, "signature_secret", method) == expected
    now = float(params["timestamp"])
    assert is_valid({**params, "sig": expected}, "signature_secret", method, now=now)


def test_values_have_ampersand_and_equals_replaced_but_keys_do_not() -> None:
    assert signed_string({"b": "x&y=z", "a=7": "1"}) == "&a=7=1&b=x_y_z"
    assert sign({"text": "a&b", "timestamp": "1"}, "s") == sign(
        {"text": "a_b", "timestamp": "1"}, "s")


def test_upper_case_hex_is_accepted() -> None:
    # Vonage's own DLR example carries its sig in upper case.
    signed = {**SDK3_PARAMS, "sig": SDK3_VECTORS[3][1].upper()}
    assert is_valid(signed, "secret", "sha256", now=1461605396)


@pytest.mark.parametrize("skew", [-300, 0, 300])
def test_timestamps_within_the_window_pass(skew: int) -> None:
    signed = {**SDK3_PARAMS, "sig": SDK3_VECTORS[0][1]}
    assert is_valid(signed, "secret", now=1461605396 + skew)


@pytest.mark.parametrize("skew", [-301, 301, 86_400])
def test_stale_or_future_timestamps_are_refused(skew: int) -> None:
    signed = {**SDK3_PARAMS, "sig": SDK3_VECTORS[0][1]}
    assert not is_valid(signed, "secret", now=1461605396 + skew)
    assert is_valid(signed, "secret", now=1461605396 + skew, max_age_s=90_000)


@pytest.mark.parametrize("params", [
    {**SDK3_PARAMS, "a": "9", "sig": SDK3_VECTORS[0][1]},  # value altered
    {**SDK3_PARAMS, "c": "3", "sig": SDK3_VECTORS[0][1]},  # parameter added
    {"a": "1", "b": "2", "sig": SDK3_VECTORS[0][1]},  # no timestamp
    {**SDK3_PARAMS, "timestamp": "1461605396.0", "sig": SDK3_VECTORS[0][1]},
    {**SDK3_PARAMS},  # no sig
    {**SDK3_PARAMS, "sig": ""},
    {**SDK3_PARAMS, "sig": "6af838ef94998832dbfc29020b56483ä"},  # not ASCII
])
def test_anything_altered_fails(params: dict[str, str]) -> None:
    assert not is_valid(params, "secret", now=1461605396)


def test_wrong_secret_or_method_fails() -> None:
    signed = {**SDK3_PARAMS, "sig": SDK3_VECTORS[0][1]}
    assert not is_valid(signed, "terces", now=1461605396)
    assert not is_valid(signed, "", now=1461605396)
    assert not is_valid(signed, "secret", "md5", now=1461605396)


def test_unknown_method_is_an_operator_error() -> None:
    with pytest.raises(OperatorMustAct, match="sha384"):
        sign(SDK3_PARAMS, "secret", "sha384")
    with pytest.raises(OperatorMustAct):
        is_valid({**SDK3_PARAMS, "sig": "x"}, "secret", "MD5", now=1461605396)


# Vonage's OpenAPI example (Nexmo/api-specification definitions/sms.yml, InboundMessage):
SPEC_INBOUND = {
    "api-key": "abcd1234", "msisdn": "447700900001", "to": "447700900000",
    "messageId": "0A0000000123ABCD1", "text": "Hello world", "type": "text",
    "keyword": "HELLO", "message-timestamp": "2020-01-01 12:00:00", "timestamp": "1578787200",
    "nonce": "aaaaaaaa-bbbb-cccc-dddd-0123456789ab", "concat": "true", "concat-ref": "1",
    "concat-total": "3", "concat-part": "2",
}
# A captured form POST (gist leggetter, "Nexmo Inbound SMS Webhook"; numbers were redacted
# there, so two example numbers stand in for FROM_NUMBER and TO_NUMBER).
CAPTURED_INBOUND = {
    "keyword": "HELLO!", "message-timestamp": "2016-08-14 10:13:54",
    "messageId": "030000000926C4C2", "msisdn": "447700900001", "text": "Hello!",
    "to": "447700900000", "type": "text",
}


def test_spec_example_is_a_message_part() -> None:
    inbound = parse_inbound(SPEC_INBOUND, default_region="FI", now=NOW)
    assert inbound.message_id == "0A0000000123ABCD1"
    assert inbound.phone == "+447700900001"
    assert inbound.to == "447700900000"
    assert inbound.text == "Hello world"
    assert inbound.received_at == datetime(2020, 1, 1, 12, 0, tzinfo=UTC)
    assert inbound.concat == ConcatPart(ref="1", total=3, part=2)


def test_captured_single_message() -> None:
    inbound = parse_inbound(CAPTURED_INBOUND, default_region="FI", now=NOW)
    assert (inbound.message_id, inbound.phone, inbound.text) == (
        "030000000926C4C2", "+447700900001", "Hello!")
    assert inbound.received_at == datetime(2016, 8, 14, 10, 13, 54, tzinfo=UTC)
    assert inbound.concat is None


def test_finnish_unicode_message() -> None:
    params = {**CAPTURED_INBOUND, "msisdn": "358401234567", "to": "358451234567",
              "type": "unicode", "text": "Taksi Kamppiin, šekki käy? 🚕"}
    inbound = parse_inbound(params, default_region="FI", now=NOW)
    assert inbound.phone == "+358401234567"
    assert inbound.text == "Taksi Kamppiin, šekki käy? 🚕"


def test_an_empty_text_is_a_message() -> None:
    inbound = parse_inbound({**CAPTURED_INBOUND, "text": ""}, default_region="FI", now=NOW)
    assert inbound.text == ""


def test_a_plus_is_tolerated_and_a_missing_timestamp_means_now() -> None:
    params = {k: v for k, v in CAPTURED_INBOUND.items() if k != "message-timestamp"}
    inbound = parse_inbound({**params, "msisdn": "+358401234567"}, default_region="FI", now=NOW)
    assert (inbound.phone, inbound.received_at) == ("+358401234567", NOW)


def test_a_timestamp_ahead_of_our_clock_becomes_now() -> None:
    params = {**CAPTURED_INBOUND, "message-timestamp": "2024-06-10 08:25:00"}
    assert parse_inbound(params, default_region="FI", now=NOW).received_at == NOW


@pytest.mark.parametrize(("change", "field"), [
    ({"messageId": ""}, "messageId"),
    ({"messageId": "x" * 101}, "messageId"),
    ({"type": "binary", "data": "0011", "udh": "050003CC0201"}, "type"),
    ({"type": ""}, "type"),
    ({"type": "wappush"}, "type"),
    ({"text": "a\x00b"}, "text"),
    ({"text": "x" * 1601}, "text"),
    ({"to": ""}, "to"),
    ({"msisdn": ""}, "msisdn"),
    ({"msisdn": "Taxi Co"}, "msisdn"),
    ({"msisdn": "44"}, "msisdn"),
    ({"msisdn": "٤٤٧٧٠٠٩٠٠٠٠١"}, "msisdn"),
    ({"message-timestamp": "2016-08-14T10:13:54Z"}, "message-timestamp"),
    ({"concat": "true"}, "concat-ref"),
    ({"concat": "true", "concat-ref": "7", "concat-total": "3"}, "concat-part"),
    ({"concat-ref": "7", "concat-total": "3", "concat-part": "4"}, "concat-part"),
    ({"concat-ref": "7", "concat-total": "3", "concat-part": "0"}, "concat-part"),
    ({"concat-ref": "7", "concat-total": "256", "concat-part": "1"}, "concat-total"),
    ({"concat-ref": "7", "concat-total": "3", "concat-part": " 2"}, "concat-part"),
    ({"concat-ref": "7", "concat-total": "1_0", "concat-part": "2"}, "concat-total"),
])
def test_bad_fields_are_named(change: dict[str, str], field: str) -> None:
    with pytest.raises(BadInput) as caught:
        parse_inbound({**CAPTURED_INBOUND, **change}, default_region="FI", now=NOW)
    assert field in caught.value.field_errors
    assert caught.value.reason


def test_missing_text_and_binary_have_reasons() -> None:
    params = {k: v for k, v in CAPTURED_INBOUND.items() if k != "text"}
    with pytest.raises(BadInput, match="text is missing"):
        parse_inbound(params, default_region="FI", now=NOW)
    with pytest.raises(BadInput, match="binary"):
        parse_inbound({**CAPTURED_INBOUND, "type": "binary"}, default_region="FI", now=NOW)


def test_parts_are_joined_in_part_order_whatever_order_they_came_in() -> None:
    parts = {3: "ssa.", 1: "Tarvitsen taksin Kamppiin klo 14, olen ", 2: "pääovella odottama"}
    assert assemble(parts, 3) == (
        "Tarvitsen taksin Kamppiin klo 14, olen pääovella odottamassa.", True)
    assert assemble({1: "Hei"}, 1) == ("Hei", True)


def test_a_missing_part_shows_where_text_is_missing() -> None:
    assert assemble({1: "Taksi ", 3: " kiitos"}, 3) == (f"Taksi {MISSING_PART} kiitos", False)
    assert assemble({}, 2) == (MISSING_PART * 2, False)


def test_assemble_refuses_impossible_input() -> None:
    with pytest.raises(ValueError, match="outside"):
        assemble({4: "x"}, 3)
    with pytest.raises(ValueError, match="total"):
        assemble({}, 0)


def test_a_concat_part_validates_itself() -> None:
    assert ConcatPart(ref="ab", total=255, part=255).part == 255
    for ref, total, part in [("", 2, 1), ("r", 0, 0), ("r", 2, 3), ("r", 256, 1)]:
        with pytest.raises(BadInput):
            ConcatPart(ref=ref, total=total, part=part)
