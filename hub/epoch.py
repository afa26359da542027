"""Instants as whole microseconds since the Unix epoch (UTC): the integer copies of a
request's timings (hub.schema's `*_us` columns) that the reports add and subtract instead
of parsing a year of timestamps (dispatch.report_counts)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
US = timedelta(microseconds=1)


def epoch_us(at: datetime) -> int:
    """`at` (timezone-aware) as whole microseconds since the epoch, exactly."""
    return (at - EPOCH) // US


TIMINGS = ("case_started", "queued", "service_started", "first_response", "ended")


def timing_copies(row: Mapping[str, object]) -> dict[str, int | None]:
    """The `*_us` copies of the timings a request row to insert holds (`case_started_at`
    ...): a request is inserted with both or the reports miss its timings."""
    found: dict[str, int | None] = {}
    for timing in TIMINGS:
        at = row.get(f"{timing}_at")
        if at is not None and not isinstance(at, datetime):
            raise TypeError(f"{timing}_at must be a datetime, not {type(at).__name__}")
        found[f"{timing}_us"] = epoch_us(at) if at is not None else None
    return found
