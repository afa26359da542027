"""Mail that nobody may answer: auto-replies, bulk and list mail, loops and bounces.

The signals are the headers of RFC 3834, the conventions Zammad and Chatwoot check, and
delivery status notifications (RFC 3464/6522). A null envelope sender seen only by the SMTP
server (MAIL FROM:<>) is not visible here: that layer must check it itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32
from enum import StrEnum


class AutoKind(StrEnum):
    AUTO_REPLIED = "auto_replied"
    AUTO_GENERATED = "auto_generated"
    BULK = "bulk"
    LIST = "list"
    LOOP = "loop"


@dataclass(frozen=True, slots=True)
class Bounce:
    original_message_id: str | None
    recipient: str | None
    status: str | None
    diagnostic: str | None


_MESSAGE_ID = re.compile(r"<([^<>\s]+)>")
_MESSAGE_ID_LINE = re.compile(rb"^message-id:[ \t]*<([^<>\s]+)>", re.IGNORECASE | re.MULTILINE)
_STATUS = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")
_DAEMON = re.compile(r"(^|[<\s\"])(mailer-daemon|postmaster)@", re.IGNORECASE)
_MACHINE_SENDER = re.compile(r"(^|[<\s\"])(no-?reply|do-?not-?reply)@", re.IGNORECASE)
_NO = frozenset({"no", "false", "0"})
_MAX_DEPTH = 8  # a bounce nests its parts two levels deep; report parts deeper are noise


def auto_kind(msg: Message, *, our_loop_marker: str | None = None) -> AutoKind | None:
    """Classify `msg` as automatic mail from its headers, or None for a person's mail.

    The strongest signal wins: our own loop marker in ``X-Loop``; then reports and mailer
    daemons (so every bounce is AUTO_GENERATED, though Postfix marks its bounces
    auto-replied); then auto-replies; then other generated mail; then mailing lists; then
    bulk mail.
    """
    if our_loop_marker and " ".join(our_loop_marker.split()).lower() in _values(msg, "x-loop"):
        return AutoKind.LOOP
    if msg.get_content_type() == "multipart/report" or _DAEMON.search(_first(msg, "from")):
        return AutoKind.AUTO_GENERATED
    submitted = _first(msg, "auto-submitted").split(";")[0].strip()
    suppress = {token.strip() for token in _first(msg, "x-auto-response-suppress").split(",")}
    suppress_all = bool(suppress & {"all", "oof"})
    precedence = _first(msg, "precedence")
    if (submitted.startswith(("auto-replied", "vacation"))
            or _flag(msg, "x-autoreply") or _flag(msg, "x-autorespond")
            or precedence == "auto_reply"
            or (suppress_all and _present(msg, "x-ms-exchange-inbox-rules-loop"))):
        return AutoKind.AUTO_REPLIED
    if ((submitted and submitted != "no") or suppress_all
            or _values(msg, "x-loop") & {"yes", "true"}
            or _null_return_path(msg)
            or _MACHINE_SENDER.search(_first(msg, "from"))):
        return AutoKind.AUTO_GENERATED
    if _present(msg, "list-id") or precedence == "list":
        return AutoKind.LIST
    if precedence in ("bulk", "junk") or _present(msg, "list-unsubscribe"):
        return AutoKind.BULK
    return None


def find_bounce(msg: Message) -> Bounce | None:
    """Read a bounce: a failed-delivery report, or a mailer daemon's mail with the original.

    Returns None for mail that is not a bounce, including a report whose recipients were
    all only delayed or delivered. Fields that cannot be read are None.
    """
    report = msg.get_content_type() == "multipart/report" and \
        "delivery-status" in _first(msg, "content-type")
    if not report and not _DAEMON.search(_first(msg, "from")):
        return None
    parts = _leaves(msg, 0)
    status_part = next((p for p in parts if p.get_content_type() == "message/delivery-status"),
                       None)
    recipients = _recipients(status_part) if status_part is not None else []
    if recipients and not any(f.get("action", "failed").lower() == "failed" for f in recipients):
        return None  # "delayed" warnings and "delivered" receipts are not bounces
    fields = _first_failed(recipients)
    original = next((i for i in map(_attached_id, parts) if i), None) \
        or next((i for i in map(_inline_id, parts) if i), None)
    if not report and original is None:
        return None  # a postmaster writing in person, with nothing of ours attached
    diagnostic = fields.get("diagnostic-code")
    status = fields.get("status") or _status_in_text(parts)
    return Bounce(original_message_id=original,
                  recipient=_recipient(fields.get("final-recipient")
                                       or fields.get("original-recipient")),
                  status=status,
                  diagnostic=_after_type(diagnostic) if diagnostic else None)


def _leaves(part: Message, depth: int) -> list[Message]:
    if depth >= _MAX_DEPTH or part.get_content_type().startswith("message/"):
        return [part]
    return [leaf for sub in _subparts(part) for leaf in _leaves(sub, depth + 1)] or [part]


def _subparts(part: Message) -> list[Message]:
    # get_payload() without decode=True is only safe on a multipart: on a leaf it decodes
    # with the declared charset and raises on names like "utf-8\0".
    payload = part.get_payload() if part.is_multipart() else None
    return [p for p in payload if isinstance(p, Message)] if isinstance(payload, list) else []


def _recipients(part: Message) -> list[dict[str, str]]:
    """The per-recipient field blocks of a message/delivery-status part."""
    blocks = [_fields(b) for b in _subparts(part)]
    return [f for f in blocks if "final-recipient" in f or "original-recipient" in f]


def _first_failed(recipients: list[dict[str, str]]) -> dict[str, str]:
    failed = [f for f in recipients if f.get("action", "").lower() == "failed"]
    return (failed or recipients or [{}])[0]


def _fields(block: Message) -> dict[str, str]:
    fields: dict[str, str] = {}
    for name, value in block.raw_items():
        text = " ".join(_text(value).split())
        fields.setdefault(name.lower(), text)
    return fields


def _attached_id(part: Message) -> str | None:
    kind = part.get_content_type()
    if kind == "message/rfc822":
        inner = _subparts(part)
        if inner:
            return _message_id(_first(inner[0], "message-id", lower=False))
    elif kind == "text/rfc822-headers":
        data = _payload_bytes(part)
        headers = BytesHeaderParser(policy=compat32).parsebytes(data)
        return _message_id(_first(headers, "message-id", lower=False)) or _message_id_in(data)
    return None


def _inline_id(part: Message) -> str | None:
    # Exim and qmail quote the original below their notice instead of attaching it.
    return _message_id_in(_payload_bytes(part)) if part.get_content_type() == "text/plain" \
        else None


def _status_in_text(parts: list[Message]) -> str | None:
    for part in parts:
        if part.get_content_type() == "text/plain":
            found = _STATUS.search(_payload_bytes(part).decode("latin-1"))
            if found:
                return found.group(1)
    return None


def _payload_bytes(part: Message) -> bytes:
    data = part.get_payload(decode=True)
    return data if isinstance(data, bytes) else b""


def _message_id_in(data: bytes) -> str | None:
    found = _MESSAGE_ID_LINE.search(data)
    return found.group(1).decode("latin-1") if found else None


def _message_id(value: str) -> str | None:
    found = _MESSAGE_ID.search(value)
    return found.group(1) if found else None


def _recipient(value: str | None) -> str | None:
    if not value:
        return None
    address = _after_type(value).strip("<> ").lower()
    return address if "@" in address else None


def _after_type(value: str) -> str:
    """Drop the type prefix of a DSN field ("rfc822; a@b", "smtp; 550 ...")."""
    kind, sep, rest = value.partition(";")
    return rest.strip() if sep and " " not in kind.strip() else value.strip()


def _null_return_path(msg: Message) -> bool:
    values = _raw_values(msg, "return-path")
    return bool(values) and values[0].strip() in ("", "<>")


def _present(msg: Message, name: str) -> bool:
    return bool(_raw_values(msg, name))


def _flag(msg: Message, name: str) -> bool:
    """The header is present (even empty) with a value other than a "no"."""
    return any(v.strip().lower() not in _NO for v in _raw_values(msg, name))


def _first(msg: Message, name: str, *, lower: bool = True) -> str:
    values = _raw_values(msg, name)
    value = " ".join(values[0].split()) if values else ""
    return value.lower() if lower else value


def _values(msg: Message, name: str) -> set[str]:
    return {" ".join(v.split()).lower() for v in _raw_values(msg, name)}


def _raw_values(msg: Message, name: str) -> list[str]:
    # Raw values, so a header the policy's parser chokes on still counts.
    return [_text(value) for key, value in msg.raw_items() if key.lower() == name]


def _text(value: object) -> str:
    return str(value).encode("utf-8", "surrogateescape").decode("utf-8", "replace")
