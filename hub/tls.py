"""TLS: the hub's own HTTPS listener, HSTS, and the contexts its clients verify servers with.

Certificates are PEM files the operator names in the configuration (`[http] tls_cert`,
`tls_key`; `[database] ssl_ca_file`; `[redis] ca_file`). A file that cannot be read or does
not hold what it should stops the start-up with one line naming the setting and the file.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from aiohttp import web

from hub.errors import OperatorMustAct
from hub.settings import HttpSettings

HSTS_HEADER = "Strict-Transport-Security"


def server_context(http: HttpSettings) -> ssl.SSLContext | None:
    """The HTTPS listener's context (TLS 1.2 or newer); None when no certificate is set."""
    if not http.tls:
        return None
    for name, path in (("tls_cert", http.tls_cert), ("tls_key", http.tls_key)):
        check_readable(f"http.{name}", path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(http.tls_cert, http.tls_key)
    except ssl.SSLError as exc:
        raise OperatorMustAct(
            f"http.tls_cert / http.tls_key: {http.tls_cert} and {http.tls_key} are not a PEM "
            f"certificate and its private key ({exc.reason or exc})") from None
    return context


def client_context(setting: str, ca_file: str) -> ssl.SSLContext:
    """A client context that trusts `ca_file` (empty: the system's CAs) and checks the
    server's name: what `verify-full` means to libpq."""
    if ca_file:
        check_readable(setting, ca_file)
    context = ssl.create_default_context(cafile=ca_file or None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def install_hsts(app: web.Application, http: HttpSettings) -> None:
    """Every answer of a hub serving HTTPS itself tells browsers to come back over HTTPS
    only (`hsts_max_age_s`; 0 leaves the header out)."""
    if not http.tls or http.hsts_max_age_s <= 0:
        return
    value = f"max-age={http.hsts_max_age_s}"

    async def add_header(_: web.Request, response: web.StreamResponse) -> None:
        response.headers.setdefault(HSTS_HEADER, value)

    app.on_response_prepare.append(add_header)


def check_readable(setting: str, path: str) -> None:
    try:
        with Path(path).open("rb"):
            pass
    except OSError as exc:
        raise OperatorMustAct(f"{setting}: cannot read {path}: {exc.strerror or exc}") from None
