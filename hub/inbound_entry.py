"""The inbound stream's entry: ingest writes one for each committed inbound message; the
router announces it to the consoles and hands it to the automatic answers."""

from __future__ import annotations

from typing import Required, TypedDict


class InboundEntry(TypedDict, total=False):
    """Ids as text. Only `request_id` is sure: the router reads a malformed entry as one of
    no request, and entries written before `channel` existed lack it."""

    request_id: Required[str]
    message_id: str
    new_request: bool
    channel: str
