"""References a passenger reads out: a mistyped digit or a swapped pair is caught."""

from __future__ import annotations

from hub.reference import format_reference, is_valid_reference


def test_every_single_digit_error_and_most_swaps_are_caught() -> None:
    for number in range(1000, 3000):
        reference = format_reference(number)
        assert is_valid_reference(reference)
        for position, char in enumerate(reference):
            for digit in "0123456789":
                if digit != char:
                    typo = reference[:position] + digit + reference[position + 1:]
                    assert not is_valid_reference(typo), (reference, typo)
    swapped = [
        r[:i] + r[i + 1] + r[i] + r[i + 2:]
        for r in map(format_reference, range(1000, 3000))
        for i in range(len(r) - 1)
        if r[i] != r[i + 1]
    ]
    caught = sum(not is_valid_reference(s) for s in swapped)
    assert caught / len(swapped) > 0.95  # Luhn misses only 09 <-> 90


def test_not_a_reference() -> None:
    for text in ("", "7", "12a45", " 10009", "-10009"):
        assert not is_valid_reference(text)
