"""CSV cells a spreadsheet will not run: text that would start a formula is made text."""

from __future__ import annotations

import json

# Spreadsheets read a cell starting with one of these as a formula (OWASP, CSV injection);
# tab and carriage return can hide one from a quick look at the cell.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str:
    """`value` as a CSV cell: None empty, a mapping or list as JSON, anything starting like
    a formula prefixed with `'`. Numbers are written as they are (a negative number stays a
    number)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    text = (json.dumps(value, ensure_ascii=False, sort_keys=True)
            if isinstance(value, dict | list) else str(value))
    return "'" + text if text.startswith(FORMULA_STARTS) else text
