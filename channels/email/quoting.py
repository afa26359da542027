"""Cutting the quoted previous message from a reply (heuristic: keep the full text too)."""

from __future__ import annotations

import re

# "On Mon, 3 Nov 2026 at 10:12, Matti <m@example.fi> wrote:", German "Am ... schrieb ...:",
# Swedish "Den ... skrev ...:" (the verb may sit before the address there).
_ATTRIBUTION = re.compile(
    r"^(on|am|den|le|el|op)\s.*\b(wrote|schrieb|skrev|a écrit|escribió|schreef)\b.*:$",
    re.IGNORECASE)
# Finnish Gmail "ma 3.11.2026 klo 10.12 Matti <matti@example.fi> kirjoitti:", Apple Mail
# "3.11.2026 kello 10.12, Matti ... kirjoitti:", Thunderbird "Matti kirjoitti 3.11.2026 10.12:".
_FINNISH_ATTRIBUTION = re.compile(r"^(.*\s)?kirjoitti(\s.*)?:$", re.IGNORECASE)
# A wrapped Finnish attribution starts with a weekday and date, so a reply's own last line
# ("Kiitos!") is not mistaken for its beginning.
_FINNISH_START = re.compile(r"^((ma|ti|ke|to|pe|la|su)\.?\s+)?\d{1,2}\.\s?(\d{1,2}\.|[a-zäö]+)",
                            re.IGNORECASE)
_SEPARATOR = re.compile(
    r"^-{2,}\s*(original message|alkuperäinen viesti|ursprüngliche nachricht"
    r"|originalmeddelande|message d'origine|mensaje original|oorspronkelijk bericht)"
    r"\s*-{2,}$", re.IGNORECASE)
# Outlook's header block: "From:" with "Sent:" (or "Date:" on Outlook for Mac) and
# "Subject:" close below. Both are required: an order written as "From: Kamppi / To:
# airport / Date: 4.11." must not be cut away.
_HEADER_FROM = re.compile(r"^\*?(from|lähettäjä|från|von|van)\s*:\*?\s*\S", re.IGNORECASE)
_HEADER_SENT = re.compile(
    r"^\*?(sent|date|lähetetty|päivämäärä|skickat|gesendet|datum|envoyé|enviado)\s*:",
    re.IGNORECASE)
_HEADER_SUBJECT = re.compile(r"^\*?(subject|aihe|ämne|betreff|objet|asunto)\s*:", re.IGNORECASE)
_OUTLOOK_RULE = re.compile(r"^_{10,}$")
_MOBILE_FOOTER = re.compile(
    r"^(sent from my \S+|lähetetty (iphonesta|ipadista|android-laitteesta|mobiilista)"
    r"|skickat från min \S+)$", re.IGNORECASE)
_MAX_ATTRIBUTION_CHARS = 400
_HEADER_BLOCK_LINES = 5


def reply_text(text: str) -> str:
    """Return `text` without the quoted previous message a reply carries below it.

    Cuts at the first attribution line ("On ... wrote:", "... kirjoitti:"), Outlook
    separator or "From: / Sent:" block, or at the trailing run of ``>`` lines. Quotes
    interleaved with answers are kept. When nothing would be left, `text` is returned.
    """
    lines = [line.strip() for line in text.split("\n")]
    cut = _first_marker(lines)
    if cut is None:
        return text
    kept = lines[:cut]
    while kept and (not kept[-1] or _MOBILE_FOOTER.match(kept[-1])):
        kept.pop()
    if not kept:
        return text
    return "\n".join(text.split("\n")[:len(kept)]).rstrip()


def _first_marker(lines: list[str]) -> int | None:
    quoted_tail = _quoted_tail(lines)
    for n, line in enumerate(lines):
        if line.startswith(">"):
            if n >= quoted_tail:
                return n
            continue
        if _SEPARATOR.match(line) or _is_attribution(lines, n):
            return n
        if _HEADER_FROM.match(line) and _header_block_below(lines, n):
            return _rule_above(lines, n)
    return None


def _quoted_tail(lines: list[str]) -> int:
    """Where the closing run of quoted (and blank) lines starts."""
    start = len(lines)
    while start > 0 and (not lines[start - 1] or lines[start - 1].startswith(">")):
        start -= 1
    return start


def _is_attribution(lines: list[str], n: int) -> bool:
    # Clients wrap long attributions, so the line may continue on the next one or two.
    joined = ""
    for count, line in enumerate(lines[n:n + 3], start=1):
        if not line or (joined and line.startswith(">")):
            return False
        joined = f"{joined} {line}".strip()
        if len(joined) > _MAX_ATTRIBUTION_CHARS:
            return False
        if _ATTRIBUTION.match(joined):
            return True
        if _FINNISH_ATTRIBUTION.match(joined) and (count == 1 or _FINNISH_START.match(lines[n])):
            return True
    return False


def _header_block_below(lines: list[str], n: int) -> bool:
    block = lines[n + 1:n + 1 + _HEADER_BLOCK_LINES]
    return any(map(_HEADER_SENT.match, block)) and any(map(_HEADER_SUBJECT.match, block))


def _rule_above(lines: list[str], n: int) -> int:
    above = n - 1
    while above >= 0 and not lines[above]:
        above -= 1
    return above if above >= 0 and _OUTLOOK_RULE.match(lines[above]) else n
