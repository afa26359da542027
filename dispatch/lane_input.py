"""What an admin sends for a lane or a routing rule, checked into table rows (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hub.error_codes import ErrorCode
from hub.errors import BadInput
from hub.lanes import LANE_KEY, Strategy, parse_opening_hours
from hub.model import Channel

MAX_OFFER_TIMEOUT_S = 600
MAX_WINDOW_S = 7 * 24 * 3600
MAX_TARGET_WAIT_S = 24 * 3600
MAX_KEYWORDS = 50
MAX_KEYWORD_CHARS = 60


def lane_values(body: Mapping[str, Any], *, key: str | None = None) -> dict[str, Any]:
    """Columns of a lane from a full JSON body (PUT replaces every setting)."""
    key = key if key is not None else _text(body, "key", 64)
    if not LANE_KEY.match(key):
        raise BadInput(ErrorCode.LANE_KEY_FORMAT, {"key": "invalid"})
    strategy = body.get("strategy", Strategy.MANUAL.value)
    if not isinstance(strategy, str) or strategy not in {s.value for s in Strategy}:
        raise BadInput(ErrorCode.STRATEGY_INVALID.of(allowed=", ".join(s.value for s in Strategy)),
                       {"strategy": "invalid"})
    try:
        hours = parse_opening_hours(body.get("opening_hours"))
    except ValueError as exc:
        raise BadInput(ErrorCode.OPENING_HOURS_INVALID.of(problem=str(exc)),
                       {"opening_hours": "invalid"}) from exc
    return {
        "key": key,
        "name_fi": _text(body, "name_fi", 100),
        "name_en": _text(body, "name_en", 100),
        "position": _number(body, "position", 0, 0, 10_000),
        "priority": _number(body, "priority", 0, -1000, 1000),
        "strategy": strategy,
        "offer_timeout_s": _number(body, "offer_timeout_s", 30, 5, MAX_OFFER_TIMEOUT_S),
        "last_agent_window_s": _number(body, "last_agent_window_s", 0, 0, MAX_WINDOW_S),
        "capacity": _number(body, "capacity", 0, 0, 1000),
        "target_wait_s": _number(body, "target_wait_s", 120, 10, MAX_TARGET_WAIT_S),
        "opening_hours": hours.to_json(),
        "active": _flag(body, "active", True),
    }


def rule_values(body: Mapping[str, Any]) -> dict[str, Any]:
    """Columns of a routing rule; at least one condition unless it is meant to catch all."""
    channel = body.get("channel")
    if channel is not None and (not isinstance(channel, str)
                                or channel not in {c.value for c in Channel}):
        raise BadInput(ErrorCode.RULE_CHANNEL_INVALID.of(
            allowed=", ".join(c.value for c in Channel)),
                       {"channel": "invalid"})
    keywords = body.get("keywords") or []
    if (not isinstance(keywords, list) or len(keywords) > MAX_KEYWORDS
            or not all(isinstance(k, str) and 0 < len(k.strip()) <= MAX_KEYWORD_CHARS
                       for k in keywords)):
        raise BadInput(ErrorCode.KEYWORDS_INVALID.of(max=MAX_KEYWORDS, max_chars=MAX_KEYWORD_CHARS),
                       {"keywords": "invalid"})
    return {
        "lane": _text(body, "lane", 64),
        "position": _number(body, "position", 0, 0, 10_000),
        "channel": channel,
        "contacted": _optional_text(body, "contacted", 320),
        "keywords": [k.strip() for k in keywords],
        "form": _optional_text(body, "form", 64),
        "active": _flag(body, "active", True),
    }


def _text(body: Mapping[str, Any], name: str, limit: int) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        raise BadInput(ErrorCode.FIELD_REQUIRED.of(field=name), {name: "required"})
    if len(value.strip()) > limit:
        raise BadInput(ErrorCode.FIELD_TOO_LONG.of(field=name, max=limit), {name: "too_long"})
    return value.strip()


def _optional_text(body: Mapping[str, Any], name: str, limit: int) -> str | None:
    if body.get(name) in (None, ""):
        return None
    return _text(body, name, limit)


def _number(body: Mapping[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BadInput(ErrorCode.FIELD_NOT_IN_RANGE.of(field=name, min=low, max=high),
                       {name: "invalid"})
    return value


def _flag(body: Mapping[str, Any], name: str, default: bool) -> bool:
    value = body.get(name, default)
    if not isinstance(value, bool):
        raise BadInput(ErrorCode.FIELD_NOT_BOOLEAN.of(field=name), {name: "invalid"})
    return value
