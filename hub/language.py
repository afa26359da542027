"""Which language to answer a passenger in, when they did not say: Finnish unless the text
reads as English (the two languages the console and the answers speak)."""

from __future__ import annotations

import re

_WORDS = re.compile(r"[a-zåäö']+")
_ENGLISH = frozenset((
    "the", "a", "an", "is", "are", "i", "my", "me", "you", "your", "please", "need",
    "cab", "to", "from", "at", "for", "with", "and", "where", "when", "can", "could", "would",
    "will", "hello", "hi", "thanks", "thank", "airport", "station", "hotel", "now", "pick", "up",
))
_FINNISH = frozenset((
    "ja", "on", "ei", "se", "että", "olen", "olisi", "minä", "mä", "kiitos", "hei", "moi",
    "taksi", "taksin", "tarvitsen", "tilaan", "lentokentälle", "asemalle", "kotiin", "missä",
    "milloin", "voisitteko", "onko", "klo",
))


def guess_language(text: str, stated: str | None = None) -> str:
    if stated in ("fi", "en"):
        return stated
    lowered = text.lower()
    if re.search("[äöå]", lowered):
        return "fi"
    words = _WORDS.findall(lowered)
    english = sum(w in _ENGLISH for w in words)
    finnish = sum(w in _FINNISH for w in words)
    return "en" if english > finnish else "fi"
