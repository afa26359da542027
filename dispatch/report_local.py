"""The centre's local hour or day of a stored UTC instant, worked out by the database.

A zone's offset is constant between its transitions, so over a report's period the local
time is the UTC instant plus one of a few offsets, chosen by which span between transitions
it falls in. The spans come from Python's zoneinfo (the same rules the Python path uses), so
the SQL needs no timezone support of its own (SQLite has none), and any offset is exact:
whole hours (Europe/Helsinki), half hours (Asia/Kolkata), or a half-hour daylight saving
shift (Australia/Lord_Howe).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, String, case, func, literal_column, type_coerce

from dispatch.report_period import Dimension

SAMPLE = timedelta(hours=1)  # zones change offset at most once in an hour (in fact twice a year)


@dataclass(frozen=True, slots=True)
class Span:
    """From `since` on (until the next span's), local time is UTC plus `offset_s`."""

    since: datetime
    offset_s: int


def _offset(zone: ZoneInfo, at: int) -> int:
    found = datetime.fromtimestamp(at, UTC).astimezone(zone).utcoffset()
    return int(found.total_seconds()) if found is not None else 0


def spans(zone: ZoneInfo, start: datetime, end: datetime) -> list[Span]:
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
    return found


def _shifted(column: Any, periods: list[Span], arm: str) -> ColumnElement[Any]:
    """The offset of the span `column` falls in, as `arm` formats it (a literal: whole
    seconds, nothing from outside)."""
    value: list[ColumnElement[Any]] = [literal_column(arm.format(span.offset_s))
                                       for span in periods]
    if len(periods) == 1:
        return value[0]
    return case(*[(column < span.since, value[n]) for n, span in enumerate(periods[1:])],
                else_=value[-1])


FORMATS = {
    "sqlite": {Dimension.HOUR: "%H", Dimension.DAY: "%Y-%m-%d"},
    "postgresql": {Dimension.HOUR: "HH24", Dimension.DAY: "YYYY-MM-DD"},
}


def local_text(column: Any, by: Dimension, zone: ZoneInfo, start: datetime, end: datetime,
               dialect: str) -> ColumnElement[str]:
    """The local hour ("00"-"23") or date ("YYYY-MM-DD") of `column` for instants in
    [start, end), in `dialect`'s SQL."""
    periods = spans(zone, start, end)
    if dialect == "sqlite":
        # Stored as "YYYY-MM-DD HH:MM:SS.ffffff" UTC; strftime takes a "+N seconds" modifier.
        # The fraction is left out: SQLite's clock keeps milliseconds and rounds .9995 up.
        modifier = _shifted(column, periods, "'{:+d} seconds'")
        return type_coerce(func.strftime(FORMATS["sqlite"][by], func.substr(column, 1, 19),
                                         modifier), String)
    if dialect == "postgresql":
        shift = _shifted(column, periods, "interval '{:d} seconds'")
        return type_coerce(func.to_char(func.timezone("UTC", column) + shift,
                                        FORMATS["postgresql"][by]), String)
    raise ValueError(f"no local time for the {dialect} dialect")
