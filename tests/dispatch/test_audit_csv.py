"""The audit CSV's cells: whatever a spreadsheet would run as a formula is shown as text."""

from __future__ import annotations

import csv
import io

import pytest

from dispatch.audit_csv import COLUMNS, csv_lines, safe_cell


@pytest.mark.parametrize("text", ["=1+1", "+358401234567", "-2", "@SUM(A1)", "\tx", "\rx"])
def test_a_cell_a_spreadsheet_would_evaluate_is_prefixed(text: str) -> None:
    assert safe_cell(text) == "'" + text


def test_other_cells_are_as_they_were_and_details_are_json() -> None:
    assert safe_cell("agent.update") == "agent.update"
    assert safe_cell(None) == "" and safe_cell(17) == "17"
    assert safe_cell({"login": "=x", "n": 1}) == '{"login": "=x", "n": 1}'


def test_rows_read_back_with_the_csv_module() -> None:
    text = csv_lines([{"id": 1, "action": "login.failed", "subject": "-1",
                       "detail": {"login": "a,b\n"}}], header=True)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == list(COLUMNS)
    assert (rows[0]["id"], rows[0]["subject"], rows[0]["detail"]) == (
        "1", "'-1", '{"login": "a,b\\n"}')
