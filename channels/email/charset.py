"""Mail bytes to clean text, whatever charset the mail declares (or wrongly declares).

Pure functions: the declared charset when Python knows it and it decodes, else UTF-8 (also
when a few bytes are broken), else Windows-1252; then line ends, control characters and
composed characters made uniform.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from contextlib import suppress

# Codecs that would turn text into something else rather than decode it.
_UNSAFE_CODECS = frozenset({"unicode-escape", "raw-unicode-escape", "idna", "punycode",
                            "undefined"})
# Labels used for Windows-1252 and UTF-8 text alike, so their bytes are checked first.
_WESTERN = frozenset({"ascii", "iso8859-1", "cp1252", "iso8859-15"})
# C0 and C1 controls but tab and newline, lone surrogates (undecodable bytes) and the BOM.
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufeff]")
_META_CHARSET = re.compile(rb"<meta[^>]+charset\s*=\s*[\"']?([A-Za-z0-9_.:-]+)", re.I)


def decode(data: bytes, charset: str | None) -> str:
    """Bytes to text: the declared charset, else UTF-8, else Windows-1252 (or Latin-1)."""
    codec = _codec(charset)
    if codec is None or codec in _WESTERN:
        if data.isascii():
            return data.decode("ascii")
        as_utf8 = _utf8(data)
        if as_utf8 is not None:
            return as_utf8
        return _single_byte(data, codec if codec in ("cp1252", "iso8859-15") else "cp1252")
    with suppress(UnicodeError, LookupError):
        return data.decode(codec)
    as_utf8 = _utf8(data)
    return as_utf8 if as_utf8 is not None else _single_byte(data, "cp1252")


def html_charset(data: bytes) -> str | None:
    """The charset an HTML body declares in a <meta> tag near its start, if any."""
    found = _META_CHARSET.search(data[:4096])
    return found.group(1).decode() if found else None


def normalise(text: str) -> str:
    """Line ends to \\n, control characters (but tab) out, composed characters (NFC)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return unicodedata.normalize("NFC", CONTROL.sub("", text))


def _codec(charset: str | None) -> str | None:
    if not charset:
        return None
    try:
        codec = codecs.lookup(charset.strip().strip("\"'").lower()).name
    except (LookupError, ValueError, TypeError):
        return None
    return None if codec in _UNSAFE_CODECS else codec


def _utf8(data: bytes) -> str | None:
    """UTF-8, also when a few bytes are broken (a cut mail); None when it is not UTF-8."""
    with suppress(UnicodeDecodeError):
        return data.decode("utf-8")
    text = data.decode("utf-8", "replace")
    bad = text.count("\ufffd")
    good = sum(1 for ch in text if ch > "\x7f") - bad
    return text if good > bad else None


def _single_byte(data: bytes, codec: str) -> str:
    try:
        return data.decode(codec)
    except UnicodeDecodeError:  # the five bytes Windows-1252 leaves undefined
        return data.decode("latin-1")
