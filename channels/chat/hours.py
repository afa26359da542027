"""Opening hours of the chat: when dispatchers answer it, in the company's local time.

    "mo-fr 07:00-22:00, sa-su 09:00-18:00"     weekday ranges and times
    "ma-pe 7-22; la,su 9:00-18:00"             Finnish day names, lists, bare hours
    "fr-sa 20:00-04:00"                        past midnight: belongs to the day it starts on

Days are `mo tu we th fr sa su` or `ma ti ke to pe la su`; a range may wrap (`sa-mo`).
An empty text means always open.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from hub.errors import OperatorMustAct

DAYS = {name: index for names in ("mo tu we th fr sa su", "ma ti ke to pe la su")
        for index, name in enumerate(names.split())}
DAY = r"[a-z]{2}"
DAY_SPEC = rf"{DAY}(?:\s*-\s*{DAY})?"
TIME = r"\d{1,2}(?::\d{2})?"
RULE = re.compile(
    rf"^\s*({DAY_SPEC}(?:\s*[,/]\s*{DAY_SPEC})*)\s+({TIME})\s*-\s*({TIME})\s*$")
DAY_MINUTES = 24 * 60


@dataclass(frozen=True, slots=True)
class Rule:
    days: frozenset[int]  # 0 = Monday
    start: int  # minutes after midnight
    end: int  # at or before start: runs past midnight into the next day

    def covers(self, weekday: int, minute: int) -> bool:
        if self.start < self.end:
            return weekday in self.days and self.start <= minute < self.end
        return ((weekday in self.days and minute >= self.start)
                or ((weekday - 1) % 7 in self.days and minute < self.end))


@dataclass(frozen=True, slots=True)
class OpeningHours:
    rules: tuple[Rule, ...]
    timezone: ZoneInfo

    def is_open(self, at: datetime) -> bool:
        """Whether `at` (timezone-aware) falls within the hours; always true with no rules."""
        if not self.rules:
            return True
        local = at.astimezone(self.timezone)
        minute = local.hour * 60 + local.minute
        return any(rule.covers(local.weekday(), minute) for rule in self.rules)

    def next_opening(self, at: datetime) -> datetime | None:
        """When the chat next opens after `at` (a rule's start in the week ahead); None
        with no rules (always open)."""
        local = at.astimezone(self.timezone)
        midnight = datetime.combine(local.date(), time(), self.timezone)
        starts = (midnight + timedelta(days=offset, minutes=rule.start)
                  for offset in range(8) for rule in self.rules
                  if (local.weekday() + offset) % 7 in rule.days)
        return min((start for start in starts if start > at), default=None)


def parse_hours(text: str, timezone: str) -> OpeningHours:
    """Parse `chat.opening_hours`; OperatorMustAct names the part that cannot be read."""
    rules: list[Rule] = []
    # A comma after a time ends a rule; one after a day name continues a list of days.
    for part in re.split(r"[;\n]|(?<=\d)\s*,", text.lower()):
        if not part.strip():
            continue
        found = RULE.match(part)
        if found is None:
            raise OperatorMustAct(f"chat.opening_hours: cannot read {part.strip()!r}; write "
                                  "e.g. 'mo-fr 07:00-22:00, sa-su 09:00-18:00'")
        rules.append(Rule(_days(found.group(1)), _minutes(found.group(2), part),
                          _minutes(found.group(3), part)))
    return OpeningHours(tuple(rules), ZoneInfo(timezone))


def _days(spec: str) -> frozenset[int]:
    days: set[int] = set()
    for item in re.split(r"\s*[,/]\s*", spec.strip()):
        first, _, last = (p.strip() for p in item.partition("-"))
        start, end = _day(first), _day(last or first)
        days.update((start + step) % 7 for step in range((end - start) % 7 + 1))
    return frozenset(days)


def _day(name: str) -> int:
    try:
        return DAYS[name]
    except KeyError:
        raise OperatorMustAct(f"chat.opening_hours: {name!r} is not a day; use "
                              "mo tu we th fr sa su or ma ti ke to pe la su") from None


def _minutes(text: str, part: str) -> int:
    hours, _, minutes = text.partition(":")
    value = int(hours) * 60 + int(minutes or 0)
    if value > DAY_MINUTES or int(minutes or 0) >= 60:
        raise OperatorMustAct(f"chat.opening_hours: {text!r} in {part.strip()!r} is not a time")
    return value
