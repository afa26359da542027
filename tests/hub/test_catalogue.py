"""The passenger message catalogue: every language has every Finnish key with the same
placeholders and the plural forms its language needs, and counts take the right form."""

from __future__ import annotations

import json

import pytest
from babel import Locale

from hub import catalogue

OTHERS = [lang for lang in catalogue.LANGUAGES if lang != "fi"]


@pytest.mark.parametrize("lang", OTHERS)
def test_every_language_has_the_finnish_keys_and_no_others(lang: str) -> None:
    fi, other = catalogue.entries("fi"), catalogue.entries(lang)
    assert sorted(set(fi) - set(other)) == [], f"missing in {lang}.json"
    assert sorted(set(other) - set(fi)) == [], f"in {lang}.json but not in fi.json"


@pytest.mark.parametrize("lang", OTHERS)
def test_placeholders_are_the_same_as_in_finnish(lang: str) -> None:
    fi, other = catalogue.entries("fi"), catalogue.entries(lang)
    differ = {key: (sorted(catalogue.placeholders(fi[key])),
                    sorted(catalogue.placeholders(other[key])))
              for key in fi if key in other
              and catalogue.placeholders(fi[key]) != catalogue.placeholders(other[key])}
    assert differ == {}


@pytest.mark.parametrize("lang", catalogue.LANGUAGES)
def test_plural_entries_have_every_form_the_language_uses(lang: str) -> None:
    needed = set(Locale.parse(lang).plural_form.tags) | {"other"}
    for key, entry in catalogue.entries(lang).items():
        if isinstance(entry, str):
            assert entry.strip(), f"{lang}: {key} is empty"
            continue
        assert set(entry) == needed, f"{lang}: {key} has {sorted(entry)}, needs {needed}"
        assert isinstance(catalogue.entries("fi")[key], dict), f"{key} is plural in fi too"


def test_the_files_are_plain_utf8_json_objects() -> None:
    for lang in catalogue.LANGUAGES:
        loaded = json.loads((catalogue.HERE / f"{lang}.json").read_text("utf-8"))
        assert isinstance(loaded, dict) and loaded


@pytest.mark.parametrize(("lang", "counts"), [
    ("fi", {0: "Chat, 0 uutta viestiä", 1: "Chat, 1 uusi viesti", 2: "Chat, 2 uutta viestiä",
            5: "Chat, 5 uutta viestiä", 21: "Chat, 21 uutta viestiä"}),
    ("sv", {0: "Chatt, 0 nya meddelanden", 1: "Chatt, 1 nytt meddelande",
            2: "Chatt, 2 nya meddelanden", 5: "Chatt, 5 nya meddelanden",
            21: "Chatt, 21 nya meddelanden"}),
    ("en", {0: "Chat, 0 new messages", 1: "Chat, 1 new message", 2: "Chat, 2 new messages",
            5: "Chat, 5 new messages", 21: "Chat, 21 new messages"}),
])
def test_counts_take_their_plural_form(lang: str, counts: dict[int, str]) -> None:
    for n, expected in counts.items():
        assert catalogue.text(lang, "widget.launcher_unread", n=n) == expected


def test_a_missing_key_or_language_is_an_error_not_a_finnish_word() -> None:
    with pytest.raises(KeyError):
        catalogue.text("sv", "form.no_such_key")
    with pytest.raises(KeyError):
        catalogue.entries("de")
    assert catalogue.supported("de") == "fi" and catalogue.supported("sv") == "sv"
