"""The audit trail as CSV, safe to open in a spreadsheet (hub.csv_safe: a cell that would
start a formula is prefixed with `'`, which the spreadsheet shows as text).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from typing import Any

from hub.csv_safe import safe_cell

COLUMNS = ("id", "at", "agent_id", "agent_login", "agent_name", "action", "subject",
           "address", "detail")


def csv_lines(entries: Iterable[Mapping[str, Any]], *, header: bool) -> str:
    """The entries as CSV rows (with the header row first when `header`)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    if header:
        writer.writerow(COLUMNS)
    for entry in entries:
        writer.writerow([safe_cell(entry.get(column)) for column in COLUMNS])
    return out.getvalue()
