"""The email channel: mail in by the hub's own SMTP listener and by polling an IMAP
mailbox, replies out by SMTP through the configured relay.

Both ways in share one path (`accept`): parse (in a thread: a large mail must not stall the
event loop), keep attachments, ingest; a bounce of one of our replies also marks that
reply's delivery failed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import ssl
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from aiohttp import web
from aiosmtpd.smtp import SMTP

from channels.base import HubServices
from channels.email.attachments import store_attachment
from channels.email.imap_client import ImapAccount
from channels.email.imap_poller import ImapPoller
from channels.email.inbound import MAX_BODY_CHARS, to_contact
from channels.email.loops import AutoKind
from channels.email.mime import ParsedMail, parse_mail
from channels.email.reply_address import reply_address
from channels.email.send import build_reply, read_files, send_mail
from channels.email.smtp_server import InboundMailHandler
from hub.attachment_store import attachments_root
from hub.clock import utcnow
from hub.errors import AnnouncementOnly, BadInput, OperatorMustAct, RetryLater
from hub.ingest_store import fingerprint
from hub.model import (
    Channel,
    DeliveryState,
    DeliveryUpdate,
    InboundContact,
    OutboundMessage,
    SendReceipt,
)
from hub.tasks import stop_task

log = logging.getLogger(__name__)

LOOP_MARKER_PREFIX = "taxiconnect"


class EmailChannel:
    name: ClassVar[str] = "email"
    channel: ClassVar[Channel] = Channel.EMAIL
    max_body_chars: ClassVar[int] = MAX_BODY_CHARS
    can_reply: ClassVar[bool] = True

    def __init__(self) -> None:
        self._services: HubServices | None = None
        self._server: asyncio.Server | None = None
        self._handler: InboundMailHandler | None = None
        self._poller: ImapPoller | None = None
        self._poller_task: asyncio.Task[None] | None = None
        self.sent = 0
        self.announced = 0

    def __repr__(self) -> str:
        return (f"<EmailChannel smtp={self.smtp_port} handler={self._handler!r} "
                f"imap={self._poller!r} sent={self.sent} announced={self.announced}>")

    @property
    def smtp_port(self) -> int | None:
        """The port the SMTP listener is bound to (configured 0 picks a free one)."""
        if self._server is None or not self._server.sockets:
            return None
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def poller(self) -> ImapPoller | None:
        return self._poller

    def routes(self) -> list[web.RouteDef]:
        return []

    async def start(self, services: HubServices) -> None:
        email = services.settings.email
        if not email.reply_token_secret:
            raise OperatorMustAct("email is enabled but email.reply_token_secret is not set")
        if not email.address or "@" not in email.address:
            raise OperatorMustAct("email is enabled but email.address is not set")
        if not email.smtp.domains and not email.imap.host:
            raise OperatorMustAct("email is enabled but neither email.smtp.domains nor "
                                  "email.imap.host is set: no mail could come in")
        self._services = services
        if email.smtp.domains:
            await self._start_smtp(services)
        if email.imap.host:
            imap = email.imap
            account = ImapAccount(host=imap.host, port=imap.port, user=imap.user,
                                  password=imap.password.reveal(), mailbox=imap.mailbox,
                                  security=imap.security,  # type: ignore[arg-type]
                                  move_to=imap.move_to or None)
            self._poller = ImapPoller(account, services.state, self.accept, poll_s=imap.poll_s)
            self._poller_task = asyncio.create_task(self._poller.run(), name="imap-poller")

    async def _start_smtp(self, services: HubServices) -> None:
        smtp = services.settings.email.smtp
        context = None
        if smtp.tls_cert and smtp.tls_key:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(smtp.tls_cert, smtp.tls_key)
        handler = InboundMailHandler(smtp.domains, self.accept)
        loop = asyncio.get_running_loop()
        try:
            self._server = await loop.create_server(
                lambda: SMTP(handler, data_size_limit=smtp.max_message_bytes,
                             enable_SMTPUTF8=True, tls_context=context,
                             hostname=services.settings.email.address.rpartition("@")[2]),
                # Every worker of `serve --workers N` listens on the port; the kernel
                # spreads the sessions over them.
                host=smtp.host, port=smtp.port, reuse_port=True)
        except OSError as exc:
            raise OperatorMustAct(f"cannot listen for SMTP on {smtp.host}:{smtp.port}: "
                                  f"{exc}") from exc
        self._handler = handler
        log.info("SMTP listener on %s:%s for %s", smtp.host, self.smtp_port,
                 ",".join(smtp.domains))

    async def stop(self) -> None:
        if self._poller_task is not None:
            await stop_task(self._poller_task)
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        self._services = None

    async def accept(self, raw: bytes, recipients: Sequence[str],
                     envelope_sender: str | None) -> None:
        """Take one mail in; returns once it is committed. BadInput: refuse it for good.
        `envelope_sender`: "" for the null sender (MAIL FROM:<>), None when unknown (IMAP)."""
        services = self._services
        if services is None:
            raise RetryLater("the hub is starting")
        email = services.settings.email
        with services.ingestor.admission():
            parsed = await asyncio.to_thread(
                parse_mail, raw, max_attachment_bytes=email.max_attachment_bytes,
                loop_marker=_loop_marker(email.address), envelope_sender=envelope_sender)
            if envelope_sender == "" and parsed.auto is None:  # RFC 3834: never answered
                parsed = dataclasses.replace(parsed, auto=AutoKind.AUTO_GENERATED)
            if not parsed.from_address:  # a bounce from nobody: it only reports
                await self._report_bounce(services, parsed)
                return
            received_at = utcnow()

            def contact_of(kept: list[dict[str, object]]) -> InboundContact:
                return to_contact(parsed, raw, received_at=received_at,
                                  token_secret=email.reply_token_secret.reveal(),
                                  attachments=kept, recipients=recipients,
                                  via="smtp" if recipients else "imap")
            try:
                # Before the attachments go to disk: a mail the notice answers keeps nothing.
                await services.ingestor.door(contact_of([]))
                root = attachments_root(services.settings.data_dir)
                kept = await asyncio.to_thread(_keep_attachments, root, parsed)
                await _ingest_once(services, contact_of(kept))
            except AnnouncementOnly:  # taken (250, or seen in the mailbox), nothing kept
                self.announced += 1
        await self._report_bounce(services, parsed)

    async def _report_bounce(self, services: HubServices, parsed: ParsedMail) -> None:
        if parsed.bounce is not None and parsed.bounce.original_message_id:
            await services.deliveries.report(self.name, DeliveryUpdate(
                provider_id=parsed.bounce.original_message_id, state=DeliveryState.FAILED,
                reason=f"bounced: {parsed.bounce.diagnostic or parsed.bounce.status or ''}"))

    async def send(self, message: OutboundMessage) -> SendReceipt:
        services = self._services
        if services is None:
            raise RetryLater("email is not started")
        email = services.settings.email
        domain = email.address.rpartition("@")[2]
        files = await asyncio.to_thread(
            read_files, attachments_root(services.settings.data_dir), message.attachments)
        mail = build_reply(
            message, from_address=email.address, from_name=message.agent_name or "",
            reply_to=reply_address(email.reply_token_secret.reveal(),
                                   message.request_reference, domain), files=files)
        mail["X-Loop"] = _loop_marker(email.address)
        receipt = await send_mail(email.relay, mail)
        self.sent += 1
        return receipt


def _loop_marker(address: str) -> str:
    return f"{LOOP_MARKER_PREFIX} {address.lower()}"


def _keep_attachments(root: Path, parsed: ParsedMail) -> list[dict[str, object]]:
    return [store_attachment(root, attachment) for attachment in parsed.attachments]


async def _ingest_once(services: HubServices, contact: InboundContact) -> None:
    """A Message-ID reused for a different mail (some mailers do) is stored as its own
    message under a key that adds the content's fingerprint, rather than refused."""
    try:
        await services.ingest(contact)
    except BadInput as exc:
        if exc.field_errors.get("submission_token") != "reused":
            raise
        key = f"{contact.idempotency_key[:180]}#{fingerprint(contact)[:16]}"
        await services.ingest(dataclasses.replace(contact, idempotency_key=key))
