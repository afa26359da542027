"""The SMTP listener's handler (aiosmtpd): recipients checked against our domains, each
accepted mail handed to the email channel; 250 only once the mail is committed.

aiosmtpd answers 552 itself past `data_size_limit` (and refuses a too-large SIZE= at MAIL
FROM), and offers STARTTLS when given a TLS context.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

from aiosmtpd.smtp import SMTP, Envelope, Session

from hub.errors import BadInput, RetryLater

log = logging.getLogger(__name__)



class _WarningsOnly(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING


# aiosmtpd logs every session's envelope (senders' and recipients' addresses: personal data)
# at INFO and its lines at DEBUG; only its warnings are the operator's business.
logging.getLogger("mail.log").addFilter(_WarningsOnly())

# (raw mail, envelope recipients, envelope sender: "" for the null sender, None if unknown)
Accept = Callable[[bytes, Sequence[str], str | None], Awaitable[None]]


class InboundMailHandler:
    def __init__(self, domains: Sequence[str], accept: Accept) -> None:
        self._domains = {d.lower().strip() for d in domains}
        self._accept = accept
        self.accepted = 0
        self.refused = 0

    def __repr__(self) -> str:
        return f"<InboundMailHandler accepted={self.accepted} refused={self.refused}>"

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        domain = address.rpartition("@")[2].lower().rstrip(">")
        if domain not in self._domains:
            self.refused += 1
            return "550 5.7.1 Relaying denied: this server takes mail for its own domains only"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content
        if not isinstance(raw, bytes):
            raw = str(raw).encode("utf-8", "surrogateescape")
        try:
            await self._accept(raw, list(envelope.rcpt_tos), envelope_sender(envelope.mail_from))
        except BadInput as exc:
            self.refused += 1
            return f"550 5.6.0 {_one_line(exc.reason)}"
        except RetryLater as exc:
            return f"451 4.3.0 {_one_line(exc.reason)}"
        except Exception:
            # Never a 250 for a mail that was not stored; the sender's server retries.
            log.exception("mail could not be taken in; answered 451")
            return "451 4.3.0 Temporary failure, please retry"
        self.accepted += 1
        return "250 2.0.0 Message accepted"


def envelope_sender(mail_from: str | None) -> str:
    """MAIL FROM's address, "" for the null sender: aiosmtpd keeps `<>` as it was sent."""
    return (mail_from or "").strip().strip("<>").strip().lower()


def _one_line(text: str) -> str:
    return " ".join(text.split())[:200]
