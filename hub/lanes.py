"""Queue placement: which lane a new request waits in, and with what priority.

Decided at ingest, from what the contact itself says, so that a request is in its queue the
moment it is durable. Lanes with their own rules (orders, lost property, invoicing...) come
with the dispatching issue; until then every request waits in one lane.
"""

from __future__ import annotations

from hub.model import InboundContact

DEFAULT_LANE = "default"
DEFAULT_PRIORITY = 0


def place(contact: InboundContact) -> tuple[str, int]:
    return DEFAULT_LANE, DEFAULT_PRIORITY
