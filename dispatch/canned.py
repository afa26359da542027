"""Canned replies: the rules for their fields and placeholders, and rendering one for a request.

Pure functions; `dispatch.canned_store` keeps them in the database and `dispatch.canned_api`
serves them. A reply's text may name these placeholders, filled when a dispatcher inserts it:

    {reference}   the request's reference (what the passenger reads out on the phone)
    {name}        the passenger's name; a polite neutral form when the hub has none
    {eta}         the estimated arrival the dispatcher types in when inserting the reply
    {agent}       the inserting dispatcher's name, to sign a message

Any other `{word}` is refused when the reply is saved, so that a typo such as `{nimi}` never
reaches a passenger. Braces around anything else (`{ }`, a lone `{`) are plain text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hub.error_codes import ErrorCode
from hub.errors import BadInput
from hub.text import is_storable

PLACEHOLDERS = ("reference", "name", "eta", "agent")
LANGUAGES = ("fi", "sv", "en")  # a reply is in the passenger's language
MAX_TITLE = 100
# The longest reply a chat takes (dispatch/replies.py); SMS replies are cut shorter there.
MAX_BODY = 4000
MAX_ETA = 40
MAX_POSITION = 100_000
# What {name} becomes when the passenger left no name: polite, and reads in any template
# ("Hei {name}, ..." -> "Hei hyvä asiakas, ...").
NEUTRAL_NAME: Mapping[str, str] = {"fi": "hyvä asiakas", "sv": "bästa kund",
                                   "en": "dear customer"}
FIELDS = ("title", "language", "body", "lane", "position")

# A placeholder is a word in braces: letters, digits and underscores, nothing else.
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True, slots=True)
class CannedFields:
    title: str
    language: str
    body: str
    lane: str | None
    position: int | None  # None: after the others


def placeholders_in(body: str) -> list[str]:
    """The placeholders a text names, in first-use order, each once."""
    return list(dict.fromkeys(_PLACEHOLDER.findall(body)))


def unknown_placeholders(body: str) -> list[str]:
    return [name for name in placeholders_in(body) if name not in PLACEHOLDERS]


def needs_eta(body: str) -> bool:
    return "eta" in placeholders_in(body)


def clean_fields(body: Mapping[str, Any]) -> CannedFields:
    """A canned reply's fields from a JSON body, or BadInput (400) naming what is wrong."""
    extra = sorted(set(body) - set(FIELDS))
    if extra:
        raise BadInput(ErrorCode.CANNED_UNKNOWN_FIELDS.of(unknown=", ".join(extra),
                                                          allowed=", ".join(FIELDS)))
    title = _text(body.get("title"), "title", MAX_TITLE)
    language = body.get("language")
    if language not in LANGUAGES:
        raise BadInput(ErrorCode.LANGUAGE_INVALID.of(allowed=", ".join(LANGUAGES)))
    text = _text(body.get("body"), "body", MAX_BODY, multiline=True)
    unknown = unknown_placeholders(text)
    if unknown:
        raise BadInput(ErrorCode.PLACEHOLDERS_UNKNOWN.of(
            unknown=", ".join("{" + n + "}" for n in unknown),
            known=", ".join("{" + n + "}" for n in PLACEHOLDERS)))
    lane = body.get("lane")
    if lane is not None and (not isinstance(lane, str) or not lane.strip()):
        raise BadInput(ErrorCode.LANE_KEY_INVALID)
    position = body.get("position")
    if position is not None and (isinstance(position, bool) or not isinstance(position, int)
                                 or not 0 <= position <= MAX_POSITION):
        raise BadInput(ErrorCode.POSITION_INVALID.of(max=MAX_POSITION))
    return CannedFields(title, str(language), text, lane.strip() if lane else None, position)


def _text(value: Any, field: str, limit: int, *, multiline: bool = False) -> str:
    if value is None:
        raise BadInput(ErrorCode.FIELD_REQUIRED.of(field=field))
    if not isinstance(value, str):
        raise BadInput(ErrorCode.FIELD_NOT_TEXT.of(field=field))
    value = value.strip()
    if not value:
        raise BadInput(ErrorCode.FIELD_REQUIRED.of(field=field))
    if len(value) > limit:
        raise BadInput(ErrorCode.FIELD_TOO_LONG_NOW.of(field=field, max=limit, length=len(value)))
    if not is_storable(value) or (not multiline and ("\n" in value or "\r" in value)):
        raise BadInput(ErrorCode.FIELD_UNSTORABLE.of(field=field))
    return str(value)


def clean_eta(value: Any) -> str | None:
    """The dispatcher's ETA as typed ("10 min", "klo 18.05"): one short line, or None."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadInput(ErrorCode.ETA_NOT_TEXT)
    value = " ".join(value.split())
    if len(value) > MAX_ETA or not is_storable(value):
        raise BadInput(ErrorCode.ETA_TOO_LONG.of(max=MAX_ETA))
    return value or None


def render(body: str, *, language: str, reference: str, name: str | None,
           eta: str | None, agent: str) -> str:
    """The text with its placeholders filled. A text naming {eta} needs one (BadInput)."""
    if eta is None and needs_eta(body):
        raise BadInput(ErrorCode.ETA_REQUIRED)
    values = {
        "reference": reference,
        "name": (name or "").strip() or NEUTRAL_NAME.get(language, NEUTRAL_NAME["en"]),
        "eta": eta or "",
        "agent": agent,
    }
    return _PLACEHOLDER.sub(lambda found: values.get(found[1], found[0]), body)
