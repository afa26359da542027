"""Visitor tokens: the hub's signed word for "this browser is visitor X until time T".

    v1.<visitor id: 32 hex>.<expiry: unix seconds>.<base64url HMAC-SHA256 of the first three>

The widget keeps the token in the host site's localStorage (a cookie of ours would be
third-party there) and shows it in its first frame. A token that is malformed, forged or
expired is never an error the passenger sees: they simply start a new conversation.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

VERSION = "v1"
MAX_TOKEN_CHARS = 200
TOKEN = re.compile(r"^v1\.([0-9a-f]{32})\.(\d{1,12})\.([A-Za-z0-9_-]{43})$")
DAY_S = 86_400


@dataclass(frozen=True, slots=True)
class Visitor:
    """Who a valid token names, and until when."""

    id: str
    expires: int


def new_visitor_id() -> str:
    return secrets.token_hex(16)


def issue(secret: str, visitor_id: str, *, now: float, days: int) -> str:
    """A token for `visitor_id` valid `days` from `now`."""
    expires = int(now) + days * DAY_S
    body = f"{VERSION}.{visitor_id}.{expires}"
    return f"{body}.{_signature(secret, body)}"


def verify(secret: str, token: object, *, now: float) -> Visitor | None:
    """The visitor of a genuine, unexpired token; None for anything else."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS:
        return None
    found = TOKEN.match(token)
    if found is None:
        return None
    visitor_id, expires, signature = found.group(1), int(found.group(2)), found.group(3)
    body = f"{VERSION}.{visitor_id}.{expires}"
    if not hmac.compare_digest(signature, _signature(secret, body)):
        return None
    if expires <= now:
        return None
    return Visitor(visitor_id, expires)


def needs_renewal(visitor: Visitor, *, now: float, days: int) -> bool:
    """Past half its life a token is re-issued, so a passenger who keeps coming back keeps
    their conversation (a sliding expiry)."""
    return visitor.expires - now < days * DAY_S / 2


def _signature(secret: str, body: str) -> str:
    digest = hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
