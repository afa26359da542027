"""Segment counts and encodings a dispatcher sees before sending an SMS."""

from __future__ import annotations

from channels.sms.segments import Encoding, Segments, count_segments

ETA = "Taksi ABC-123 saapuu 5 min kuluttua."


def test_finnish_text_fits_gsm7() -> None:
    assert count_segments(ETA) == Segments(Encoding.GSM7, 1, 36, 124)
    assert count_segments("Hyvää yötä, kyyti Töölöön ja Åbo").encoding is Encoding.GSM7


def test_euro_sign_costs_two_septets_and_sha_forces_ucs2() -> None:
    assert count_segments(ETA + " Hinta 25 €").units == 36 + 11 + 1
    with_s = count_segments("Šoferi saapuu")
    assert with_s.encoding is Encoding.UCS2 and with_s.count == 1 and with_s.units == 13


def test_limits_of_single_and_concatenated_messages() -> None:
    assert count_segments("a" * 160).count == 1
    assert count_segments("a" * 161) == Segments(Encoding.GSM7, 2, 161, 153 * 2 - 161)
    assert count_segments("a" * 306).count == 2
    assert count_segments("a" * 307).count == 3
    assert count_segments("š" * 70).count == 1
    assert count_segments("š" * 71).count == 2
    assert count_segments("š" * 134).count == 2
    assert count_segments("š" * 135).count == 3


def test_two_unit_characters_are_not_split_between_parts() -> None:
    # 152 septets, then a euro (2): it does not fit in part one, so it opens part two.
    text = "a" * 152 + "€" + "a" * 10
    result = count_segments(text)
    assert result.count == 2 and result.remaining == 153 - 12
    emoji = "š" * 66 + "🚕" + "š" * 5  # the taxi is a surrogate pair: it opens part two
    assert count_segments(emoji) == Segments(Encoding.UCS2, 2, 73, 67 - 7)


def test_empty_text() -> None:
    assert count_segments("") == Segments(Encoding.GSM7, 0, 0, 160)
