"""The passenger's optional details before (or with) a chat: name, phone, email, and the
taxi-order shortcut's pickup address and time. Pure: checked and normalised here, stored with
the passenger's next message."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from channels.chat.transcript import valid_email
from hub.errors import BadInput
from hub.phone import to_e164
from hub.text import is_storable

CLOCK = re.compile(r"^(\d{1,2})[:.](\d{2})$")


def normalise_prechat(fields: dict[str, str], *, default_region: str, timezone: str,
                      now: datetime) -> tuple[dict[str, str], dict[str, str]]:
    """(the accepted values, {field: "invalid"} for the others)."""
    values: dict[str, str] = {}
    errors: dict[str, str] = {}
    for name, text in fields.items():
        if not is_storable(text):
            errors[name] = "invalid"
            continue
        try:
            values[name] = _normalise(name, text, default_region, timezone, now)
        except (BadInput, ValueError):
            errors[name] = "invalid"
    return values, errors


def _normalise(name: str, text: str, region: str, timezone: str, now: datetime) -> str:
    if name == "phone":
        return to_e164(text, region)
    if name == "email":
        if not valid_email(text):
            raise ValueError(name)
        return text.lower()
    if name == "pickup_time":
        return pickup_time(text, timezone, now)
    return text


def pickup_time(text: str, timezone: str, now: datetime) -> str:
    """An ISO time with offset. A bare clock time ("18:30") is its next occurrence in the
    company's timezone; an ISO time without offset is local to it."""
    zone = ZoneInfo(timezone)
    clock = CLOCK.match(text)
    if clock is not None:
        local = now.astimezone(zone)
        at = local.replace(hour=int(clock.group(1)), minute=int(clock.group(2)), second=0,
                           microsecond=0)
        if at < local - timedelta(minutes=5):
            at += timedelta(days=1)
        return at.isoformat()
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    return parsed.isoformat()
