"""The audit trail as CSV, safe to open in a spreadsheet.

A cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return would be read as a
formula by Excel, LibreOffice or Sheets (CSV injection); such a cell is prefixed with `'`,
which the spreadsheet shows as text and does not evaluate.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
COLUMNS = ("id", "at", "agent_id", "agent_login", "agent_name", "action", "subject",
           "address", "detail")


def safe_cell(value: Any) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else (
        json.dumps(value, ensure_ascii=False, sort_keys=True)
        if isinstance(value, dict | list) else str(value))
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_lines(entries: Iterable[Mapping[str, Any]], *, header: bool) -> str:
    """The entries as CSV rows (with the header row first when `header`)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    if header:
        writer.writerow(COLUMNS)
    for entry in entries:
        writer.writerow([safe_cell(entry.get(column)) for column in COLUMNS])
    return out.getvalue()
