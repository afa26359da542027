"""Lanes and routing rules: which queue a new request waits in, with what priority, and
when that queue is open. Plain data and pure functions; `hub.lane_book` loads them.

A taxi centre runs a few lanes (orders, "where is my taxi", lost property, invoicing, driver
support). Rules are tried in their order; the first that matches a new contact picks its lane,
and a contact no rule matches waits in the default lane.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from hub.json_types import JsonObject
from hub.model import CallbackAsk, Channel, InboundContact

DEFAULT_LANE = "default"
DEFAULT_PRIORITY = 0
DEFAULT_TIMEZONE = "Europe/Helsinki"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
LANE_KEY = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$|^24:00$")


class Strategy(StrEnum):
    MANUAL = "manual"  # dispatchers pick from the shared queue (the taxi-centre default)
    OFFER = "offer"  # offered to the longest-idle available dispatcher, then the next


@dataclass(frozen=True, slots=True)
class OpeningHours:
    """Weekly opening spans in a local timezone, minus closed dates. No spans: always open."""

    timezone: str = DEFAULT_TIMEZONE
    week: Mapping[str, tuple[tuple[time, time], ...]] = field(default_factory=dict)
    closed_dates: frozenset[date] = frozenset()

    @property
    def always_open(self) -> bool:
        return not self.week and not self.closed_dates

    def is_open(self, at: datetime) -> bool:
        if self.always_open:
            return True
        local = at.astimezone(ZoneInfo(self.timezone))
        if local.date() in self.closed_dates:
            return False
        if not self.week:
            return True
        now = local.time()
        return any(start <= now < end or (end == time(0) and now >= start)
                   for start, end in self.week.get(WEEKDAYS[local.weekday()], ()))

    def next_opening(self, at: datetime) -> datetime | None:
        """The first moment at or after `at` when the lane is open (None: never, in 2 weeks)."""
        if self.is_open(at):
            return at
        zone = ZoneInfo(self.timezone)
        local = at.astimezone(zone)
        for days in range(15):
            day = local.date() + timedelta(days=days)
            if day in self.closed_dates:
                continue
            spans = self.week.get(WEEKDAYS[day.weekday()], ()) if self.week else ((time(0),
                                                                                    time(0)),)
            for start, _end in sorted(spans):
                candidate = datetime.combine(day, start, zone)
                if candidate >= local:
                    return candidate.astimezone(at.tzinfo)
        return None

    def to_json(self) -> JsonObject:
        return {
            "timezone": self.timezone,
            "week": {day: [[_clock(s), _clock(e)] for s, e in spans]
                     for day, spans in self.week.items()},
            "closed_dates": sorted(d.isoformat() for d in self.closed_dates),
        }


@dataclass(frozen=True, slots=True)
class Lane:
    key: str
    name_fi: str
    name_en: str
    position: int = 0
    priority: int = DEFAULT_PRIORITY
    strategy: Strategy = Strategy.MANUAL
    offer_timeout_s: int = 30
    last_agent_window_s: int = 0  # prefer the passenger's last dispatcher this long; 0: off
    capacity: int = 0  # open requests one dispatcher may hold from this lane; 0: no limit
    target_wait_s: int = 120
    opening_hours: OpeningHours = field(default_factory=OpeningHours)
    active: bool = True


@dataclass(frozen=True, slots=True)
class RoutingRule:
    id: str
    lane: str
    position: int = 0
    channel: Channel | None = None
    contacted: str | None = None  # the number or address the passenger contacted
    keywords: tuple[str, ...] = ()
    form: str | None = None
    active: bool = True

    def matches(self, contact: InboundContact) -> bool:
        """Every condition the rule sets must hold; a rule that sets none matches all."""
        details = contact.details
        if self.channel is not None and contact.channel is not self.channel:
            return False
        if self.contacted is not None and not _same_address(self.contacted,
                                                            details.get("to", "")):
            return False
        if self.form is not None and details.get("form", "") != self.form:
            return False
        if self.keywords:
            text = f"{contact.subject or ''}\n{contact.body}".casefold()
            if not any(_has_word(text, word) for word in self.keywords):
                return False
        return True


DEFAULT = Lane(DEFAULT_LANE, "Yleinen", "General")


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a new request waits. Outside its lane's opening hours it is a callback request
    due at the next opening (`callback`, and `details` to add to the request's own)."""

    lane: str
    priority: int
    details: Mapping[str, str] = field(default_factory=dict)
    callback: CallbackAsk | None = None


@dataclass(frozen=True, slots=True)
class LanePlan:
    """The lanes and rules in force: a snapshot, replaced whole when an admin changes them."""

    lanes: Mapping[str, Lane]
    rules: Sequence[RoutingRule] = ()

    def place(self, contact: InboundContact) -> Placement:
        """The lane a new request from this contact waits in, its priority, and whether it
        came while the lane is closed."""
        lane = next((self.lanes[rule.lane] for rule in self.rules
                     if rule.active and rule.lane in self.lanes
                     and self.lanes[rule.lane].active and rule.matches(contact)), self.default)
        at = contact.received_at
        if lane.opening_hours.is_open(at):
            return Placement(lane.key, lane.priority)
        return Placement(lane.key, lane.priority, {"out_of_hours": "true"},
                         CallbackAsk(lane.opening_hours.next_opening(at), contact.phone))

    @property
    def default(self) -> Lane:
        return self.lanes.get(DEFAULT_LANE, DEFAULT)

    def lane(self, key: str) -> Lane:
        return self.lanes.get(key, self.default)


EMPTY_PLAN = LanePlan({DEFAULT_LANE: DEFAULT})


def parse_opening_hours(raw: Any) -> OpeningHours:
    """Opening hours from their JSON form; ValueError names what is wrong."""
    if raw is None or raw == {}:
        return OpeningHours()
    if not isinstance(raw, dict):
        raise ValueError("opening_hours must be an object")
    timezone = raw.get("timezone") or DEFAULT_TIMEZONE
    try:
        ZoneInfo(str(timezone))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown timezone {timezone!r}") from exc
    week_raw = raw.get("week") or {}
    if not isinstance(week_raw, dict):
        raise ValueError("opening_hours.week must map weekdays to spans")
    week: dict[str, tuple[tuple[time, time], ...]] = {}
    for day, spans in week_raw.items():
        if day not in WEEKDAYS:
            raise ValueError(f"unknown weekday {day!r} (use {', '.join(WEEKDAYS)})")
        if not isinstance(spans, list):
            raise ValueError(f"opening_hours.week.{day} must be a list of [from, until]")
        week[day] = tuple(_span(day, span) for span in spans)
    dates_raw = raw.get("closed_dates") or []
    if not isinstance(dates_raw, list):
        raise ValueError("opening_hours.closed_dates must be a list of YYYY-MM-DD")
    try:
        closed = frozenset(date.fromisoformat(str(d)) for d in dates_raw)
    except ValueError as exc:
        raise ValueError("opening_hours.closed_dates must be dates as YYYY-MM-DD") from exc
    return OpeningHours(str(timezone), week, closed)


def _span(day: str, span: Any) -> tuple[time, time]:
    if not (isinstance(span, list) and len(span) == 2
            and all(isinstance(t, str) and _CLOCK.match(t) for t in span)):
        raise ValueError(f"opening_hours.week.{day}: a span is [\"HH:MM\", \"HH:MM\"]")
    start, end = (_parse_clock(t) for t in span)
    if end != time(0) and end <= start:
        raise ValueError(f"opening_hours.week.{day}: {span[0]}–{span[1]} ends before it starts")
    return start, end


def _parse_clock(text: str) -> time:
    return time(0) if text == "24:00" else time.fromisoformat(text)


def _clock(value: time) -> str:
    return "24:00" if value == time(0) else value.strftime("%H:%M")


def _has_word(text: str, word: str) -> bool:
    """The word starts a word of the text: Finnish inflects by suffix, so "lasku" (invoice)
    also finds "laskusta" and "laskun"."""
    word = word.casefold().strip()
    return bool(word) and re.search(rf"(?<!\w){re.escape(word)}", text) is not None


def _same_address(wanted: str, contacted: str) -> bool:
    if "@" in wanted:
        return wanted.strip().lower() == contacted.strip().lower()
    return _digits(wanted) == _digits(contacted) != ""


def _digits(number: str) -> str:
    return re.sub(r"\D", "", number)
