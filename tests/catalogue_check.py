"""Checks that every word a page shows comes from that language's page catalogue
(hub/catalogue/console/<lang>.json), for the browser tests.

The page is read as a reader meets it: the text of every rendered text node, and the
aria-label, title and placeholder of every rendered element. Left out are what the page
marks as data (`data-user-text`: names, messages, references, times) or as words of no
language (`translate="no"`: the brand, language codes, key caps, placeholders), text
without a letter (counts, clock times, separators) and the values the test itself put in.
Every other text must be a catalogue value of the language, its `{placeholders}` standing
for anything, or such values joined by the page's separators (" · ", ": ", ", ") or with
one in brackets after another ("Pia (pia.admin)").
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

from playwright.async_api import Page

from hub.catalogue import Entry, pages

SEPARATORS = (" · ", ": ", ", ")
_LETTER = re.compile(r"[^\W\d_]")
_PLACEHOLDER = re.compile(r"\{\w+\}")
_ASIDE = re.compile(r"(?:(.*?) )?\((.+)\)")

# Runs in the page: what a sighted or screen-reader user meets, as whitespace-folded texts.
COLLECT = """
() => {
  const skip = "[data-user-text], [translate=no], script, style, noscript, template";
  const shown = (node) => node.checkVisibility({ visibilityProperty: true })
    && !node.closest("[hidden], [aria-hidden=true]");
  const fold = (text) => text.replace(/\\s+/g, " ").trim();
  const found = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    if (!parent || parent.closest(skip) || !shown(parent)) continue;
    const text = fold(node.textContent);
    if (text) found.push(text);
  }
  for (const node of document.body.querySelectorAll("[aria-label], [title], [placeholder]")) {
    if (node.closest(skip) || !shown(node)) continue;
    for (const name of ["aria-label", "title", "placeholder"]) {
      const text = fold(node.getAttribute(name) || "");
      // a tooltip repeating what the element shows (a cut-off name) is checked as its text
      if (text && !(name === "title" && text === fold(node.textContent))) found.push(text);
    }
  }
  return found;
}
"""


def _forms(entry: Entry) -> Iterable[str]:
    return [entry] if isinstance(entry, str) else entry.values()


@functools.cache
def _patterns(lang: str) -> tuple[re.Pattern[str], ...]:
    """Each catalogue text as a whole-text pattern, a placeholder matching anything. A text
    that is nothing but placeholders says no word of its own and would match anything."""
    found = set()
    for entry in pages.entries(lang).values():
        for form in _forms(entry):
            if not _LETTER.search(_PLACEHOLDER.sub("", form)):
                continue
            parts = _PLACEHOLDER.split(form.strip())
            found.add(".+?".join(re.escape(part) for part in parts))
    return tuple(re.compile(pattern, re.DOTALL) for pattern in sorted(found))


def _explained(text: str, lang: str, data: frozenset[str]) -> bool:
    @functools.cache
    def covered(part: str) -> bool:
        if not _LETTER.search(part) or part in data:
            return True
        if any(pattern.fullmatch(part) for pattern in _patterns(lang)):
            return True
        aside = _ASIDE.fullmatch(part)  # "Pia (pia.admin)", "(built-in text)"
        if aside and covered(aside[2]) and (not aside[1] or covered(aside[1])):
            return True
        return any(covered(part[:at]) and covered(part[at + len(sep):])
                   for sep in SEPARATORS for at in _positions(part, sep))

    return covered(text)


def _positions(text: str, sep: str) -> list[int]:
    return [found.start() for found in re.finditer(re.escape(sep), text)]


async def foreign_words(page: Page, lang: str, data: Iterable[str] = ()) -> list[str]:
    """The texts the page shows now that are neither words of `lang`'s catalogue nor the
    test's own `data` (the names, logins and addresses it put in)."""
    texts: list[str] = await page.evaluate(COLLECT)
    known = frozenset(data)
    return sorted({text for text in texts if not _explained(text, lang, known)})
