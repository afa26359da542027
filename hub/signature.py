"""The X-TaxiConnect-Signature scheme, shared by every signed HTTP body the hub exchanges:
the generic SMS gateway signs what it sends in with it, and the hub signs its outbound
webhooks with it, so an integrator verifies both the same way.

The header is `t=<unix seconds>,v1=<hex>`, where v1 is the lower-case hex of
HMAC-SHA256(key = shared secret, message = "<t>." + body) over the exact bytes of the body.
During a secret rotation a header may carry one v1= per secret; any match is accepted.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

HEADER = "X-TaxiConnect-Signature"
TOLERANCE_S = 300.0  # a signature further than this from the verifier's clock is a replay


def sign(raw_body: bytes, secret: str, t: int) -> str:
    """The X-TaxiConnect-Signature value for `raw_body` signed at unix time `t`."""
    return f"t={t},v1={_digest(raw_body, secret, str(t))}"


def verify(raw_body: bytes, header: str, secrets: Sequence[str], now: float, *,
           tolerance_s: float = TOLERANCE_S) -> bool:
    """Whether `header` signs `raw_body` with one of `secrets`, at a time close to `now`."""
    t = ""
    given: list[bytes] = []
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t":
            t = value
        elif key == "v1":
            given.append(value.lower().encode("utf-8"))
    if not given or not (t.isascii() and t.isdigit()) or abs(now - int(t)) > tolerance_s:
        return False
    expected = [_digest(raw_body, secret, t).encode("ascii") for secret in secrets if secret]
    # Every pair is compared, so the time taken does not tell which secret matched.
    matches = [hmac.compare_digest(e, g) for e in expected for g in given]
    return any(matches)


def _digest(raw_body: bytes, secret: str, t: str) -> str:
    return hmac.new(secret.encode("utf-8"), t.encode("ascii") + b"." + raw_body,
                    hashlib.sha256).hexdigest()
