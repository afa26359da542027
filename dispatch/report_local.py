"""The centre's local hour or day of a stored UTC instant, worked out by the database.

A zone's offset is constant between its transitions, so over a report's period the local
time is the UTC instant plus one of a few offsets, chosen by which span between transitions
it falls in. The spans come from Python's zoneinfo (the same rules the Python path uses), so
the SQL needs no timezone support of its own (SQLite has none), and any offset is exact:
whole hours (Europe/Helsinki), half hours (Asia/Kolkata), or a half-hour daylight saving
shift (Australia/Lord_Howe).

The instant is read as whole microseconds since the epoch (hub.schema's `*_us`), so the
local day or hour is integer arithmetic on any dialect, and the zone is the one asked for
at read time: a deployment that changes its timezone gets its days right at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import BigInteger, ColumnElement, case, literal

from dispatch.report_period import Dimension
from hub.epoch import epoch_us

SAMPLE = timedelta(hours=1)  # zones change offset at most once in an hour (in fact twice a year)


@dataclass(frozen=True, slots=True)
class Span:
    """From `since` on (until the next span's), local time is UTC plus `offset_s`."""

    since: datetime
    offset_s: int


def _offset(zone: ZoneInfo, at: int) -> int:
    found = datetime.fromtimestamp(at, UTC).astimezone(zone).utcoffset()
    return int(found.total_seconds()) if found is not None else 0


@lru_cache(maxsize=64)  # a report asks three times for the same period
def spans(zone: ZoneInfo, start: datetime, end: datetime) -> tuple[Span, ...]:
    """The offsets over [start, end): sampled hourly, each change found to the second."""
    first, last = int(start.timestamp()), int(end.timestamp())
    found = [Span(start, _offset(zone, first))]
    at = first
    while at < last:
        ahead = min(at + int(SAMPLE.total_seconds()), last)
        if _offset(zone, ahead) != found[-1].offset_s:
            low, high = at, ahead  # the offset at low is the old one, at high the new one
            while high - low > 1:
                middle = (low + high) // 2
                if _offset(zone, middle) == found[-1].offset_s:
                    low = middle
                else:
                    high = middle
            found.append(Span(datetime.fromtimestamp(high, UTC), _offset(zone, high)))
        at = ahead
    return tuple(found)


US_PER = {Dimension.HOUR: 3_600_000_000, Dimension.DAY: 86_400_000_000}
EPOCH_DAY = date(1970, 1, 1)


def _offset_us(column_us: Any, periods: tuple[Span, ...]) -> ColumnElement[int]:
    """The offset (us) of the span the instant `column_us` falls in."""
    value = [literal(span.offset_s * 1_000_000, BigInteger) for span in periods]
    if len(periods) == 1:
        return value[0]
    return case(*[(column_us < epoch_us(span.since), value[n])
                  for n, span in enumerate(periods[1:])], else_=value[-1])


def local_number(column_us: Any, by: Dimension, zone: ZoneInfo, start: datetime,
                 end: datetime) -> ColumnElement[int]:
    """The local hour (0-23) or day (days since 1970-01-01, `day_of` turns it into a date)
    of the instant `column_us` (microseconds since the epoch) for instants in
    [start, end)."""
    local: ColumnElement[int] = column_us + _offset_us(column_us, spans(zone, start, end))
    # Floor division: the hub's instants are after 1970, so toward zero is the same.
    number = local // US_PER[by]
    return number % 24 if by is Dimension.HOUR else number


def key_text(by: Dimension, number: int) -> str:
    """A `local_number` as the report words it: "00"-"23", or "YYYY-MM-DD"."""
    if by is Dimension.HOUR:
        return f"{number:02d}"
    return (EPOCH_DAY + timedelta(days=number)).isoformat()
