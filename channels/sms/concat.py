"""Multipart SMS: one part's place in its message, and the text of the parts put together.

Gateways that do not reassemble long messages themselves (Vonage) deliver one webhook per
part, possibly out of order and possibly not all of them. Buffering the parts and deciding
when to give up waiting is the caller's job; this module only validates a part and joins
what arrived.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from hub.errors import BadInput

MAX_PARTS = 255  # the concatenation header counts parts in one octet
MISSING_PART = "[…]"  # stands where a part never arrived, so a dispatcher sees text is missing


@dataclass(frozen=True, slots=True)
class ConcatPart:
    """Part `part` of `total` of the message the gateway calls `ref` (per sender)."""

    ref: str
    total: int
    part: int

    def __post_init__(self) -> None:
        if not self.ref:
            raise BadInput("concat-ref is missing", {"concat-ref": "required"})
        if not 1 <= self.total <= MAX_PARTS:
            raise BadInput(f"concat-total must be 1..{MAX_PARTS}", {"concat-total": "invalid"})
        if not 1 <= self.part <= self.total:
            raise BadInput("concat-part must be 1..concat-total", {"concat-part": "invalid"})


def assemble(parts: Mapping[int, str], total: int) -> tuple[str, bool]:
    """The parts' texts joined in part order, and whether every part 1..`total` was there.

    Parts are joined without a separator (a part boundary can fall inside a word); each
    missing part becomes `MISSING_PART` at its place.
    """
    if not 1 <= total <= MAX_PARTS:
        raise ValueError(f"total must be 1..{MAX_PARTS}, not {total}")
    stray = [number for number in parts if not 1 <= number <= total]
    if stray:
        raise ValueError(f"part numbers {sorted(stray)} are outside 1..{total}")
    text = "".join(parts.get(number, MISSING_PART) for number in range(1, total + 1))
    return text, len(parts) == total
