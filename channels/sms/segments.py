"""How many SMS segments a text takes, and in which encoding (3GPP TS 23.038).

GSM-7 carries 160 septets in a single message and 153 per part of a concatenated one; the
extension characters (^ { } \\ [ ~ ] | € and form feed) take two septets and are never split
between parts. Anything outside the GSM-7 tables (š, ž, emoji...) makes the whole message
UCS-2: 70 code units single, 67 per part, and a surrogate pair is never split either.
Finnish and Swedish letters (ä ö å Ä Ö Å) are in the basic table.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

SINGLE = {"gsm7": 160, "ucs2": 70}
PER_PART = {"gsm7": 153, "ucs2": 67}


class Encoding(StrEnum):
    GSM7 = "gsm7"
    UCS2 = "ucs2"


@dataclass(frozen=True, slots=True)
class Segments:
    encoding: Encoding
    count: int  # parts the message is sent in (0 for an empty text)
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    remaining: int  # units still free in the last part


def count_segments(text: str) -> Segments:
    if all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text):
        encoding = Encoding.GSM7
        widths = [2 if ch in GSM7_EXTENSION else 1 for ch in text]
    else:
        encoding = Encoding.UCS2
        widths = [2 if ord(ch) > 0xFFFF else 1 for ch in text]
    units = sum(widths)
    if units == 0:
        return Segments(encoding, 0, 0, SINGLE[encoding])
    if units <= SINGLE[encoding]:
        return Segments(encoding, 1, units, SINGLE[encoding] - units)
    size = PER_PART[encoding]
    parts, used = 1, 0
    for width in widths:  # a two-unit character never straddles two parts
        if used + width > size:
            parts, used = parts + 1, 0
        used += width
    return Segments(encoding, parts, units, size - used)
