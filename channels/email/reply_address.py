"""Per-request reply addresses, `reply+<reference>-<signature>@domain`.

A passenger's mail client may drop In-Reply-To (or the passenger starts a new mail to the
address in our reply): the address itself then says which request the mail belongs to. The
signature keeps anyone from writing into another passenger's request by guessing its number.
"""

from __future__ import annotations

import hashlib
import hmac
import re

SIGNATURE_CHARS = 12
_LOCAL = re.compile(rf"^reply\+(\d{{4,20}})-([0-9a-f]{{{SIGNATURE_CHARS}}})$")


def _signature(secret: str, reference: str) -> str:
    digest = hmac.new(secret.encode(), f"reply:{reference}".encode(), hashlib.sha256)
    return digest.hexdigest()[:SIGNATURE_CHARS]


def reply_address(secret: str, reference: str, domain: str) -> str:
    return f"reply+{reference}-{_signature(secret, reference)}@{domain}"


def reference_in(secret: str, address: str) -> str | None:
    """The request reference a reply address carries, when its signature is ours."""
    local, _, _domain = address.lower().rpartition("@")
    match = _LOCAL.match(local)
    if match is None:
        return None
    reference, signature = match.groups()
    if not hmac.compare_digest(signature, _signature(secret, reference)):
        return None
    return reference
