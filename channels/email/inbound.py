"""A parsed mail as an InboundContact: identity, idempotency key, threading hints, flags."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from datetime import datetime

from channels.email.mime import ParsedMail
from channels.email.quoting import reply_text
from channels.email.reply_address import reference_in
from hub.model import Channel, InboundContact

MAX_BODY_CHARS = 100_000
MAX_REFS = 20
# "[#10009]", "#10009" or "viite 10009" / "ref 10009" in a subject: our references are
# four or more digits, the last a check digit.
_SUBJECT_REFERENCE = re.compile(r"(?:\[#|#|\b(?:viite|ref(?:erence)?)[:\s]+)(\d{4,20})\b",
                                re.IGNORECASE)


def mail_key(parsed: ParsedMail, raw: bytes) -> str:
    """The Message-ID, or for mail without one a hash of its bytes (the same mail fetched
    twice hashes the same)."""
    if parsed.message_id:
        return parsed.message_id[:255]
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def to_contact(parsed: ParsedMail, raw: bytes, *, received_at: datetime, token_secret: str,
               attachments: Sequence[dict[str, object]] = (), via: str = "smtp",
               recipients: Sequence[str] = ()) -> InboundContact:
    """`recipients` are the envelope's (RCPT TO); the headers' To and Cc count too."""
    body = reply_text(parsed.text).strip() or parsed.text.strip() or parsed.subject
    if parsed.bounce is not None and not body:
        body = f"Delivery failed: {parsed.bounce.diagnostic or parsed.bounce.status or ''}"
    if len(body) > MAX_BODY_CHARS:
        body = body[: MAX_BODY_CHARS - 1] + "…"
    details: dict[str, str] = {"from": parsed.from_address, "via": via}
    contacted = next(iter((*recipients, *parsed.to)), "")
    if contacted:  # the address the passenger wrote to: routing rules choose lanes by it
        details["to"] = contacted.lower()[:320]
    if parsed.auto is not None:
        details["auto"] = parsed.auto.value
    if parsed.bounce is not None:
        details["bounce_of"] = parsed.bounce.original_message_id or ""
        details["bounce_reason"] = (parsed.bounce.diagnostic or parsed.bounce.status or "")[:300]
    if parsed.references:
        details["references"] = " ".join(parsed.references[-MAX_REFS:])
    if parsed.text_truncated:
        details["truncated"] = "true"
    if attachments:
        details["attachments"] = json.dumps(list(attachments), separators=(",", ":"))
    if parsed.skipped_attachments:
        details["skipped_attachments"] = json.dumps(
            [{"name": s.name, "type": s.content_type, "size": s.size, "reason": s.reason}
             for s in parsed.skipped_attachments], separators=(",", ":"))
    refs = [*([parsed.in_reply_to] if parsed.in_reply_to else []),
            *reversed(parsed.references[-MAX_REFS:])]
    if parsed.bounce is not None and parsed.bounce.original_message_id:
        refs.insert(0, parsed.bounce.original_message_id)
    signed = next(filter(None, (reference_in(token_secret, a)
                                for a in (*recipients, *parsed.to))), None)
    typed = _SUBJECT_REFERENCE.search(parsed.subject)
    return InboundContact(
        channel=Channel.EMAIL, idempotency_key=mail_key(parsed, raw), received_at=received_at,
        body=body, name=parsed.from_name, email=parsed.from_address,
        subject=parsed.subject[:500] or None, details=details,
        thread_refs=tuple(dict.fromkeys(refs)),
        thread_reference=signed or (typed.group(1) if typed else None),
        reference_verified=signed is not None,
    )
