"""The passenger message catalogue: every word a passenger reads, in Finnish, Swedish and
English, one JSON file per language beside this module (`fi.json`, `sv.json`, `en.json`).

Keys are dotted by where they are shown: `form.*` the hosted web form, `widget.*` the chat
widget (served to it as JSON, `widget_words`), `transcript.*` the chat transcript mail,
`answer.*` the automatic answers (built-in templates, the next opening, the estimated wait).
A value is a text with `{placeholders}`, or, where a count is shown, an object of plural
forms by CLDR category ("one", "other", ...) chosen with Babel's plural rules.

Finnish is the reference: every other language has the same keys with the same
placeholders (tests/hub/test_catalogue.py), and a missing key is an error, never a silent
Finnish word in a Swedish page.

The staff's pages (console, admin, reports, wallboard) have a catalogue of their own in
`console/`, read by `hub.catalogue.pages`.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from babel import Locale
from babel.dates import format_datetime

LANGUAGES = ("fi", "sv", "en")  # the order the form's language switch shows them in
DEFAULT = "fi"
HERE = Path(__file__).parent
_PLACEHOLDER = re.compile(r"\{(\w+)\}")

Entry = str | Mapping[str, str]


@functools.cache
def entries(language: str) -> Mapping[str, Entry]:
    """The language's whole catalogue, read once; KeyError for a language it has not."""
    if language not in LANGUAGES:
        raise KeyError(f"no passenger catalogue for {language!r}; known: {LANGUAGES}")
    loaded: dict[str, Entry] = json.loads((HERE / f"{language}.json").read_text("utf-8"))
    return loaded


@functools.cache
def _locale(language: str) -> Locale:
    return Locale.parse(language)


def supported(language: str | None) -> str:
    """The language itself when the catalogue speaks it, else Finnish."""
    return language if language in LANGUAGES else DEFAULT


def plural_category(language: str, count: int) -> str:
    """CLDR's plural category of `count` in the language ("one", "other", ...)."""
    return str(_locale(language).plural_form(abs(count)))


def text(language: str, key: str, /, **values: object) -> str:
    """The key's text in the language with its placeholders filled. A plural entry picks its
    form by `n`. KeyError for a key the catalogue has not."""
    entry = entries(language)[key]
    if not isinstance(entry, str):
        count = values.get("n")
        if not isinstance(count, int):
            raise TypeError(f"{key} has plural forms: give n as an int")
        entry = entry.get(plural_category(language, count)) or entry["other"]
    return _PLACEHOLDER.sub(lambda found: str(values.get(found[1], found[0])), entry)


def words(language: str, prefix: str) -> dict[str, Entry]:
    """The entries under `prefix.` with the prefix taken off (what one page is given)."""
    start = f"{prefix}."
    return {key[len(start):]: value for key, value in entries(language).items()
            if key.startswith(start)}


def placeholders(entry: Entry) -> frozenset[str]:
    """The placeholders an entry names, over all its plural forms."""
    forms = [entry] if isinstance(entry, str) else list(entry.values())
    return frozenset(name for form in forms for name in _PLACEHOLDER.findall(form))


def format_moment(language: str, at: datetime) -> tuple[str, str, str]:
    """(weekday, date, time) of an aware local time as a passenger reads them: ("ma",
    "1.12.", "7.00") in Finnish, ("mån", "1.12.", "7.00") in Swedish, ("Mon", "1 Dec",
    "07:00") in English."""
    locale = _locale(language)
    return (format_datetime(at, "EEE", locale=locale),
            format_datetime(at, str(entries(language)["answer.date_pattern"]), locale=locale),
            format_datetime(at, str(entries(language)["answer.time_pattern"]), locale=locale))
