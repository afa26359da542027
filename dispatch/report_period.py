"""What a report asks for: the period in the centre's local days, the grouping, and the
service-level threshold, read from a query string with a reason for whatever is wrong."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from hub.clock import utcnow
from hub.error_codes import ErrorCode, Reason
from hub.errors import BadInput

MAX_DAYS = 400  # a year and a bit: a year-on-year month still fits, a decade does not
MAX_SERVICE_LEVEL_S = 86_400
DEFAULT_DAYS = 7  # a report asked for without a period: the last week, today included
# Days a report may name: the hub has no older requests, and the ends of the calendar would
# overflow when turned into UTC instants.
EARLIEST = date(2000, 1, 1)
LATEST = date(2100, 1, 1)


class Dimension(StrEnum):
    """What a report's rows are."""

    LANE = "lane"
    CHANNEL = "channel"
    AGENT = "agent"  # the request's last handling agent
    HOUR = "hour"  # local hour of the case start, 00-23
    DAY = "day"  # local date of the case start


@dataclass(frozen=True, slots=True)
class Period:
    """Local days [first, after) of the centre's timezone, and the same as UTC instants."""

    first: date
    after: date
    zone: ZoneInfo

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time(), self.zone).astimezone(UTC)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.after, time(), self.zone).astimezone(UTC)


@dataclass(frozen=True, slots=True)
class ReportAsk:
    period: Period
    by: Dimension
    service_level_s: int | None  # None: each lane's own target wait


def _bad(field: str, why: Reason) -> BadInput:
    return BadInput(why, {field: "invalid"})


def _day(query: Mapping[str, str], name: str) -> date:
    text = query.get(name, "")
    if not text:
        raise BadInput(ErrorCode.DATE_REQUIRED.of(field=name), {name: "required"})
    try:
        day = date.fromisoformat(text)
    except ValueError as exc:
        raise _bad(name, ErrorCode.DATE_INVALID.of(field=name)) from exc
    if not EARLIEST <= day <= LATEST:
        raise _bad(name, ErrorCode.DATE_OUT_OF_RANGE.of(
            field=name, earliest=EARLIEST.isoformat(), latest=LATEST.isoformat()))
    return day


def parse_period(query: Mapping[str, str], timezone: str) -> Period:
    """`from` (first day) and `to` (the day after the last: [from, to)), local days. Neither
    given: the last DEFAULT_DAYS days up to today, today as the centre's clock has it (a
    browser elsewhere, or on UTC late in the evening, has another date)."""
    if "from" not in query and "to" not in query:
        zone = ZoneInfo(timezone)
        after = utcnow().astimezone(zone).date() + timedelta(days=1)
        return Period(after - timedelta(days=DEFAULT_DAYS), after, zone)
    first, after = _day(query, "from"), _day(query, "to")
    if after <= first:
        raise _bad("to", ErrorCode.PERIOD_REVERSED.of())
    if after - first > timedelta(days=MAX_DAYS):
        raise _bad("to", ErrorCode.PERIOD_TOO_LONG.of(max=MAX_DAYS))
    return Period(first, after, ZoneInfo(timezone))


def parse_ask(query: Mapping[str, str], timezone: str) -> ReportAsk:
    period = parse_period(query, timezone)
    try:
        by = Dimension(query.get("by", Dimension.DAY.value))
    except ValueError as exc:
        raise _bad("by", ErrorCode.REPORT_BY_INVALID.of(
            allowed=", ".join(d.value for d in Dimension))) from exc
    level: int | None = None
    if query.get("service_level_s"):
        try:
            level = int(query["service_level_s"])
        except ValueError:
            level = -1
        if not 0 <= level <= MAX_SERVICE_LEVEL_S:
            raise _bad("service_level_s",
                       ErrorCode.SERVICE_LEVEL_INVALID.of(max=MAX_SERVICE_LEVEL_S))
    return ReportAsk(period, by, level)
