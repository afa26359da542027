"""Text the hub can store: checks shared by every channel and the console's API."""

from __future__ import annotations

import re

# NUL cannot be stored in PostgreSQL text, and a lone surrogate (JSON "\ud800") cannot be
# encoded as UTF-8 at all: either would fail a whole ingest transaction, not just its sender.
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def is_storable(text: str) -> bool:
    return UNSTORABLE.search(text) is None
