"""A request's callback columns (hub.schema) as the rest of the hub reads them: the ones a
new request asking for a callback starts with, the queue's filter, and the strings consoles
have always read in the request's `details`. They change only in hub.handling_callback."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement

from hub import schema
from hub.model import CallbackAsk, CallbackState

r = schema.contact_requests

# What consoles read the callback from, in the order details_json needs them.
COLUMNS = (r.c.callback, r.c.callback_requested_at, r.c.callback_due_at, r.c.callback_number,
           r.c.missed_calls, r.c.last_missed_at, r.c.missed_wait_s, r.c.callback_called_at,
           r.c.callback_attempts, r.c.callback_outcome, r.c.callback_outcome_at,
           r.c.callback_done_at)
_LEGACY = {CallbackState.REQUESTED.value: "true", CallbackState.DONE.value: "done"}


def is_callback() -> ColumnElement[bool]:
    """A request waiting to be called back (one already reached is not)."""
    return r.c.callback == CallbackState.REQUESTED.value


def ask_columns(ask: CallbackAsk | None, at: datetime) -> dict[str, Any]:
    """A new request's callback columns (every one, so a batch insert has the same keys)."""
    return {
        "callback": CallbackState.REQUESTED.value if ask else None,
        "callback_requested_at": at if ask else None,
        "callback_due_at": ask.due_at if ask else None,
        "callback_number": ask.number if ask else None,
        "missed_calls": 0, "callback_attempts": 0,
    }


def details_json(row: Mapping[str, Any]) -> dict[str, str]:
    """The callback as the request's `details` have always shown it: strings, keys present
    only when set."""
    found: dict[str, str] = {}
    if row["callback"] in _LEGACY:
        found["callback"] = _LEGACY[row["callback"]]
    if row["missed_calls"]:
        found["missed_calls"] = str(row["missed_calls"])
        _time(found, "missed_at", row["callback_requested_at"])
        _time(found, "last_missed_at", row["last_missed_at"])
        if row["missed_wait_s"] is not None:
            found["missed_wait_s"] = str(row["missed_wait_s"])
    _time(found, "callback_due_at", row["callback_due_at"])
    if row["callback_number"]:
        found["callback_number"] = row["callback_number"]
    _time(found, "callback_called_at", row["callback_called_at"])
    if row["callback_attempts"]:
        found["callback_attempts"] = str(row["callback_attempts"])
    if row["callback_outcome"]:
        found["callback_outcome"] = row["callback_outcome"]
    _time(found, "callback_outcome_at", row["callback_outcome_at"])
    _time(found, "callback_done_at", row["callback_done_at"])
    return found


def _time(found: dict[str, str], key: str, value: datetime | None) -> None:
    if value is not None:
        found[key] = value.isoformat()


