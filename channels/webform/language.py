"""Which language the hosted form speaks: the one the passenger chose (`?lang=` or the
form's hidden field), else the browser's first that the passenger catalogue has, else the
hub's default."""

from __future__ import annotations

from hub.catalogue import LANGUAGES, supported


def pick_language(chosen: str | None, accept_language: str, default: str) -> str:
    if chosen in LANGUAGES:
        return chosen
    for part in accept_language.split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGUAGES:
            return code
    return supported(default)
