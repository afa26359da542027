"""Which language to answer a passenger in, when they did not say: Finnish unless the text
reads as Swedish or English (the languages of the passenger catalogue, `hub.catalogue`).

Letters decide first: `ä`/`ö` are in both Finnish and Swedish, but `å` is Swedish only, so
`å` with neither of the others reads as Swedish. Otherwise common short words are counted:
Swedish wins when its words outnumber both others' (a Swedish street name in a Finnish
message does not make it Swedish), and any of `äöå` still reads as Finnish before English."""

from __future__ import annotations

import re

from hub.catalogue import LANGUAGES

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
_SWEDISH = frozenset((
    "jag", "och", "är", "en", "ett", "till", "från", "med", "behöver", "vill", "beställa",
    "kan", "ni", "du", "mig", "min", "mitt", "hej", "tack", "nu", "genast", "kl",
    "flygplatsen", "stationen", "hem", "hemma", "vid", "på", "det", "som", "inte", "var",
    "när", "hämta", "bil", "skulle", "vänligen", "adress", "god", "morgon", "dag",
))


def guess_language(text: str, stated: str | None = None) -> str:
    if stated in LANGUAGES:
        return stated
    return read_language(text) or "fi"


def read_language(text: str) -> str | None:
    """The language the text reads as, or None when it gives no clue (no word of the lists,
    no `å`): where an answer can be in several languages, no clue is not Finnish."""
    lowered = text.lower()
    if "å" in lowered and not re.search("[äö]", lowered):
        return "sv"
    words = _WORDS.findall(lowered)
    english = sum(w in _ENGLISH for w in words)
    finnish = sum(w in _FINNISH for w in words)
    swedish = sum(w in _SWEDISH for w in words)
    if not english + finnish + swedish:
        return None
    if swedish > max(english, finnish):
        return "sv"
    if re.search("[äöå]", lowered):
        return "fi"
    return "en" if english > finnish else "fi"
