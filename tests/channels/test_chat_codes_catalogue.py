"""Every code the chat can refuse with has its words in Finnish, Swedish and English: the hub's
error text (hub/catalogue/errors, for API clients and logs) and, for what the widget meets,
the passenger's sentence (`widget.error.<code>` in the passenger catalogue) that the widget
says instead of the code."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from channels.chat.frames import CLOSES, WIDGET_CODES
from hub import catalogue
from hub.error_codes import ERRORS_DIR, ErrorCode, placeholders

CHAT = Path(__file__).resolve().parents[2] / "channels" / "chat"
LANGUAGES = ("fi", "sv", "en")
# The dispatcher's typing call (POST /api/v1/requests/{id}/typing) is the console's: no Swedish.
DISPATCHERS_ONLY = {ErrorCode.ON_NOT_BOOLEAN}


def _chat_codes() -> set[ErrorCode]:
    """Every ErrorCode the chat channel's modules name (its closes, frames and refusals)."""
    found = set()
    for path in sorted(CHAT.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id == "ErrorCode"):
                found.add(ErrorCode[node.attr])
    return found - DISPATCHERS_ONLY


def _errors(language: str) -> dict[str, str]:
    loaded: dict[str, str] = json.loads((ERRORS_DIR / f"{language}.json").read_text("utf-8"))
    return loaded


def test_the_scan_finds_the_chat_codes() -> None:
    codes = _chat_codes()
    assert set(CLOSES) <= codes
    assert {ErrorCode.ORIGIN_NOT_ALLOWED, ErrorCode.CHAT_CONNECTIONS_TOO_MANY,
            ErrorCode.CHAT_HANDSHAKES_TOO_MANY, ErrorCode.ANNOUNCEMENT_ONLY} <= codes


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_chat_code_has_an_error_text(language: str) -> None:
    texts = _errors(language)
    missing = {code.value for code in _chat_codes() | set(CLOSES)} - {
        key.removeprefix("error.") for key in texts}
    assert not missing, language


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_code_the_widget_meets_has_a_passenger_sentence(language: str) -> None:
    words = catalogue.words(language, "widget")
    english = _errors("en")
    for code in sorted(WIDGET_CODES):
        sentence = words.get(f"error.{code}")
        assert isinstance(sentence, str) and sentence.strip(), (language, code)
        # The params the hub sends with the code are the ones the sentence may name.
        assert catalogue.placeholders(sentence) <= placeholders(english[f"error.{code}"]), (
            language, code)
    general = words.get("error_general")
    assert isinstance(general, str) and general.strip() and not catalogue.placeholders(general)


def test_the_passenger_sentences_are_not_the_codes_or_the_hubs_english() -> None:
    english = _errors("en")
    for language in LANGUAGES:
        words = catalogue.words(language, "widget")
        for code in WIDGET_CODES - {ErrorCode.ANNOUNCEMENT_ONLY.value}:
            sentence = words[f"error.{code}"]
            assert sentence not in (code, english[f"error.{code}"]), (language, code)
