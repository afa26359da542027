"""What the console's queue search and filters mean in SQL: the search words, the "mine",
"unassigned" and "callbacks" filters, and the queue order.

A dispatcher types what the passenger said on the phone: a number the way Finns write it
("040 123 4567"), a name, a reference or a word of the message. Numbers are stored in E.164
("+358401234567"), so a number in national form is also looked for with the country code.
Every word must match something of the request (name, identity, reference, preview, or a
message's subject or body); a search that is only a number is one word, spaces and all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import phonenumbers
from sqlalchemy import ColumnElement, and_, case, exists, or_, select

from hub import schema
from hub.errors import BadInput

r = schema.contact_requests
c = schema.contacts
i = schema.contact_identities
m = schema.messages

MAX_QUERY_CHARS = 200
MAX_WORDS = 8
# Fewer digits than this are not treated as a number: "12" would match half the queue.
MIN_NUMBER_DIGITS = 4
_NUMBER = re.compile(r"^\+?[\d\s().-]+$")


class QueueFilter(StrEnum):
    MINE = "mine"
    UNASSIGNED = "unassigned"
    CALLBACKS = "callbacks"


@dataclass(frozen=True, slots=True)
class Word:
    """One search word, and the forms a stored phone number holding it would contain."""

    text: str
    numbers: tuple[str, ...] = ()


def number_forms(text: str, default_region: str) -> tuple[str, ...]:
    """What an E.164 number containing the typed (possibly partial) number contains:
    `0401234` in FI gives `+358401234` and the bare digits; `+358 40` gives `+35840`;
    `00358 40` gives `+35840`. Empty for text that is not a number."""
    text = text.strip()
    if not _NUMBER.match(text):
        return ()
    digits = re.sub(r"\D", "", text)
    if len(digits) < MIN_NUMBER_DIGITS:
        return ()
    if text.startswith("+"):
        return (f"+{digits}",)
    if digits.startswith("00"):
        return (f"+{digits[2:]}",)
    forms = [digits]
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(default_region.upper())
    trunk = metadata.national_prefix if metadata is not None else None
    if trunk and digits.startswith(trunk):
        code = phonenumbers.country_code_for_region(default_region.upper())
        forms.insert(0, f"+{code}{digits[len(trunk):]}")
    return tuple(forms)


def parse_query(q: str, default_region: str) -> list[Word]:
    """The words of a search; BadInput when it is too long to be a search."""
    q = q.strip()
    if len(q) > MAX_QUERY_CHARS:
        raise BadInput(f"q is at most {MAX_QUERY_CHARS} characters", {"q": "too_long"})
    if not q:
        return []
    whole = number_forms(q, default_region)
    if whole:
        return [Word(q, whole)]
    words = q.split()
    if len(words) > MAX_WORDS:
        raise BadInput(f"q is at most {MAX_WORDS} words", {"q": "too_many_words"})
    return [Word(word, number_forms(word, default_region)) for word in words]


def word_matches(word: Word) -> ColumnElement[bool]:
    """The request matches this word somewhere a dispatcher would look for it."""
    text = word.text
    identity = exists(select(1).where(
        i.c.contact_id == r.c.contact_id,
        or_(i.c.value.icontains(text, autoescape=True),
            *(and_(i.c.kind == "phone", i.c.value.contains(form, autoescape=True))
              for form in word.numbers)),
    ))
    message = exists(select(1).where(
        m.c.request_id == r.c.id,
        or_(m.c.body.icontains(text, autoescape=True),
            m.c.subject.icontains(text, autoescape=True)),
    ))
    return or_(
        r.c.reference.icontains(text, autoescape=True),
        c.c.name.icontains(text, autoescape=True),
        r.c.preview.icontains(text, autoescape=True),
        identity,
        message,
    )


def is_callback() -> ColumnElement[bool]:
    return r.c.details["callback"].as_string() == "true"


def _due() -> ColumnElement[Any]:
    return r.c.details["callback_due_at"].as_string()


def filter_clause(chosen: QueueFilter, agent_id: Any) -> ColumnElement[bool]:
    if chosen is QueueFilter.MINE:
        return r.c.assigned_agent_id == agent_id
    if chosen is QueueFilter.UNASSIGNED:
        return r.c.assigned_agent_id.is_(None)
    return is_callback()


def parse_filter(value: str) -> QueueFilter | None:
    if not value or value == "all":
        return None
    try:
        return QueueFilter(value)
    except ValueError as exc:
        raise BadInput(f"filter must be one of {[f.value for f in QueueFilter]}",
                       {"filter": "invalid"}) from exc


def queue_order(now: datetime, chosen: QueueFilter | None) -> list[ColumnElement[Any]]:
    """Priority, then the longest waiting; a callback past its deadline rises to the top.
    The callbacks view goes by deadline, soonest (most overdue) first.

    hub/calls.py writes deadlines as UTC ISO text, so text order is time order."""
    overdue = case((and_(is_callback(), _due() < now.isoformat()), 0), else_=1)
    order: list[ColumnElement[Any]] = [overdue]
    if chosen is QueueFilter.CALLBACKS:
        order += [case((_due().is_(None), 1), else_=0), _due()]
    return [*order, r.c.priority.desc(), r.c.case_started_at, r.c.id]
