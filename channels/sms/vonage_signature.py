"""Vonage's signed requests (the `sig` parameter), computed exactly as Vonage's SDK does.

    buf = "".join(f"&{key}={value}" for key in sorted(params) if key != "sig")
          where `&` and `=` in each *value* (not key) are replaced by `_`
    md5hash  (the dashboard default, "MD5 hash"):  md5(buf + secret), hex
    md5, sha1, sha256, sha512  ("… HMAC"):        HMAC(secret, buf), hex

Every parameter Vonage sent is signed, including `timestamp` (unix seconds) and `nonce`.
Vonage may send the hex in upper case, so the comparison ignores case, and it is done in
constant time. A signature whose `timestamp` is more than `max_age_s` away from now (either
way, to allow for clock skew) is refused, so a captured request cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Literal

from hub.errors import OperatorMustAct

Method = Literal["md5hash", "md5", "sha1", "sha256", "sha512"]
METHODS: frozenset[str] = frozenset({"md5hash", "md5", "sha1", "sha256", "sha512"})
MAX_AGE_S = 300.0  # Vonage gives no window; five minutes covers its retries' clock skew


def signed_string(params: Mapping[str, str]) -> str:
    """The string Vonage signs: every parameter but `sig`, sorted by name."""
    return "".join(
        f"&{key}={params[key].replace('&', '_').replace('=', '_')}"
        for key in sorted(params)
        if key != "sig"
    )


def sign(params: Mapping[str, str], secret: str, method: Method | str = "md5hash") -> str:
    """The lower-case hex `sig` for `params` (which should already hold `timestamp`)."""
    if method not in METHODS:
        raise OperatorMustAct(
            f"unknown Vonage signature method {method!r}; known: {', '.join(sorted(METHODS))}"
        )
    buf = signed_string(params).encode("utf-8")
    if method == "md5hash":
        return hashlib.md5(buf + secret.encode("utf-8")).hexdigest()
    return hmac.new(secret.encode("utf-8"), buf, getattr(hashlib, method)).hexdigest()


def is_valid(params: Mapping[str, str], secret: str, method: Method | str = "md5hash", *,
             now: float, max_age_s: float = MAX_AGE_S) -> bool:
    """Whether `params` carry a `sig` made with `secret` and a `timestamp` close to `now`."""
    given = params.get("sig", "")
    timestamp = params.get("timestamp", "")
    if not secret or not given or not timestamp.isascii() or not timestamp.isdigit():
        return False
    if abs(now - int(timestamp)) > max_age_s:
        return False
    expected = sign(params, secret, method)
    return hmac.compare_digest(expected.encode("ascii"), given.lower().encode("utf-8"))
