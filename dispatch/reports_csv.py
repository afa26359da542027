"""Reports as CSV: every cell through hub.csv_safe, so a lane or agent name that looks
like a formula is shown as text by a spreadsheet, never run."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

from dispatch.report_facts import RequestFacts
from dispatch.report_figures import FIGURES, Report, seconds
from hub.csv_safe import safe_cell

REQUEST_COLUMNS = (
    "reference", "channel", "lane", "started", "queued", "service_started", "ended",
    "queue_wait_s", "processing_delay_s", "total_service_s", "first_response_s",
    "last_agent",
)


def _lines(rows: Iterable[Sequence[object]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerows([safe_cell(cell) for cell in row] for row in rows)
    return out.getvalue()


def report_csv(report: Report) -> str:
    """One line per group, then the period's total."""
    head = [report.by.value, "label", *FIGURES]
    body = [[group.key, group.label, *figures.values()] for group, figures in report.rows()]
    total = ["total", "", *report.total().figures().values()]
    return _lines([head, *body, total])


def requests_head() -> str:
    return _lines([REQUEST_COLUMNS])


def _time(value: object) -> object:
    return value.isoformat() if hasattr(value, "isoformat") else value


def _round(value: float | None) -> float | None:
    return round(value, 3) if value is not None else None


def requests_lines(facts: Iterable[RequestFacts]) -> str:
    """The register's per-request timings: no name, number, address or text of a passenger."""
    return _lines([
        f.reference, f.channel, f.lane, _time(f.case_started_at), _time(f.queued_at),
        _time(f.service_started_at), _time(f.ended_at),
        _round(seconds(f.queued_at, f.service_started_at)),
        _round(seconds(f.case_started_at, f.service_started_at)),
        _round(seconds(f.service_started_at, f.ended_at)),
        _round(seconds(f.case_started_at, f.first_response_at)),
        f.last_agent_name,
    ] for f in facts)
