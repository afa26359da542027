"""The error texts hold every code the hub raises, with the placeholders its raise sites fill.

The raise sites are read from the source (ast): `ErrorCode.X.of(a=..., b=...)` must fill
exactly the placeholders of `error.x`, and a bare `ErrorCode.X` names a text without any.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from hub.error_codes import ERRORS_DIR, PASSENGER_CODES, ErrorCode, placeholders

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("hub", "dispatch", "channels")


def _file(language: str) -> dict[str, str]:
    loaded: dict[str, str] = json.loads((ERRORS_DIR / f"{language}.json").read_text("utf-8"))
    return loaded


def _uses() -> list[tuple[str, ErrorCode, set[str] | None]]:
    """(where, code, the params it is given; None when given none)"""
    found: list[tuple[str, ErrorCode, set[str] | None]] = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if path.name == "error_codes.py":
                continue  # the table itself
            tree = ast.parse(path.read_text("utf-8"))
            parents = {child: node for node in ast.walk(tree)
                       for child in ast.iter_child_nodes(node)}
            for node in ast.walk(tree):
                if not (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                        and node.value.id == "ErrorCode"):
                    continue
                where = f"{path.relative_to(ROOT)}:{node.lineno}"
                code = ErrorCode[node.attr]
                parent = parents.get(node)
                call = parents.get(parent) if parent is not None else None
                if isinstance(parent, ast.Attribute) and parent.attr == "value":
                    continue  # the code's name itself, not a reason
                if (isinstance(parent, ast.Attribute) and parent.attr == "of"
                        and isinstance(call, ast.Call)):
                    found.append((where, code, {k.arg for k in call.keywords if k.arg}))
                else:
                    found.append((where, code, None))
    return found


def test_fi_and_en_hold_every_code_and_nothing_else() -> None:
    wanted = {f"error.{code.value}" for code in ErrorCode}
    for language in ("fi", "en"):
        assert set(_file(language)) == wanted, language


def test_sv_holds_what_a_passenger_can_meet() -> None:
    assert set(_file("sv")) == {f"error.{code.value}" for code in PASSENGER_CODES}


@pytest.mark.parametrize("language", ["fi", "sv"])
def test_every_language_has_the_english_placeholders(language: str) -> None:
    english = _file("en")
    for key, text in _file(language).items():
        assert placeholders(text) == placeholders(english[key]), (language, key)


def test_every_raise_site_fills_exactly_its_texts_placeholders() -> None:
    english = _file("en")
    uses = _uses()
    assert len(uses) > 200  # the scan found the raise sites
    wrong = [(where, code.value, given, placeholders(english[f"error.{code.value}"]))
             for where, code, given in uses
             if (given or set()) != placeholders(english[f"error.{code.value}"])]
    assert not wrong


def test_every_code_is_raised_somewhere() -> None:
    used = {code for _, code, _ in _uses()}
    assert set(ErrorCode) - used == set()
