"""A local SMTP server standing in for the company's relay: it records what it is given and
can be scripted to answer DATA with failures first. With a server certificate it speaks TLS
as relays do: STARTTLS required before any mail (port 587), or TLS from the first byte
(port 465)."""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any, Self

from aiosmtpd.smtp import SMTP, Envelope, Session


@dataclass(frozen=True, slots=True)
class Delivered:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes
    encrypted: bool  # the session was under TLS when the mail came

    @property
    def message(self) -> EmailMessage:
        found = message_from_bytes(self.raw, policy=policy.default)
        assert isinstance(found, EmailMessage)
        return found


class SmtpSink:
    def __init__(self, script: list[str] | None = None, *, tls: ssl.SSLContext | None = None,
                 implicit_tls: bool = False) -> None:
        self.script = list(script or [])  # DATA answers to give first, e.g. "451 4.3.0 busy"
        self.tls = tls  # the server side's context: STARTTLS required, or implicit TLS
        self.implicit_tls = implicit_tls
        self.delivered: list[Delivered] = []
        self.attempts = 0
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.attempts += 1
        if self.script:
            return self.script.pop(0)
        raw = envelope.original_content or envelope.content
        assert isinstance(raw, bytes)
        # STARTTLS marks the session; TLS from the first byte shows on the transport only.
        encrypted = session.ssl is not None or (
            server.transport is not None
            and server.transport.get_extra_info("ssl_object") is not None)
        self.delivered.append(Delivered(str(envelope.mail_from), tuple(envelope.rcpt_tos), raw,
                                        encrypted))
        return "250 2.0.0 OK"

    async def __aenter__(self) -> Self:
        loop = asyncio.get_running_loop()
        if self.tls is None:
            self._server = await loop.create_server(lambda: SMTP(self), "127.0.0.1", 0)
        elif self.implicit_tls:
            self._server = await loop.create_server(lambda: SMTP(self), "127.0.0.1", 0,
                                                    ssl=self.tls)
        else:
            self._server = await loop.create_server(
                lambda: SMTP(self, tls_context=self.tls, require_starttls=True), "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: Any) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()


