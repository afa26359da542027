"""Reading a mail's headers leniently: raw values (8-bit ones too), parameters, RFC 2047
encoded words, addresses, message ids and the date. Pure functions, no I/O.

Every function returns what it could read, or None / empty when nothing usable is there;
none raises on a malformed header.
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from contextlib import suppress
from datetime import UTC, datetime
from email.message import Message
from email.utils import collapse_rfc2231_value, getaddresses, parsedate_to_datetime

from channels.email.charset import CONTROL, decode

_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
_QP_ESCAPE = re.compile(rb"=([0-9A-Fa-f]{2})")
_BRACKETED_ID = re.compile(r"<\s*([^<>\s]+)\s*>")
_ADDRESS = re.compile(r"^[^@\s<>()\[\],;:\"\\]+@[^@\s<>()\[\],;:\"\\]+$")
_LOOSE_ADDRESS = re.compile(r"[^@\s<>()\[\],;:\"'\\]+@[^@\s<>()\[\],;:\"'\\]+\.[a-zA-Z]{2,}")


def header(msg: Message, name: str) -> str | None:
    """The first `name` header (lower-case), unfolded and decoded from 8-bit; not RFC 2047."""
    values = _header_values(msg, name)
    return values[0] if values else None


def _header_values(msg: Message, name: str) -> list[str]:
    # Raw values, decoded here: the policy's parser turns 8-bit Latin-1 into U+FFFD.
    return [_unfold(_from_8bit(str(value))) for key, value in msg.raw_items()
            if key.lower() == name]


def _unfold(value: str) -> str:
    return re.sub(r"\r?\n(?=[ \t])", "", value).replace("\r", "").replace("\n", "")


def _from_8bit(value: str) -> str:
    data = value.encode("utf-8", "surrogateescape")
    return value if data.isascii() else decode(data, None)


def param(part: Message, header_name: str, name: str) -> str | None:
    """The parameter `name` of a header (`charset` of content-type), RFC 2231 decoded."""
    value = header(part, header_name)
    if value is None:
        return None
    probe = Message()  # compat32: decodes RFC 2231 values without the policy's strictness
    probe[header_name] = value
    found = probe.get_param(name, header=header_name)
    if found is None or found == "":
        return None
    if isinstance(found, tuple):
        try:
            text = collapse_rfc2231_value(found)
        except ValueError:  # a charset name with a NUL in it
            text = found[2]
    else:
        text = str(found)
    return text.strip() or None


def decode_words(value: str) -> str:
    """Decode RFC 2047 encoded words, leniently (unknown charsets, bad padding, splits)."""
    out: list[str] = []
    pending: list[tuple[str, bytes]] = []
    position = 0
    for match in _ENCODED_WORD.finditer(value):
        between = value[position:match.start()]
        if between.strip() or not pending:  # whitespace between two words is dropped
            out.extend(decode(data, charset) for charset, data in pending)
            pending = []
            out.append(between)
        charset = match.group(1).split("*")[0].lower()
        data = _word_bytes(match.group(2).lower(), match.group(3))
        # Same-charset neighbours are joined first: clients split multibyte characters.
        if pending and pending[-1][0] == charset:
            pending[-1] = (charset, pending[-1][1] + data)
        else:
            pending.append((charset, data))
        position = match.end()
    out.extend(decode(data, charset) for charset, data in pending)
    out.append(value[position:])
    return "".join(out)


def _word_bytes(encoding: str, text: str) -> bytes:
    if encoding == "q":
        raw = text.replace("_", " ").encode("utf-8", "surrogateescape")
        return _QP_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), raw)
    clean = re.sub(r"[^A-Za-z0-9+/]", "", text)
    clean = clean[:len(clean) - len(clean) % 4] if len(clean) % 4 == 1 else clean
    with suppress(binascii.Error, ValueError):
        return base64.b64decode(clean + "=" * (-len(clean) % 4))
    return b""


def addresses(msg: Message, *names: str) -> list[tuple[str | None, str]]:
    """(display name, lower-cased addr-spec) of every address in the `names` headers."""
    values = [value for name in names for value in _header_values(msg, name)]
    found: list[tuple[str | None, str]] = []
    for display, address in getaddresses(values):
        address = address.strip().strip("<>").lower()
        if _ADDRESS.match(address) and len(address) <= 254:
            found.append((_display_name(display), address))
    if not found:  # "Matti matti@example.fi" and other shapes the parser gives up on
        loose = (_LOOSE_ADDRESS.search(value) for value in values)
        found = [(None, m.group(0).lower()) for m in loose if m and len(m.group(0)) <= 254]
    return found


def _display_name(raw: str) -> str | None:
    name = one_line(decode_words(raw))
    if len(name) > 1 and name[0] == name[-1] and name[0] in "'\"":
        name = name[1:-1].strip()
    return name or None


def message_id(value: str | None) -> str | None:
    """A Message-ID without its angle brackets, also when the brackets are missing."""
    ids = message_ids(value)
    if ids:
        return ids[0]
    bare = (value or "").strip().strip("<>").strip()
    return bare if bare and not any(ch.isspace() for ch in bare) else None


def message_ids(value: str | None) -> tuple[str, ...]:
    """The ids of In-Reply-To or References, in order, once each."""
    if not value:
        return ()
    ids = _BRACKETED_ID.findall(value) or [t for t in re.split(r"[\s,]+", value) if "@" in t]
    return tuple(dict.fromkeys(ids))


def header_date(value: str | None) -> datetime | None:
    """The Date header as an aware datetime; None when it does not parse."""
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    # "-0000" (no zone information) parses naive; RFC 5322 says the time is then UTC.
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def one_line(text: str) -> str:
    """A header value for display: NFC, control characters and runs of space as one space."""
    return " ".join(CONTROL.sub(" ", unicodedata.normalize("NFC", text)).split())
