"""Properties of every inbound parser, over inputs hypothesis makes up: whatever a gateway, a
PBX, a mail server, a browser or an attacker sends, a parser either returns its result or
refuses with the hub's own error (BadInput, the chat's FrameError), which the adapters turn
into a 4xx, an SMTP 5xx or a close code. Any other exception would be a 500.

Inputs mix the fields each format really has with made-up ones, and plausible values
(numbers, times, statuses) with hostile text. Derandomised: the same cases on every run.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from channels.chat.frames import FrameError, parse_frame
from channels.chat.prechat import normalise_prechat
from channels.email.mime import parse_mail
from channels.phone.cti_events import parse_cti
from channels.phone.twilio_voice_events import parse_voice
from channels.sms.generic_inbound import parse_inbound as parse_generic
from channels.sms.twilio_inbound import parse_inbound as parse_twilio
from channels.sms.vonage_inbound import parse_inbound as parse_vonage
from channels.webform.parser import parse_order
from hub.errors import BadInput

# Nothing here touches the stores: the PostgreSQL pass would only repeat it.
pytestmark = pytest.mark.store_independent

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
REGION = "FI"
ZONE = "Europe/Helsinki"
CASES = settings(max_examples=150, deadline=None, derandomize=True,
                 suppress_health_check=[HealthCheck.too_slow])

PLAUSIBLE = st.sampled_from([
    "", " ", "0", "1", "2", "-1", "3.5", "99999999999999999999", "true", "null",
    "+358401234567", "040 123 4567", "0401234567", "+1", "abc@example.fi", "a@b",
    "2026-12-07T10:00:00Z", "2026-12-07 10:00:00", "12.12.2026 klo 8", "25:99",
    "completed", "no-answer", "busy", "in-progress", "ringing", "inbound", "outbound-dial",
    "text", "unicode", "binary", "newCall", "answer", "hangup", "in", "out",
    "https://api.twilio.com/rec/RE1", "CA" + "a" * 32, "SM" + "0" * 32, "RE" + "f" * 32,
    "\x00", "\u202e", "𝔘𝔫𝔦", "x" * 5000, "<script>alert(1)</script>", "=cmd|' /C calc'!A0",
])
TEXT = st.one_of(PLAUSIBLE, st.text(max_size=60))


def fields(known: list[str]) -> st.SearchStrategy[dict[str, str]]:
    """A form or query: mostly the format's own names, some strangers."""
    return st.dictionaries(st.one_of(st.sampled_from(known), st.text(max_size=12)), TEXT,
                           max_size=len(known) + 3)


def holds(parse: Callable[[], Any], *refusals: type[Exception]) -> None:
    try:
        parse()
    except (BadInput, *refusals):
        pass


@CASES
@given(fields(["MessageSid", "SmsMessageSid", "From", "To", "Body", "NumMedia",
               "NumSegments", "AccountSid", "MessagingServiceSid"]))
def test_twilio_sms(form: dict[str, str]) -> None:
    holds(lambda: parse_twilio(form, default_region=REGION, now=NOW))


@CASES
@given(fields(["messageId", "msisdn", "to", "text", "type", "keyword", "concat",
               "concat-ref", "concat-total", "concat-part", "message-timestamp",
               "api-key"]))
def test_vonage_sms(params: dict[str, str]) -> None:
    holds(lambda: parse_vonage(params, default_region=REGION, now=NOW))


# Empty containers are leaves and the extension always draws from `inner`: an extension
# that may draw nothing from it made hypothesis warn, now and then, that it cannot recurse.
JSON_VALUE = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), TEXT,
              st.just([]), st.just({})),
    lambda inner: st.one_of(st.lists(inner, min_size=1, max_size=3),
                            st.dictionaries(st.text(max_size=8), inner, min_size=1,
                                            max_size=3)),
    max_leaves=8)


@CASES
@given(st.dictionaries(
    st.one_of(st.sampled_from(["message_id", "from", "to", "text", "received_at"]),
              st.text(max_size=10)), JSON_VALUE, max_size=7))
def test_generic_sms(body: dict[str, Any]) -> None:
    holds(lambda: parse_generic(body, default_region=REGION, now=NOW))


@CASES
@given(st.dictionaries(
    st.one_of(st.sampled_from(["name", "phone", "email", "message", "submission_token",
                               "pickup_address", "pickup_time", "destination", "language",
                               "passengers"]), st.text(max_size=10)),
    st.one_of(TEXT, JSON_VALUE), max_size=12))
def test_web_form(body: Mapping[str, object]) -> None:
    holds(lambda: parse_order(body, default_region=REGION, timezone=ZONE, now=NOW))


@CASES
@given(st.dictionaries(
    st.one_of(st.sampled_from(["event", "from", "to", "direction", "call_id", "callId",
                               "user", "cause", "answeringNumber", "token"]),
              st.text(max_size=10)),
    st.lists(TEXT, min_size=1, max_size=3), max_size=10))
def test_cti_events(events: dict[str, list[str]]) -> None:
    holds(lambda: parse_cti(events, default_region=REGION, now=NOW))


@CASES
@given(fields(["CallSid", "CallStatus", "Direction", "From", "To", "ParentCallSid",
               "DialCallStatus", "RecordingDuration", "RecordingSid", "RecordingStatus",
               "RecordingUrl", "Timestamp", "TranscriptionSid", "TranscriptionStatus",
               "TranscriptionText"]))
def test_twilio_voice(params: dict[str, str]) -> None:
    holds(lambda: parse_voice(params, default_region=REGION, now=NOW))


@CASES
@given(st.one_of(
    st.text(max_size=200),
    st.dictionaries(st.one_of(st.sampled_from(["type", "id", "text", "client_id", "fields",
                                               "typing", "delivery_id", "token"]),
                              st.text(max_size=8)),
                    st.one_of(JSON_VALUE, st.sampled_from(
                        ["hello", "message", "typing", "prechat", "seen", "close",
                         "ping"])), max_size=6).map(json.dumps)))
def test_chat_frames(text: str) -> None:
    holds(lambda: parse_frame(text, max_chars=2000), FrameError)


@CASES
@given(fields(["name", "phone", "email", "pickup_address", "pickup_time", "destination",
               "passengers", "language"]))
def test_chat_prechat(values: dict[str, str]) -> None:
    holds(lambda: normalise_prechat(values, default_region=REGION, timezone=ZONE, now=NOW))


@CASES
@given(st.binary(max_size=2000))
def test_mail_as_raw_bytes(raw: bytes) -> None:
    holds(lambda: parse_mail(raw))


HEADER = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\r\n"),
                 max_size=80)


@CASES
@given(sender=st.one_of(PLAUSIBLE, HEADER), subject=st.one_of(PLAUSIBLE, HEADER),
       body=st.one_of(TEXT, st.text(max_size=300)),
       content_type=st.sampled_from(["text/plain", "text/html", "multipart/mixed",
                                     "application/octet-stream", "message/rfc822", "x/y"]),
       charset=st.sampled_from(["utf-8", "iso-8859-1", "windows-1252", "unknown-8bit",
                                "utf-7", "nonsense"]),
       refs=st.lists(HEADER, max_size=3))
def test_mail_with_made_up_headers(sender: str, subject: str, body: str, content_type: str,
                                   charset: str, refs: list[str]) -> None:
    lines = [f"From: {sender}", f"Subject: {subject}", "Message-ID: <m1@example.fi>",
             f"Content-Type: {content_type}; charset={charset}"]
    lines += [f"References: {ref}" for ref in refs]
    raw = ("\r\n".join(lines) + "\r\n\r\n" + body).encode("utf-8", "surrogateescape")
    holds(lambda: parse_mail(raw, envelope_sender=None))
    message = EmailMessage()
    message["From"] = "Aino <aino@example.fi>"
    message["Subject"] = "Taksi"
    message.set_content(body or "Taksi")
    # A file name is one header line: whatever str.splitlines breaks it at (\x0b, \x1c,
    # U+2028 ...), the email package refuses to write.
    message.add_attachment(body.encode(), maintype="application", subtype="pdf",
                           filename="".join(subject.splitlines()) or "kuitti.pdf")
    holds(lambda: parse_mail(bytes(message)))
