"""Pure parsing of a taxi-order form submission (form-encoded or JSON) into an InboundContact.

Field errors are reported as codes, one per field; `REASONS` gives the English text.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from hub.error_codes import ErrorCode
from hub.errors import BadInput
from hub.model import Channel, InboundContact
from hub.phone import to_e164
from hub.text import is_storable

MAX_CHARS = {
    "name": 200,
    "phone": 40,
    "email": 320,
    "message": 4000,
    "pickup_address": 300,
    "destination": 300,
    "pickup_time": 40,
    "passengers": 3,
    "submission_token": 128,
    "language": 5,
    "form": 64,  # which form on the company's site: routing rules choose a lane by it
}
FIELDS = frozenset(MAX_CHARS)
MAX_PASSENGERS = 16
PICKUP_GRACE = timedelta(minutes=10)  # a time just past is a typo or slow typing, not an error
PICKUP_HORIZON = timedelta(days=60)
TOKEN = re.compile(r"^[A-Za-z0-9_.:-]{8,128}$")
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")

REASONS = {
    "required": "is required",
    "contact_required": "give a phone number or an email address",
    "order_required": "write a message or give a pickup address",
    "not_text": "must be text",
    "invalid_characters": "contains characters that cannot be stored",
    "too_long": "is too long",
    "invalid_phone": "is not a phone number",
    "invalid_email": "is not an email address",
    "invalid_time": "is not a date and time (YYYY-MM-DDTHH:MM)",
    "time_past": "is in the past",
    "time_too_far": "is too far ahead",
    "invalid_passengers": f"must be a whole number from 1 to {MAX_PASSENGERS}",
    "invalid_token": "must be 8–128 letters, digits or _.:-",
    "reused": "was already used for a different submission",
    "unknown_field": "is not a field of this form",
}


def parse_order(fields: Mapping[str, object], *, default_region: str, timezone: str,
                now: datetime) -> InboundContact:
    errors: dict[str, str] = {}
    text: dict[str, str] = {}
    for name, value in fields.items():
        if name not in FIELDS:
            errors[name] = "unknown_field"
        elif name == "passengers" and isinstance(value, int) and not isinstance(value, bool):
            text[name] = str(value)
        elif value is None:
            continue
        elif not isinstance(value, str):
            errors[name] = "not_text"
        elif len(value) > MAX_CHARS[name]:
            errors[name] = "too_long"
        elif not is_storable(value):
            errors[name] = "invalid_characters"
        else:
            text[name] = value.strip()

    phone = email = None
    if text.get("phone"):
        try:
            phone = to_e164(text["phone"], default_region)
        except BadInput:
            errors["phone"] = "invalid_phone"
    if text.get("email"):
        email = text["email"].lower()
        if not EMAIL.match(email):
            errors["email"] = "invalid_email"
    if not text.get("phone") and not text.get("email") and not {"phone", "email"} & errors.keys():
        errors["phone"] = "contact_required"
    if not text.get("message") and not text.get("pickup_address") and "message" not in errors:
        errors["message"] = "order_required"

    details: dict[str, str] = {}
    for name in ("pickup_address", "destination", "form"):
        if text.get(name):
            details[name] = text[name]
    if text.get("pickup_time"):
        try:
            details["pickup_time"] = _pickup_time(text["pickup_time"], timezone, now)
        except ValueError as exc:
            errors["pickup_time"] = str(exc)
    if text.get("passengers"):
        try:
            passengers = int(text["passengers"])
        except ValueError:
            passengers = 0
        if not 1 <= passengers <= MAX_PASSENGERS:
            errors["passengers"] = "invalid_passengers"
        else:
            details["passengers"] = str(passengers)
    token = text.get("submission_token") or ""
    if token and not TOKEN.match(token):
        errors["submission_token"] = "invalid_token"
    if text.get("language") in {"fi", "en", "sv"}:
        details["language"] = text["language"]

    if errors:
        summary = "; ".join(f"{field} {REASONS[code]}" for field, code in errors.items())
        raise BadInput(ErrorCode.FORM_INVALID.of(summary=summary), errors)

    body = text.get("message") or " → ".join(
        part for part in (details.get("pickup_address"), details.get("destination")) if part
    )
    return InboundContact(
        channel=Channel.WEBFORM,
        idempotency_key=token or f"auto:{uuid.uuid4()}",
        received_at=now,
        body=body,
        name=text.get("name") or None,
        phone=phone,
        email=email,
        details=details,
    )


def _pickup_time(value: str, timezone: str, now: datetime) -> str:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("invalid_time") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ZoneInfo(timezone))
    if parsed < now - PICKUP_GRACE:
        raise ValueError("time_past")
    if parsed > now + PICKUP_HORIZON:
        raise ValueError("time_too_far")
    return parsed.isoformat()
