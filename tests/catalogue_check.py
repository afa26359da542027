"""Checks that every word a page shows comes from that language's page catalogue
(hub/catalogue/console/<lang>.json), for the browser tests; `passenger_foreign_words` does
the same for the passenger's pages (the web form, the chat widget) against the passenger
catalogue (hub/catalogue/<lang>.json).

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
from typing import Any

from playwright.async_api import Page

from hub import catalogue
from hub.catalogue import Entry, pages

SEPARATORS = (" · ", ": ", ", ")
_LETTER = re.compile(r"[^\W\d_]")
_PLACEHOLDER = re.compile(r"\{\w+\}")
_ASIDE = re.compile(r"(?:(.*?) )?\((.+)\)")
_SENTENCE_END = re.compile(r"(?<=[.!?…]) ")

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
def _patterns(lang: str, passenger: bool = False) -> tuple[re.Pattern[str], ...]:
    """Each catalogue text as a whole-text pattern, a placeholder matching anything. A text
    that is nothing but placeholders says no word of its own and would match anything."""
    found = set()
    source = catalogue.entries(lang) if passenger else pages.entries(lang)
    for entry in source.values():
        for whole in _forms(entry):
            # A passenger's answer leaves out a sentence it has no value for (an unknown
            # wait: hub.answer_templates.render_template), so each sentence stands alone.
            for form in [whole, *(_SENTENCE_END.split(whole) if passenger else [])]:
                if not _LETTER.search(_PLACEHOLDER.sub("", form)):
                    continue
                parts = _PLACEHOLDER.split(form.strip())
                found.add(".+?".join(re.escape(part) for part in parts))
    return tuple(re.compile(pattern, re.DOTALL) for pattern in sorted(found))


def _explained(text: str, lang: str, data: frozenset[str], passenger: bool = False) -> bool:
    @functools.cache
    def covered(part: str) -> bool:
        if not _LETTER.search(part) or part in data:
            return True
        if any(pattern.fullmatch(part) for pattern in _patterns(lang, passenger)):
            return True
        aside = _ASIDE.fullmatch(part)  # "Pia (pia.admin)", "(built-in text)"
        if aside and covered(aside[2]) and (not aside[1] or covered(aside[1])):
            return True
        if passenger and any(covered(part[:at]) and covered(part[at + 1:])
                             for at in _sentence_ends(part)):
            return True  # "<intro>. <call us>.": two catalogue sentences in one paragraph
        return any(covered(part[:at]) and covered(part[at + len(sep):])
                   for sep in SEPARATORS for at in _positions(part, sep))

    return covered(text)


def _sentence_ends(text: str) -> list[int]:
    return [found.start() for found in _SENTENCE_END.finditer(text)]


def _positions(text: str, sep: str) -> list[int]:
    return [found.start() for found in re.finditer(re.escape(sep), text)]


async def foreign_words(page: Page, lang: str, data: Iterable[str] = ()) -> list[str]:
    """The texts the page shows now that are neither words of `lang`'s catalogue nor the
    test's own `data` (the names, logins and addresses it put in)."""
    texts: list[str] = await page.evaluate(COLLECT)
    known = frozenset(data)
    return sorted({text for text in texts if not _explained(text, lang, known)})


# Runs in the page (or in the open shadow root of the element `root` names): each line of
# text a reader meets, as {lang, whole, parts}. A line is the text of one block (a
# paragraph, a button, a label) with its inline elements (a link, a <strong> reference) in
# it: `whole` is it read through, `parts` its text nodes one by one, `lang` the language
# the nearest `lang` attribute gives it (the switch names each language in its own).
COLLECT_LINES = """
([root, fallback]) => {
  const skip = "[data-user-text], [translate=no], script, style, noscript, template, title";
  const host = root ? document.querySelector(root) : document.body;
  const scope = host && host.shadowRoot ? host.shadowRoot : host;
  if (!scope) return [];
  const shown = (node) => node.checkVisibility({ visibilityProperty: true })
    && !node.closest("[hidden], [aria-hidden=true]");
  const fold = (text) => text.replace(/\\s+/g, " ").trim();
  const inline = (node) => ["inline", "inline-block", "contents"]
    .includes(getComputedStyle(node).display);
  const language = (node) => node.closest("[lang]")?.getAttribute("lang") || fallback;
  const lines = new Map();
  const walker = document.createTreeWalker(scope, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    if (!parent || parent.closest(skip) || !shown(parent)) continue;
    let block = parent;
    while (inline(block) && block.parentElement && !block.parentElement.closest(skip)) {
      block = block.parentElement;
    }
    if (!lines.has(block)) lines.set(block, { lang: language(parent), raw: [] });
    lines.get(block).raw.push(node.textContent);
  }
  const found = [];
  for (const { lang, raw } of lines.values()) {
    const parts = raw.map(fold).filter(Boolean);
    if (parts.length) found.push({ lang, whole: fold(raw.join("")), parts });
  }
  for (const node of scope.querySelectorAll("[aria-label], [title], [placeholder]")) {
    if (node.closest(skip) || !shown(node)) continue;
    for (const name of ["aria-label", "title", "placeholder"]) {
      const text = fold(node.getAttribute(name) || "");
      if (text && !(name === "title" && text === fold(node.textContent))) {
        found.push({ lang: language(node), whole: text, parts: [text] });
      }
    }
  }
  return found;
}
"""


async def passenger_foreign_words(page: Page, lang: str, data: Iterable[str] = (),
                                  root: str | None = None) -> list[str]:
    """The lines a passenger's page shows now (all of it, or the shadow root of the element
    `root` selects, such as the chat widget's host) that are neither words of the passenger
    catalogue of `lang` (or of the language an element's own `lang` names) nor the test's
    own `data`. A line passes when read through it is a catalogue text with its placeholders
    filled ("Viitteesi on <strong>ABC</strong>."), or when each of its text nodes does
    ("Viitenumerosi on" and the reference); sentences of the catalogue may follow one
    another in a paragraph."""
    lines: list[dict[str, Any]] = await page.evaluate(COLLECT_LINES, [root, lang])
    known = frozenset(data)
    foreign = set()
    for line in lines:
        said = str(line["lang"])[:2].lower()
        languages = {lang, said} if said in catalogue.LANGUAGES else {lang}
        whole, parts = str(line["whole"]), [str(part) for part in line["parts"]]
        if not (_passenger_says(whole, languages, known)
                or all(_passenger_says(part, languages, known) for part in parts)):
            foreign.add(whole)
    return sorted(foreign)


def _passenger_says(text: str, languages: set[str], data: frozenset[str]) -> bool:
    return any(_explained(text, lang, data, passenger=True) for lang in languages)
