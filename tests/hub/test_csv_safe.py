"""hub.csv_safe: a cell a spreadsheet would run as a formula is made text; others unchanged."""

from __future__ import annotations

import pytest

from hub.csv_safe import safe_cell


@pytest.mark.parametrize(("value", "cell"), [
    ("=1+1", "'=1+1"), ("+358401234567", "'+358401234567"), ("-2", "'-2"),
    ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"), ("\rx", "'\rx"),
    ("Aino", "Aino"), ("a=b", "a=b"), ("", ""), (None, ""),
    (-2, "-2"), (1.5, "1.5"), (True, "true"),
])
def test_formula_cells_are_prefixed(value: object, cell: str) -> None:
    assert safe_cell(value) == cell
