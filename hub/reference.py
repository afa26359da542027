"""Request references a passenger can read out on the phone: a number and a check digit.

The check digit (Luhn) catches a mistyped or misheard digit and most swapped pairs, so a
dispatcher searching by reference does not land on somebody else's request.
"""

from __future__ import annotations


def luhn_digit(number: int) -> int:
    total = 0
    for position, char in enumerate(reversed(str(number))):
        digit = int(char)
        if position % 2 == 0:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return (10 - total % 10) % 10


def format_reference(number: int) -> str:
    return f"{number}{luhn_digit(number)}"


def is_valid_reference(text: str) -> bool:
    if not text.isdigit() or len(text) < 2:
        return False
    return luhn_digit(int(text[:-1])) == int(text[-1])
