"""Phone numbers in one form, E.164, whatever way the passenger or the gateway wrote them."""

from __future__ import annotations

import phonenumbers

from hub.error_codes import ErrorCode
from hub.errors import BadInput


def to_e164(text: str, default_region: str) -> str:
    """`040 123 4567` with region FI becomes `+358401234567`; nonsense raises BadInput."""
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException as exc:
        raise BadInput(ErrorCode.PHONE_INVALID) from exc
    if not phonenumbers.is_possible_number(number):
        raise BadInput(ErrorCode.PHONE_NOT_POSSIBLE)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def mask_phone(e164: str) -> str:
    """For logs: keep the country code and the last two digits."""
    if len(e164) <= 6:
        return "***"
    return f"{e164[:4]}***{e164[-2:]}"
