"""Group members as CSV text, as an office keeps its rota in a spreadsheet: one member per
line, `name;phone;email` (a spreadsheet in Finnish saves `;`; a line without one may use a
tab or a comma). Either contact may be left empty; a header line is recognised and skipped.

Pure parsing: the values are checked (number to E.164, address) by dispatch.groups.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass

from hub.error_codes import ErrorCode
from hub.errors import BadInput

MAX_ROWS = 500  # dispatch.groups.MAX_MEMBERS: a whole group in one paste
MAX_TEXT_CHARS = 200_000
HEADER_WORDS = frozenset({"name", "nimi", "namn", "phone", "puhelin", "email", "sähköposti"})


@dataclass(frozen=True, slots=True)
class CsvMember:
    line: int
    name: str
    phone: str | None
    email: str | None
    problem: str | None = None  # what is wrong with the line's shape, told with the rest


def parse_members(text: str) -> list[CsvMember]:
    """The members in `text`, in order (a line of more than three fields says so in
    `problem`); BadInput when there are none or too many."""
    if len(text) > MAX_TEXT_CHARS:
        raise BadInput(ErrorCode.CSV_TOO_LONG.of(max=MAX_TEXT_CHARS), {"csv": "too_long"})
    lines = text.lstrip("\ufeff").splitlines()
    found: list[CsvMember] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        cells = [cell.strip() for cell in next(csv.reader([line], delimiter=_delimiter(line)))]
        if not found and _is_header(cells):
            continue
        cells += [""] * (3 - len(cells))
        problem = "fields: too_many" if any(cells[3:]) else None
        found.append(CsvMember(number, cells[0], cells[1] or None, cells[2] or None, problem))
    if not found:
        raise BadInput(ErrorCode.CSV_EMPTY,
                       {"csv": "empty"})
    if len(found) > MAX_ROWS:
        raise BadInput(ErrorCode.CSV_TOO_MANY.of(max=MAX_ROWS), {"csv": "too_many"})
    return found


def _delimiter(line: str) -> str:
    for candidate in (";", "\t"):
        if candidate in line:
            return candidate
    return ","


def _is_header(cells: list[str]) -> bool:
    return bool(cells) and cells[0].lower() in HEADER_WORDS
