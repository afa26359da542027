"""Automatic answer templates: what the hub writes to a passenger on its own, per kind, lane
and language, with the built-in texts used where an admin has written none.

Two kinds, each filling its own placeholders (`dispatch.auto_answers` sends them):

    acknowledgement   a new request's receipt: {reference} {name} {wait}
    out_of_hours      a request that came while its lane is closed: {reference} {name} {opens}

    {reference}   the request's reference
    {name}        the passenger's name ("" when the hub has none: write around it)
    {wait}        the estimated wait, such as "noin 5 min" (`hub.wait_estimate.format_wait`)
    {opens}       the lane's next opening, such as "ma 1.12. klo 7.00"

A template naming any other `{word}`, or a placeholder its kind does not fill, is refused when
it is saved (the same rule as canned replies, `dispatch.canned`), so that a typo never
reaches a passenger as "{odotus}". Braces around anything else are plain text.

`dispatch.answer_templates_api` lets admins manage them; this module holds the rules and the
two functions the answering engine calls: `find_template` and `render_template`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from hub import catalogue, schema
from hub.error_codes import ErrorCode
from hub.errors import BadInput
from hub.json_types import JsonObject
from hub.text import is_storable

KINDS = ("acknowledgement", "out_of_hours")
LANGUAGES = catalogue.LANGUAGES
PLACEHOLDERS = ("reference", "name", "wait", "opens")
FILLED: Mapping[str, tuple[str, ...]] = {
    "acknowledgement": ("reference", "name", "wait"),
    "out_of_hours": ("reference", "name", "opens"),
}
# Sent by SMS too, where every 153 characters (67 with emoji or Cyrillic) is another part:
# the same bound as a service notice's text.
MAX_BODY = 1000
FIELDS = ("kind", "lane", "language", "body")

# The built-in texts, from the passenger catalogue (`answer.<kind>` in each language).
DEFAULTS: Mapping[tuple[str, str], str] = {
    (kind, language): str(catalogue.entries(language)[f"answer.{kind}"])
    for kind in KINDS for language in LANGUAGES
}

# A placeholder is a word in braces: letters, digits and underscores (dispatch/canned.py).
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")

t = schema.answer_templates


@dataclass(frozen=True, slots=True)
class TemplateFields:
    kind: str
    lane: str | None  # None: every lane without a template of its own
    language: str
    body: str


def placeholders_in(body: str) -> list[str]:
    """The placeholders a text names, in first-use order, each once."""
    return list(dict.fromkeys(_PLACEHOLDER.findall(body)))


def render_template(body: str, values: Mapping[str, str | None]) -> str:
    """The text with its placeholders filled from `values`. A sentence naming one whose value
    is None (an estimated wait nobody can give) is left out; one not given at all becomes
    empty, so that a passenger never reads a bare "{wait}"; values are not expanded again."""
    unknown = {name for name, value in values.items() if value is None}
    if unknown:
        body = " ".join(sentence for sentence in _SENTENCE_END.split(body)
                        if not unknown & set(_PLACEHOLDER.findall(sentence)))
    return _PLACEHOLDER.sub(lambda found: values.get(found[1]) or "", body)


async def find_template(conn: AsyncConnection, kind: str, lane: str | None,
                        language: str) -> str | None:
    """The text to answer with: the lane's own template, else the one for every lane, else
    the built-in default. None only for a kind or language the hub has no text in."""
    if (kind, language) not in DEFAULTS:
        return None
    rows = (await conn.execute(
        select(t.c.lane, t.c.body)
        .where(t.c.kind == kind, t.c.language == language,
               or_(t.c.lane.is_(None), t.c.lane == lane) if lane else t.c.lane.is_(None))
        .order_by(t.c.updated_at.desc())
    )).all()
    own = next((row.body for row in rows if row.lane is not None), None)
    every = next((row.body for row in rows if row.lane is None), None)
    return own or every or DEFAULTS[(kind, language)]


def clean_fields(body: JsonObject) -> TemplateFields:
    """A template's fields from a JSON body, or BadInput (422) naming the field and why."""
    extra = sorted(set(body) - set(FIELDS))
    if extra:
        raise BadInput(ErrorCode.TEMPLATE_UNKNOWN_FIELDS.of(unknown=", ".join(extra),
                                                            allowed=", ".join(FIELDS)),
                       {name: "unknown" for name in extra})
    kind = body.get("kind")
    if kind not in KINDS:
        raise BadInput(ErrorCode.TEMPLATE_KIND_INVALID.of(allowed=", ".join(KINDS)),
                       {"kind": "invalid"})
    language = body.get("language")
    if language not in LANGUAGES:
        raise BadInput(ErrorCode.LANGUAGE_INVALID.of(allowed=", ".join(LANGUAGES)),
                       {"language": "invalid"})
    lane = body.get("lane")
    if lane is not None and (not isinstance(lane, str) or not lane.strip()):
        raise BadInput(ErrorCode.LANE_KEY_INVALID, {"lane": "invalid"})
    text = _body(body.get("body"))
    filled = FILLED[str(kind)]
    unknown = [name for name in placeholders_in(text) if name not in PLACEHOLDERS]
    if unknown:
        raise BadInput(
            ErrorCode.PLACEHOLDERS_UNKNOWN.of(unknown=_braced(unknown), known=_braced(filled)),
            {"body": "unknown_placeholder"})
    unfilled = [name for name in placeholders_in(text) if name not in filled]
    if unfilled:
        raise BadInput(ErrorCode.PLACEHOLDERS_NOT_FILLED.of(
            unknown=_braced(unfilled), kind=kind, known=_braced(filled)),
            {"body": "unknown_placeholder"})
    return TemplateFields(str(kind), lane.strip() if lane else None, str(language), text)


def _body(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise BadInput(ErrorCode.BODY_REQUIRED, {"body": "required"})
    value = value.strip()
    if len(value) > MAX_BODY:
        raise BadInput(ErrorCode.BODY_TOO_LONG_NOW.of(max=MAX_BODY, length=len(value)),
                       {"body": "too_long"})
    if not is_storable(value):
        raise BadInput(ErrorCode.BODY_UNSTORABLE, {"body": "invalid"})
    return str(value)


def _braced(names: tuple[str, ...] | list[str]) -> str:
    return ", ".join("{" + name + "}" for name in names)
