"""Twilio's request signature (X-Twilio-Signature), computed exactly as Twilio computes it.

    base64(HMAC-SHA1(auth_token, url + concat(sorted(name + value))))

over the full URL Twilio called and every POST parameter (Twilio adds parameters without
notice, so none is ever left out). Twilio's own validator accepts the URL with and without
an explicit default port; so does this one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

DEFAULT_PORTS = {"https": 443, "http": 80}


def twilio_signature(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    values: dict[str, set[str]] = {}
    for name, value in params:
        values.setdefault(name, set()).add(value)
    signed = url + "".join(
        name + value for name in sorted(values) for value in sorted(values[name])
    )
    digest = hmac.new(auth_token.encode("utf-8"), signed.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def url_variants(url: str) -> tuple[str, str]:
    """The URL with its scheme's default port written out, and without any port."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = parts.port or DEFAULT_PORTS.get(parts.scheme, 0)
    with_port = urlunsplit(parts._replace(netloc=f"{host}:{port}"))
    without_port = urlunsplit(parts._replace(netloc=host))
    return with_port, without_port


def is_valid(auth_token: str, url: str, params: list[tuple[str, str]], signature: str) -> bool:
    if not auth_token or not signature:
        return False
    return any(
        hmac.compare_digest(twilio_signature(auth_token, variant, params), signature)
        for variant in url_variants(url)
    )
