"""The chat channel's pure parts: visitor tokens, opening hours, the widget's frames, the
pre-chat details and a socket's cursor in its conversation."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from channels.chat.cursor import SLACK, Cursor
from channels.chat.frames import (
    CLOSE_MALFORMED,
    CLOSE_TOO_BIG,
    ChatMessage,
    Close,
    FrameError,
    Hello,
    Prechat,
    Seen,
    Typing,
    parse_frame,
)
from channels.chat.hours import parse_hours
from channels.chat.prechat import normalise_prechat, pickup_time
from channels.chat.token import issue, needs_renewal, new_visitor_id, verify
from hub.chat_conversations import Line
from hub.errors import OperatorMustAct
from hub.keys import Keys

HELSINKI = ZoneInfo("Europe/Helsinki")
NOW = 1_800_000_000.0


def test_a_token_names_its_visitor_until_it_expires() -> None:
    visitor = new_visitor_id()
    token = issue("secret", visitor, now=NOW, days=90)
    assert token.startswith(f"v1.{visitor}.")
    found = verify("secret", token, now=NOW + 89 * 86_400)
    assert found is not None and found.id == visitor
    assert verify("secret", token, now=NOW + 90 * 86_400) is None  # expired
    assert not needs_renewal(found, now=NOW + 44 * 86_400, days=90)
    assert needs_renewal(found, now=NOW + 46 * 86_400, days=90)


@pytest.mark.parametrize("mangle", [
    lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # signature
    lambda t: t.replace(t.split(".")[1], new_visitor_id()),  # someone else's id
    lambda t: t.replace(t.split(".")[2], str(int(t.split(".")[2]) + 86_400)),  # longer life
    lambda t: "v2" + t[2:],
    lambda t: t + ".",
    lambda t: t.upper(),
    lambda t: "",
    lambda t: None,
    lambda t: 12,
    lambda t: t * 10,
])
def test_a_forged_or_malformed_token_names_nobody(mangle: object) -> None:
    token = issue("secret", new_visitor_id(), now=NOW, days=90)
    assert verify("secret", mangle(token), now=NOW) is None  # type: ignore[operator]
    assert verify("other secret", token, now=NOW) is None


@pytest.mark.parametrize(("text", "open_at", "closed_at"), [
    ("mo-fr 07:00-22:00, sa-su 09:00-18:00",
     ["2026-11-30 07:00", "2026-11-30 21:59", "2026-11-29 09:00"],  # Mon, Mon, Sun
     ["2026-11-30 06:59", "2026-11-30 22:00", "2026-11-29 18:00", "2026-11-28 08:59"]),
    ("ma-pe 7-22; la,su 9:00-18:00", ["2026-12-05 12:00"], ["2026-12-05 19:00"]),
    ("fr-sa 20:00-04:00",  # past midnight: Saturday and Sunday mornings
     ["2026-12-04 23:00", "2026-12-05 03:59", "2026-12-06 03:00"],
     ["2026-12-04 04:00", "2026-12-05 04:00", "2026-12-07 01:00"]),
    ("su-tu 00:00-24:00", ["2026-11-29 00:00", "2026-12-01 23:59"], ["2026-12-02 00:00"]),
    ("mo,we/fr 10:00-11:00", ["2026-12-02 10:30", "2026-12-04 10:00"], ["2026-12-01 10:30"]),
])
def test_opening_hours_in_the_companys_time(text: str, open_at: list[str],
                                            closed_at: list[str]) -> None:
    hours = parse_hours(text, "Europe/Helsinki")
    for when in open_at:
        assert hours.is_open(datetime.fromisoformat(when).replace(tzinfo=HELSINKI)), when
    for when in closed_at:
        assert not hours.is_open(datetime.fromisoformat(when).replace(tzinfo=HELSINKI)), when
    # The same moment given in UTC is judged in Helsinki time.
    first = datetime.fromisoformat(open_at[0]).replace(tzinfo=HELSINKI).astimezone(UTC)
    assert hours.is_open(first)


def test_empty_opening_hours_are_always_open() -> None:
    assert parse_hours("", "Europe/Helsinki").is_open(datetime.now(UTC))
    assert parse_hours(" ", "UTC").is_open(datetime.now(UTC))


@pytest.mark.parametrize("text", ["mo-fr", "xx 07:00-08:00", "mo 07:00", "mo 25:00-26:00",
                                  "mo 07:60-08:00", "always", "mo-fr 7-22 sa 9-18"])
def test_unreadable_opening_hours_stop_the_start(text: str) -> None:
    with pytest.raises(OperatorMustAct, match=r"chat\.opening_hours"):
        parse_hours(text, "Europe/Helsinki")


def test_frames_parse_into_their_kinds() -> None:
    message_id = str(uuid.uuid4())
    assert parse_frame('{"type":"hello","token":null,"last_seen":null,"lang":"en"}',
                       max_chars=10) == Hello(None, None, "en")
    assert parse_frame('{"type":"hello","token":"t","last_seen":"' + message_id
                       + '","lang":"sv"}', max_chars=10) == Hello("t", uuid.UUID(message_id),
                                                                  "sv")
    assert parse_frame('{"type":"message","id":"abcd-1234","text":"  hei \\n"}',
                       max_chars=10) == ChatMessage("abcd-1234", "hei")
    assert parse_frame('{"type":"typing","on":false}', max_chars=10) == Typing(False)
    assert parse_frame('{"type":"prechat","name":"  Aino   Virtanen ","phone":"","x":"y"}',
                       max_chars=10) == Prechat({"name": "Aino Virtanen"})
    assert parse_frame('{"type":"seen","message_id":"' + message_id + '"}',
                       max_chars=10) == Seen(uuid.UUID(message_id))
    assert parse_frame('{"type":"close"}', max_chars=10) == Close(None)
    assert parse_frame('{"type":"close","email":"a@b.fi"}', max_chars=10) == Close("a@b.fi")


@pytest.mark.parametrize(("text", "code"), [
    ('{"type":"message","id":"abcd-1234","text":"' + "ä" * 11 + '"}', CLOSE_TOO_BIG),
    ("{", CLOSE_MALFORMED), ("null", CLOSE_MALFORMED), ('"hello"', CLOSE_MALFORMED),
    ('{"type":"message","id":"short","text":"hi"}', CLOSE_MALFORMED),
    ('{"type":"message","id":"abcd-1234","text":5}', CLOSE_MALFORMED),
    ('{"type":"message","id":"abcd 1234","text":"hi"}', CLOSE_MALFORMED),
    ('{"type":"typing","on":"yes"}', CLOSE_MALFORMED),
    ('{"type":"prechat","name":["x"]}', CLOSE_MALFORMED),
    ('{"type":"prechat","name":"' + "x" * 201 + '"}', CLOSE_MALFORMED),
    ('{"type":"seen"}', CLOSE_MALFORMED),
    ('{"type":"hello","token":7}', CLOSE_MALFORMED),
    ("[" * 100_000, CLOSE_MALFORMED),
])
def test_bad_frames_carry_their_close_code(text: str, code: int) -> None:
    with pytest.raises(FrameError) as raised:
        parse_frame(text, max_chars=10)
    assert raised.value.code == code and raised.value.reason


def test_prechat_details_are_normalised_or_named_invalid() -> None:
    now = datetime(2026, 11, 29, 17, 0, tzinfo=HELSINKI)
    values, errors = normalise_prechat(
        {"name": "Aino", "phone": "040 765 4321", "email": "Aino@Example.FI",
         "pickup_address": "Kamppi", "pickup_time": "18:30"},
        default_region="FI", timezone="Europe/Helsinki", now=now)
    assert errors == {}
    assert values == {"name": "Aino", "phone": "+358407654321", "email": "aino@example.fi",
                      "pickup_address": "Kamppi", "pickup_time": "2026-11-29T18:30:00+02:00"}
    _, errors = normalise_prechat({"phone": "12", "email": "no-at", "pickup_time": "25:00",
                                   "name": "a\x00b"}, default_region="FI",
                                  timezone="Europe/Helsinki", now=now)
    assert errors == {"phone": "invalid", "email": "invalid", "pickup_time": "invalid",
                      "name": "invalid"}


def test_a_clock_time_already_past_means_tomorrow() -> None:
    now = datetime(2026, 11, 29, 20, 0, tzinfo=HELSINKI)
    assert pickup_time("06.15", "Europe/Helsinki", now) == "2026-11-30T06:15:00+02:00"
    assert pickup_time("19:58", "Europe/Helsinki", now) == "2026-11-29T19:58:00+02:00"
    assert pickup_time("2026-12-01T08:00", "Europe/Helsinki", now) \
        == "2026-12-01T08:00:00+02:00"


def _line(at: datetime, text: str = "x") -> Line:
    return Line(uuid.uuid4(), uuid.uuid4(), at, "dispatcher", text)


def test_a_cursor_sends_each_line_once_even_when_one_commits_late() -> None:
    start = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    cursor = Cursor()
    first, second = _line(start), _line(start + timedelta(seconds=10))
    assert cursor.fresh([first, second]) == [first, second]
    assert cursor.since() == second.at - SLACK
    late = _line(start + timedelta(seconds=8))  # committed after `second`, stamped before
    third = _line(start + timedelta(seconds=12))
    assert cursor.fresh([second, late, third]) == [late, third]
    assert cursor.fresh([second, late, third]) == []


def test_a_resumed_cursor_skips_what_the_widget_has_and_a_close_starts_afresh() -> None:
    start = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    lines = [_line(start + timedelta(seconds=n)) for n in range(4)]
    cursor = Cursor()
    assert cursor.resume(lines[1].position) == lines[1].at - SLACK
    assert cursor.fresh(lines, lines[1].position) == lines[2:]
    cursor.close(start + timedelta(seconds=3, milliseconds=500))
    assert cursor.since() == start + timedelta(seconds=3, milliseconds=500)
    after = _line(start + timedelta(seconds=5))
    assert cursor.fresh([*lines, after]) == [after]


def test_the_fanout_pattern_escapes_the_key_prefix() -> None:
    assert Keys("tc:").chat_visitor_pattern == "tc:chat:visitor:*"
    assert Keys("{tc}[1]:").chat_visitor_pattern == "{tc}\\[1\\]:chat:visitor:*"
    assert Keys("{tc}[1]:").chat_visitor("abc") == "{tc}[1]:chat:visitor:abc"
