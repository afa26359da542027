"""Look rows up by a set of two-column keys, in a way every database can answer by index.

`(a, b) IN ((?, ?), …)` is what the question means, but SQLite (3.40) answers a row-value
IN by scanning the whole table: every ingest batch read all messages and identities, and its
cost grew with the data. `a IN (…) AND b IN (…)` is answered from the composite index on
both dialects; it can match pairs nobody asked for (a from one key, b from another), so the
caller keeps only the rows whose pair was wanted (`wanted_rows`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam

FIRSTS, SECONDS = "pair_firsts", "pair_seconds"


def pairs_in(first: ColumnElement[Any], second: ColumnElement[Any]) -> ColumnElement[bool]:
    """A filter that matches at least every row whose (first, second) is one of the pairs
    given at execution as `pair_values(pairs)`: a statement built once, run with any pairs."""
    return and_(first.in_(bindparam(FIRSTS, expanding=True)),
                second.in_(bindparam(SECONDS, expanding=True)))


def pair_values(pairs: Collection[tuple[Any, Any]]) -> dict[str, list[Any]]:
    """The parameters of a `pairs_in` filter for these pairs."""
    return {FIRSTS: sorted({a for a, _ in pairs}), SECONDS: sorted({b for _, b in pairs})}


def wanted_rows(rows: Iterable[Any], pairs: Collection[tuple[Any, Any]]) -> list[Any]:
    """The rows whose first two columns form one of `pairs`."""
    wanted = set(pairs)
    return [row for row in rows if (row[0], row[1]) in wanted]
