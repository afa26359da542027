"""What the console's queue search and filters mean in SQL: the search words, the "mine",
"unassigned" and "callbacks" filters, the queue order, and a page of it after a place.

A dispatcher types what the passenger said on the phone: a number the way Finns write it
("040 123 4567"), a name, a reference or a word of the message. Numbers are stored in E.164
("+358401234567"), so a number in national form is also looked for with the country code.
Every word must match something of the request (name, identity, reference, preview, or a
message's subject or body); a search that is only a number is one word, spaces and all.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import phonenumbers
from sqlalchemy import ColumnElement, FromClause, and_, case, exists, false, or_, select, true
from sqlalchemy.ext.asyncio import AsyncConnection

from hub import schema
from hub.callback_columns import is_callback
from hub.error_codes import ErrorCode
from hub.errors import BadInput
from hub.model import OPEN_STATUSES

r = schema.contact_requests
c = schema.contacts
i = schema.contact_identities
m = schema.messages

OPEN = tuple(sorted(s.value for s in OPEN_STATUSES))
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
        raise BadInput(ErrorCode.QUERY_MAX_CHARS.of(max=MAX_QUERY_CHARS), {"q": "too_long"})
    if not q:
        return []
    whole = number_forms(q, default_region)
    if whole:
        return [Word(q, whole)]
    words = q.split()
    if len(words) > MAX_WORDS:
        raise BadInput(ErrorCode.QUERY_MAX_WORDS.of(max=MAX_WORDS), {"q": "too_many_words"})
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


def _due() -> ColumnElement[Any]:
    return r.c.callback_due_at


def filter_clause(chosen: QueueFilter, agent_id: Any) -> ColumnElement[bool]:
    if chosen is QueueFilter.MINE:
        mine: ColumnElement[bool] = r.c.assigned_agent_id == agent_id
        return mine
    if chosen is QueueFilter.UNASSIGNED:
        return r.c.assigned_agent_id.is_(None)
    return is_callback()


def parse_filter(value: str) -> QueueFilter | None:
    if not value or value == "all":
        return None
    try:
        return QueueFilter(value)
    except ValueError as exc:
        raise BadInput(ErrorCode.QUEUE_FILTER_INVALID.of(
            allowed=", ".join(f.value for f in QueueFilter)),
                       {"filter": "invalid"}) from exc


def is_overdue(now: datetime) -> ColumnElement[bool]:
    """An open callback past its deadline (a resolved one was called back: it waits for
    nobody)."""
    return and_(r.c.status.in_(OPEN), is_callback(), _due() < now)


def overdue_rank(now: datetime) -> ColumnElement[int]:
    """0 for an overdue callback, 1 for the rest (a missing detail is not overdue)."""
    return case((is_overdue(now), 0), else_=1)


def queue_order(now: datetime, chosen: QueueFilter | None) -> list[ColumnElement[Any]]:
    """Priority, then the longest waiting, then the id (a total order: paging by cursor
    neither skips nor repeats); an open callback past its deadline rises to the top.
    The callbacks view goes by deadline, soonest (most overdue) first."""
    order: list[ColumnElement[Any]] = [overdue_rank(now)]
    if chosen is QueueFilter.CALLBACKS:
        order += [case((_due().is_(None), 1), else_=0), _due()]
    return [*order, r.c.priority.desc(), r.c.case_started_at, r.c.id]


# A page, by keyset. The queue order of every view but callbacks is (overdue rank, priority
# descending, case start, id): the few overdue callbacks are read apart, and the rest one
# status at a time along ix_contact_requests_queue (status, priority DESC, case_started_at,
# id), so that a page deep in a long history costs what the first one does. A place after a
# priority group is two index ranges: the rest of that group, then the lower priorities.
QueueKey = tuple[int, int, datetime, uuid.UUID]  # overdue rank, priority, case start, id
_KEY_COLUMNS = (r.c.priority, r.c.case_started_at, r.c.id)
_ALONG_INDEX = (r.c.priority.desc(), r.c.case_started_at, r.c.id)


@dataclass(frozen=True, slots=True)
class Listing:
    """Which requests a list holds: its statuses and the other conditions (filters, search
    words, dates), all on contact_requests, or on contacts too when `with_contact`."""

    statuses: tuple[str, ...]
    conditions: tuple[ColumnElement[bool], ...]
    with_contact: bool
    chosen: QueueFilter | None

    def source(self) -> FromClause:
        return r.join(c, c.c.id == r.c.contact_id) if self.with_contact else r


def _sort_key(key: QueueKey) -> tuple[int, int, datetime, uuid.UUID]:
    rank, priority, started, id_ = key
    return rank, -priority, started, id_


def _segments(place: tuple[int, datetime, uuid.UUID] | None) -> list[ColumnElement[bool]]:
    if place is None:
        return [true()]
    priority, started, id_ = place
    rest_of_group = and_(
        r.c.priority == priority, r.c.case_started_at >= started,
        or_(r.c.case_started_at > started, and_(r.c.case_started_at == started, r.c.id > id_)))
    return [rest_of_group, r.c.priority < priority]


async def _scan(conn: AsyncConnection, listing: Listing, where: Sequence[ColumnElement[bool]],
                place: tuple[int, datetime, uuid.UUID] | None, rank: int,
                need: int) -> list[QueueKey]:
    found: list[QueueKey] = []
    for segment in _segments(place):
        rows = await conn.execute(
            select(*_KEY_COLUMNS).select_from(listing.source())
            .where(*listing.conditions, *where, segment)
            .order_by(*_ALONG_INDEX).limit(need - len(found)))
        found += [(rank, priority, started, id_) for priority, started, id_ in rows]
        if len(found) >= need:
            break
    return found


async def queue_page(conn: AsyncConnection, listing: Listing, now: datetime,
                     after: QueueKey | None, fetch: int) -> list[QueueKey]:
    """The keys of the first `fetch` requests after `after` in queue order (not for the
    callbacks view: see `callback_page`), `now` deciding which callbacks are overdue."""
    keys: list[QueueKey] = []
    open_ = [s for s in listing.statuses if s in OPEN]
    if open_ and (after is None or after[0] == 0):
        keys += await _scan(conn, listing, [r.c.status.in_(open_), is_overdue(now)],
                            after[1:] if after else None, 0, fetch)
    if len(keys) < fetch:
        place = after[1:] if after and after[0] == 1 else None
        rest: list[QueueKey] = []
        for status in listing.statuses:
            where = [r.c.status == status]
            if status in OPEN:
                where.append(overdue_rank(now) == 1)
            rest += await _scan(conn, listing, where, place, 1, fetch - len(keys))
        keys += sorted(rest, key=_sort_key)[:fetch - len(keys)]
    return keys


# Newest first (the search across all requests): case start descending, then the request's
# number, along ix_contact_requests_started read backwards whatever the statuses asked.
NewestKey = tuple[datetime, int, uuid.UUID]  # case start, number, id


async def newest_page(conn: AsyncConnection, listing: Listing, after: NewestKey | None,
                      fetch: int) -> list[NewestKey]:
    """The keys of the first `fetch` requests after `after`, newest case start first."""
    query = (select(r.c.case_started_at, r.c.number, r.c.id).select_from(listing.source())
             .where(*listing.conditions, r.c.status.in_(listing.statuses))
             .order_by(r.c.case_started_at.desc(), r.c.number.desc()).limit(fetch))
    if after is not None:
        started, number, _id = after
        query = query.where(or_(r.c.case_started_at < started,
                                and_(r.c.case_started_at == started, r.c.number < number)))
    rows = await conn.execute(query)
    return [(started, int(number), id_) for started, number, id_ in rows]


CallbackKey = tuple[int, int, datetime | None, int, datetime, uuid.UUID]


async def callback_page(conn: AsyncConnection, listing: Listing, now: datetime,
                        after: CallbackKey | None, fetch: int) -> list[CallbackKey]:
    """The callbacks view (a handful of open requests): one statement, by deadline."""
    terms = [overdue_rank(now), case((_due().is_(None), 1), else_=0), _due(), r.c.priority,
             r.c.case_started_at, r.c.id]
    descending = (False, False, False, True, False, False)
    query = (select(*terms).select_from(listing.source())
             .where(*listing.conditions, r.c.status.in_(listing.statuses))
             .order_by(*queue_order(now, QueueFilter.CALLBACKS)).limit(fetch))
    if after is not None:
        query = query.where(_after(list(zip(terms, descending, strict=True)), after))
    rows = await conn.execute(query)
    return [(int(a), int(b), due, priority, started, id_)
            for a, b, due, priority, started, id_ in rows]


def _after(terms: list[tuple[ColumnElement[Any], bool]],
           values: Sequence[Any]) -> ColumnElement[bool]:
    """Rows strictly after `values` in the lexicographic order of `terms` (expression,
    descending). A None value is a NULL, sorted last by the term before it."""
    clause: ColumnElement[bool] = false()
    for (expr, descending), value in reversed(list(zip(terms, values, strict=True))):
        if value is None:
            beyond, same = false(), expr.is_(None)
        else:
            beyond, same = (expr < value if descending else expr > value), expr == value
        clause = or_(beyond, and_(same, clause))
    return clause
