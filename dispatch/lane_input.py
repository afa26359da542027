"""What an admin sends for a lane or a routing rule, checked into table rows (pure).

The models (hub.request_models) have checked the types, enums and ranges; what is left here
is what needs the value itself: trimmed texts and their lengths, the opening hours."""

from __future__ import annotations

from typing import Any

from hub.error_codes import ErrorCode
from hub.errors import BadInput
from hub.lanes import parse_opening_hours
from hub.request_models import MAX_KEYWORD_CHARS, MAX_KEYWORDS, LaneSettings, RoutingRuleInput


def lane_values(body: LaneSettings, *, key: str) -> dict[str, Any]:
    """Columns of a lane from a full body (PUT replaces every setting)."""
    try:
        hours = parse_opening_hours(body.opening_hours)
    except ValueError as exc:
        raise BadInput(ErrorCode.OPENING_HOURS_INVALID.of(problem=str(exc)),
                       {"opening_hours": "invalid"}) from exc
    return {
        "key": key,
        "name_fi": _text(body.name_fi, "name_fi", 100),
        "name_en": _text(body.name_en, "name_en", 100),
        "position": body.position,
        "priority": body.priority,
        "strategy": body.strategy.value,
        "offer_timeout_s": body.offer_timeout_s,
        "last_agent_window_s": body.last_agent_window_s,
        "capacity": body.capacity,
        "target_wait_s": body.target_wait_s,
        "opening_hours": hours.to_json(),
        "active": body.active,
    }


def rule_values(body: RoutingRuleInput) -> dict[str, Any]:
    """Columns of a routing rule; at least one condition unless it is meant to catch all."""
    keywords = [k.strip() for k in body.keywords or ()]
    if not all(0 < len(k) <= MAX_KEYWORD_CHARS for k in keywords):
        raise BadInput(ErrorCode.KEYWORDS_INVALID.of(max=MAX_KEYWORDS, max_chars=MAX_KEYWORD_CHARS),
                       {"keywords": "invalid"})
    return {
        "lane": _text(body.lane, "lane", 64),
        "position": body.position,
        "channel": body.channel.value if body.channel is not None else None,
        "contacted": _text(body.contacted, "contacted", 320) if body.contacted else None,
        "keywords": keywords,
        "form": _text(body.form, "form", 64) if body.form else None,
        "active": body.active,
    }


def _text(value: str, name: str, limit: int) -> str:
    value = value.strip()
    if not value:
        raise BadInput(ErrorCode.FIELD_REQUIRED.of(field=name), {name: "required"})
    if len(value) > limit:
        raise BadInput(ErrorCode.FIELD_TOO_LONG.of(field=name, max=limit), {name: "too_long"})
    return value
