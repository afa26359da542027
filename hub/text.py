"""Text the hub can store: checks shared by every channel and the console's API."""

from __future__ import annotations

import re

# NUL cannot be stored in PostgreSQL text, and a lone surrogate (JSON "\ud800") cannot be
# encoded as UTF-8 at all: either would fail a whole ingest transaction, not just its sender.
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def is_storable(text: str) -> bool:
    return UNSTORABLE.search(text) is None


MAX_SUBJECT_CHARS = 200


def subject_problem(subject: str | None) -> str | None:
    """Why a mail subject a dispatcher wrote cannot be sent, or None: a line break would end
    the header (and the mail library refuses to send it at all)."""
    if subject is None:
        return None
    if any(c in subject for c in "\r\n\x0b\x0c\x85\u2028\u2029"):
        return "line_break"
    if len(subject) > MAX_SUBJECT_CHARS:
        return "too_long"
    return None
