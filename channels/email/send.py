"""Replies by SMTP through the configured relay, threaded into the passenger's mail.

The reply's Message-ID is `<message uuid@our domain>`: a passenger's answer to it names the
message in In-Reply-To, and a bounce quotes it, whatever the mail client does to the subject.
smtplib runs in a worker thread; its errors are mapped onto the hub's tree: a 5xx refusal
fails the delivery with the relay's words, anything passing is retried.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from collections.abc import Sequence
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from hub.attachment_store import file_path
from hub.clock import utcnow
from hub.errors import BadInput, OperatorMustAct, RetryLater
from hub.model import DeliveryState, FileRef, OutboundMessage, SendReceipt
from hub.settings import SmtpRelaySettings

TIMEOUT_S = 30


def reply_message_id(message: OutboundMessage, domain: str) -> str:
    """`<message uuid@domain>`; a message to many (a group message, thread `per_recipient`)
    gives each recipient's copy its own, the delivery's id: each copy is a mail of its own,
    a bounce names the recipient it failed for, and the relay's ids stay unique."""
    if message.thread.get("per_recipient"):
        return f"{message.delivery_id}@{domain}"
    return f"{message.message_id}@{domain}"


def build_reply(message: OutboundMessage, *, from_address: str, from_name: str,
                reply_to: str, files: Sequence[tuple[FileRef, bytes]] = ()) -> EmailMessage:
    """The reply as a mail; `files` (each with its bytes, read by `read_files`) become
    base64 attachment parts with an RFC 2231 UTF-8 file name."""
    domain = from_address.rpartition("@")[2]
    mail = EmailMessage()
    mail["From"] = Address(from_name, addr_spec=from_address)
    mail["To"] = message.recipient
    mail["Reply-To"] = reply_to
    mail["Subject"] = _subject(message)
    mail["Date"] = format_datetime(utcnow())
    mail["Message-ID"] = f"<{reply_message_id(message, domain)}>"
    if message.thread.get("in_reply_to"):
        mail["In-Reply-To"] = f"<{message.thread['in_reply_to']}>"
    references = message.thread.get("references", "").split()
    if references:
        mail["References"] = " ".join(f"<{ref}>" for ref in references[-20:])
    if message.thread.get("auto_submitted"):  # RFC 3834: automatic answers say so
        mail["Auto-Submitted"] = message.thread["auto_submitted"]
    mail.set_content(message.body, charset="utf-8")
    for ref, data in files:
        maintype, _, subtype = ref.content_type.partition("/")
        # The policy writes a non-ASCII name as RFC 2231 filename*=utf-8''...; bytes go
        # out base64.
        mail.add_attachment(data, maintype=maintype or "application",
                            subtype=subtype or "octet-stream", filename=ref.name)
    return mail


def read_files(root: Path, refs: Sequence[FileRef]) -> list[tuple[FileRef, bytes]]:
    """The bytes of each file a reply carries (blocking: run it in a thread). A file the
    purge removed meanwhile fails the delivery, with a reason, rather than mail without it."""
    try:
        return [(ref, file_path(root, ref.sha256).read_bytes()) for ref in refs]
    except FileNotFoundError as exc:
        raise BadInput("a file attached to the reply is no longer kept") from exc


def _subject(message: OutboundMessage) -> str:
    tag = f"[#{message.request_reference}]"
    base = message.subject or message.thread.get("subject") or ""
    if not message.subject and base and not base.lower().startswith(("re:", "vs:", "sv:")):
        base = f"Re: {base}"
    if tag not in base:
        base = f"{base} {tag}".strip()
    return base


async def send_mail(relay: SmtpRelaySettings, mail: EmailMessage) -> SendReceipt:
    if not relay.host:
        raise OperatorMustAct("email.relay.host is not set: email replies cannot be sent")
    await asyncio.to_thread(_send_blocking, relay, mail)
    return SendReceipt(provider_id=str(mail["Message-ID"]).strip("<>"),
                       state=DeliveryState.SENT)


def _send_blocking(relay: SmtpRelaySettings, mail: EmailMessage) -> None:
    try:
        if relay.security == "ssl":
            client: smtplib.SMTP = smtplib.SMTP_SSL(relay.host, relay.port, timeout=TIMEOUT_S,
                                                    context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(relay.host, relay.port, timeout=TIMEOUT_S)
        with client:
            if relay.security == "starttls":
                client.starttls(context=ssl.create_default_context())
            if relay.user:
                client.login(relay.user, relay.password.reveal())
            client.send_message(mail)
    except smtplib.SMTPAuthenticationError as exc:
        raise OperatorMustAct(f"the relay refused the login: {exc.smtp_code}") from exc
    except smtplib.SMTPRecipientsRefused as exc:
        code, text = next(iter(exc.recipients.values()))
        error = _relay_error(code, text)
        raise error from exc
    except smtplib.SMTPResponseException as exc:
        raise _relay_error(exc.smtp_code, exc.smtp_error) from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise RetryLater(f"relay unreachable: {type(exc).__name__}") from exc


def _relay_error(code: int, text: bytes | str) -> BadInput | RetryLater:
    words = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    reason = f"relay answered {code}: {words[:200]}"
    return BadInput(reason) if 500 <= code < 600 else RetryLater(reason)


