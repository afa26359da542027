"""Pure parsing of one mail, as received, into a ParsedMail: no I/O, no database.

Real mail is often broken (missing boundaries, wrong or unknown charsets, bad base64,
raw 8-bit headers), so everything is read as far as it can be; the only exception that
leaves `parse_mail` is MailRejected, for mail that cannot be used at all.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from email import message_from_bytes, policy
from email.errors import MessageError
from email.message import Message
from typing import Literal

from channels.email.charset import decode, html_charset, normalise
from channels.email.headers import (
    addresses,
    decode_words,
    header,
    header_date,
    message_id,
    message_ids,
    one_line,
    param,
)
from channels.email.html_text import html_to_text
from channels.email.loops import AutoKind, Bounce, auto_kind, find_bounce
from hub.errors import BadInput

SkipReason = Literal["too_large", "type_not_allowed", "too_many"]

# Types guessed from the file name when a client sends application/octet-stream.
_BY_EXTENSION = {
    "pdf": "application/pdf", "jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png",
    "gif": "image/gif", "webp": "image/webp", "heic": "image/heic", "heif": "image/heif",
    "txt": "text/plain", "csv": "text/csv", "ics": "text/calendar",
    "doc": "application/msword",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xls": "application/vnd.ms-excel",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "odt": "application/vnd.oasis.opendocument.text",
    "ods": "application/vnd.oasis.opendocument.spreadsheet",
}
DEFAULT_ALLOWED_TYPES: frozenset[str] = frozenset(_BY_EXTENSION.values())
_TYPE_ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg",
                 "application/x-pdf": "application/pdf"}
_UNTYPED = frozenset({"application/octet-stream", "application/x-octet-stream",
                      "application/unknown"})
# Refused whatever type the sender declares: a dispatcher must never double-click these.
_EXECUTABLE = frozenset({"exe", "com", "bat", "cmd", "scr", "pif", "msi", "msp", "vbs", "vbe",
                         "js", "jse", "wsf", "wsh", "hta", "cpl", "jar", "ps1", "lnk", "reg",
                         "dll", "iso", "img", "vhd", "apk"})
_MAX_DEPTH = 20  # MIME nesting deeper than any client produces
# policy.default parses ~4000 parts a second: a 30 MB mail of empty parts would hold a
# worker for minutes. No client sends a mail with anywhere near this many "--" lines.
_MAX_BOUNDARY_LINES = 2000
_MAX_HTML_BYTES = 4 * 1024 * 1024  # beyond this an HTML body is markup, not more text
_MAX_FILENAME = 200
_MAX_SKIPPED = 100  # a mail with thousands of parts is reported, not listed in full

_BOUNDARY_LINE = re.compile(rb"^--([0-9A-Za-z'()+_,./:=?-]{1,70})[ \t]*\r?$", re.M)


class MailRejected(BadInput):
    """The mail cannot be used at all; `reason` says why (an SMTP 5xx, or the log)."""


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    content_type: str
    size: int
    data: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class SkippedAttachment:
    name: str
    content_type: str
    size: int
    reason: SkipReason


@dataclass(frozen=True, slots=True)
class ParsedMail:
    message_id: str | None  # as sent, without the angle brackets
    from_address: str  # lower-cased addr-spec
    from_name: str | None
    to: tuple[str, ...]  # To and Cc, lower-cased
    reply_to: str | None
    subject: str
    text: str  # the whole readable body; quoting.reply_text() cuts the quote
    in_reply_to: str | None
    references: tuple[str, ...]
    date: datetime | None
    auto: AutoKind | None
    bounce: Bounce | None
    attachments: tuple[Attachment, ...]
    skipped_attachments: tuple[SkippedAttachment, ...]
    text_truncated: bool


@dataclass(frozen=True, slots=True)
class _Limits:
    text_chars: int
    attachment_bytes: int
    attachments: int
    types: frozenset[str]


def parse_mail(raw: bytes, *, max_text_chars: int = 100_000,
               max_attachment_bytes: int = 10 * 1024 * 1024, max_attachments: int = 20,
               allowed_attachment_types: frozenset[str] = DEFAULT_ALLOWED_TYPES,
               loop_marker: str | None = None, envelope_sender: str | None = None
               ) -> ParsedMail:
    """Parse one mail (the bytes of SMTP DATA or an IMAP fetch) into a ParsedMail.

    `envelope_sender`: SMTP's MAIL FROM ("" for the null sender `<>`), None when unknown (an
    IMAP fetch: its Return-Path header is read instead). A mail whose From holds no address
    is from its envelope sender; a bounce from nobody (`From: MAILER DAEMON <>` and a null
    envelope sender) has an empty `from_address`: it only reports our mail as failed.

    Raises MailRejected when there is no sender address that parses, neither readable text
    nor an accepted attachment, or the bytes are not a mail. Attachments over the limits
    or of a type not allowed are listed in `skipped_attachments` instead.
    """
    limits = _Limits(max_text_chars, max_attachment_bytes, max_attachments,
                     allowed_attachment_types)
    try:
        return _parse(raw, limits, loop_marker, envelope_sender)
    except MailRejected:
        raise
    except RecursionError as exc:
        raise MailRejected("the MIME structure is nested too deeply") from exc
    except Exception as exc:
        # Defence in depth: the stdlib email package has had crash bugs on hostile input
        # (see _message), and callers are promised MailRejected only.
        raise MailRejected(f"the mail cannot be read ({type(exc).__name__})") from exc


def _parse(raw: bytes, limits: _Limits, loop_marker: str | None,
           envelope_sender: str | None) -> ParsedMail:
    if not raw.strip():
        raise MailRejected("the mail is empty")
    if raw.count(b"\n--") > _MAX_BOUNDARY_LINES:
        raise MailRejected("too many MIME parts")
    msg = _message(raw)
    if not msg.keys():
        raise MailRejected("not an email message: no header could be read")
    senders = addresses(msg, "from") or addresses(msg, "sender")
    if not senders:
        if envelope_sender is None:
            envelope_sender = next((a for _, a in addresses(msg, "return-path")), None)
        bounce = find_bounce(msg)
        if envelope_sender:
            senders = [(None, envelope_sender.strip("<> ").lower())]
        elif bounce is not None:
            senders = [(None, "")]
        else:
            raise MailRejected("no sender: From is missing or holds no address that parses")
    chunks, parts = _walk(msg, 0)
    attachments, skipped = _sort_attachments(parts, limits)
    text = _choose_text(chunks) or _forwarded_text(parts)
    # A passenger who writes "Taksi Kamppiin klo 18" in the subject alone still asked.
    subject = one_line(decode_words(header(msg, "subject") or ""))
    if not text and not attachments and not subject:
        refused = ", ".join(f"{s.name} ({s.reason})" for s in skipped)
        raise MailRejected("no subject, no readable text and no attachment"
                           + (f"; refused: {refused}" if refused else ""))
    truncated = len(text) > limits.text_chars
    reply_to = addresses(msg, "reply-to")
    in_reply_to = message_ids(header(msg, "in-reply-to"))
    return ParsedMail(
        message_id=message_id(header(msg, "message-id")),
        from_address=senders[0][1], from_name=senders[0][0],
        to=tuple(dict.fromkeys(address for _, address in addresses(msg, "to", "cc"))),
        reply_to=reply_to[0][1] if reply_to else None,
        subject=subject,
        text=text[:limits.text_chars].rstrip() if truncated else text,
        in_reply_to=in_reply_to[0] if in_reply_to else None,
        references=message_ids(header(msg, "references")),
        date=header_date(header(msg, "date")),
        auto=auto_kind(msg, our_loop_marker=loop_marker), bounce=find_bounce(msg),
        attachments=attachments, skipped_attachments=skipped, text_truncated=truncated)


# --- the MIME tree -------------------------------------------------------------------

def _message(raw: bytes) -> Message:
    try:
        return message_from_bytes(raw, policy=policy.default)
    except RecursionError:
        raise
    except Exception:
        # policy.default's header parser crashes on some malformed parameters (IndexError
        # in get_parameter, 3.11); compat32 reads the same bytes without judging them.
        return message_from_bytes(raw, policy=policy.compat32)


_Chunk = tuple[str, str]  # ("plain" | "html", cleaned text)


def _walk(part: Message, depth: int) -> tuple[list[_Chunk], list[Message]]:
    """The body text chunks and the attachment parts under `part`."""
    kind = part.get_content_type()
    if kind.startswith("multipart/"):
        if depth >= _MAX_DEPTH:
            return [], []
        children = _children(part)
        if children is None:  # could not be split: its raw text beats nothing
            return [("plain", _tidy(normalise(decode(_payload(part), None))))], []
        results = [_walk(child, depth + 1) for child in children]
        parts = [p for _, ps in results for p in ps]
        if kind == "multipart/alternative":
            return _preferred([chunks for chunks, _ in results]), parts
        return [c for chunks, _ in results for c in chunks], parts
    if kind in ("text/plain", "text/html") and not _is_attachment(part):
        return [_leaf_text(part, kind)], []
    return [], [part]


def _children(part: Message) -> list[Message] | None:
    if part.is_multipart():
        return _subparts(part)
    rescued = _rescue(part)
    return _subparts(rescued) if rescued is not None else None


def _subparts(part: Message) -> list[Message]:
    # get_payload() without decode=True is only safe on a multipart: on a leaf it decodes
    # with the declared charset and raises on names like "utf-8\0".
    payload = part.get_payload() if part.is_multipart() else None
    return [p for p in payload if isinstance(p, Message)] if isinstance(payload, list) else []


def _rescue(part: Message) -> Message | None:
    """Re-split a multipart whose boundary is missing or wrong, by its first '--' line."""
    data = _payload(part)
    found = _BOUNDARY_LINE.search(data)
    if found is None:
        return None
    head = b'Content-Type: %s; boundary="%s"\n\n' % (part.get_content_type().encode(),
                                                      found.group(1))
    again = _message(head + data)
    return again if again.is_multipart() else None


def _preferred(options: list[list[_Chunk]]) -> list[_Chunk]:
    """multipart/alternative: the first version with plain text, else the first with any."""
    for option in options:
        if any(kind == "plain" and text for kind, text in option):
            return option
    return next((option for option in options if any(text for _, text in option)), [])


def _choose_text(chunks: list[_Chunk]) -> str:
    plain = [text for kind, text in chunks if kind == "plain" and text]
    return "\n\n".join(plain or [text for _, text in chunks if text])


def _forwarded_text(parts: list[Message]) -> str:
    """A mail forwarded as an attachment with nothing written around it."""
    for part in parts:
        inner = _subparts(part) if part.get_content_type() == "message/rfc822" else []
        if inner:
            return _choose_text(_walk(inner[0], 1)[0])
    return ""


def _is_attachment(part: Message) -> bool:
    disposition = (header(part, "content-disposition") or "").split(";")[0]
    return disposition.strip().lower() == "attachment" or _filename(part) is not None


def _leaf_text(part: Message, kind: str) -> _Chunk:
    data = _payload(part)
    charset = param(part, "content-type", "charset")
    if kind == "text/html":
        if charset is None:
            charset = html_charset(data)
        html = decode(data[:_MAX_HTML_BYTES], charset)
        return "html", _tidy(normalise(html_to_text(html)))
    text = normalise(decode(data, charset))
    if (param(part, "content-type", "format") or "").lower() == "flowed":
        delsp = (param(part, "content-type", "delsp") or "").lower() == "yes"
        text = _unflow(text, delsp)
    return "plain", _tidy(text)


def _payload(part: Message) -> bytes:
    if part.is_multipart():  # message/rfc822, message/delivery-status
        return b"\n".join(_serialise(p) for p in _subparts(part))
    data = part.get_payload(decode=True)
    return data if isinstance(data, bytes) else b""


def _serialise(msg: Message) -> bytes:
    try:
        return msg.as_bytes(policy=policy.compat32)
    except (MessageError, UnicodeError, ValueError, LookupError, TypeError):
        # A header the generator will not refold: the raw lines as parsed, body decoded.
        head = "".join(f"{name}: {value}\n" for name, value in msg.raw_items())
        return head.encode("utf-8", "surrogateescape") + b"\n" + _payload(msg)


def _unflow(text: str, delsp: bool) -> str:
    """Join the soft line breaks of format=flowed (RFC 3676)."""
    lines: list[str] = []
    carry: tuple[int, str] | None = None
    for line in text.split("\n"):
        depth = len(line) - len(line.lstrip(">"))
        content = line[depth:].removeprefix(" ")
        if carry is not None and carry[0] == depth:
            content = carry[1] + content
        elif carry is not None:
            lines.append(_quoted(*carry))
        carry = None
        if content.endswith(" ") and content != "-- ":
            carry = (depth, content[:-1] if delsp else content)
        else:
            lines.append(_quoted(depth, content))
    if carry is not None:
        lines.append(_quoted(*carry))
    return "\n".join(lines)


def _quoted(depth: int, content: str) -> str:
    return f"{'>' * depth} {content}" if depth else content


def _tidy(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.split("\n")).strip("\n")


# --- attachments ---------------------------------------------------------------------

def _sort_attachments(parts: list[Message], limits: _Limits
                      ) -> tuple[tuple[Attachment, ...], tuple[SkippedAttachment, ...]]:
    kept: list[Attachment] = []
    skipped: list[SkippedAttachment] = []
    for part in parts:
        name = _safe_filename(_filename(part))
        extension = name.rpartition(".")[2].lower() if "." in name else ""
        declared = part.get_content_type()
        declared = _TYPE_ALIASES.get(declared, declared)
        kind = _BY_EXTENSION.get(extension, declared) if declared in _UNTYPED else declared
        data = _payload(part)
        reason: SkipReason | None = None
        if kind not in limits.types or extension in _EXECUTABLE:
            reason = "type_not_allowed"
        elif len(data) > limits.attachment_bytes:
            reason = "too_large"
        elif len(kept) >= limits.attachments:
            reason = "too_many"
        if reason is None:
            kept.append(Attachment(filename=name, content_type=kind, size=len(data), data=data))
        elif len(skipped) < _MAX_SKIPPED:
            skipped.append(SkippedAttachment(name=name, content_type=kind, size=len(data),
                                             reason=reason))
    return tuple(kept), tuple(skipped)


def _filename(part: Message) -> str | None:
    return param(part, "content-disposition", "filename") or \
        param(part, "content-type", "name")


def _safe_filename(name: str | None) -> str:
    """The last path part of `name`, without control or direction-override characters."""
    name = re.split(r"[/\\]", decode_words(name or ""))[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch) not in ("Cc", "Cf", "Cs"))
    name = " ".join(unicodedata.normalize("NFC", name).split()).strip(" .")
    if len(name) > _MAX_FILENAME:
        stem, dot, extension = name.rpartition(".")
        keep = _MAX_FILENAME - len(extension) - 1
        name = stem[:keep] + dot + extension if dot and keep > 0 else name[:_MAX_FILENAME]
    return name or "attachment"
