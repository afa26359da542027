"""The query parameters the console's lists share: a page size and a point in time, each
refused with a reason (400) when it is not what the list takes."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from hub.error_codes import ErrorCode
from hub.errors import BadInput


def page_limit(query: Mapping[str, str], default: int, maximum: int) -> int:
    """`?limit=`: a whole number from 1 to `maximum`, `default` when not given."""
    try:
        limit = int(query.get("limit", default))
    except ValueError:
        limit = 0
    if not 1 <= limit <= maximum:
        raise BadInput(ErrorCode.LIMIT_INVALID.of(max=maximum))
    return limit


def instant(query: Mapping[str, str], name: str) -> datetime | None:
    """`?from=` / `?to=`: an ISO 8601 time with its offset, in UTC; None when not given."""
    text = query.get(name)
    if not text:
        return None
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        at = None
    if at is None or at.tzinfo is None:
        raise BadInput(ErrorCode.TIME_INVALID.of(field=name))
    return at.astimezone(UTC)
