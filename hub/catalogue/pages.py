"""The pages' message catalogue: every word of the dispatcher console, the admin, reports and
wallboard pages, in Finnish and English, one JSON file per language in `console/` beside
this module, joined by the hub's error texts (`errors/<lang>.json`, keys `error.<code>`)
where those exist.

Keys are dotted by the script that shows them: `console.*` web/console/console.js,
`queue.*` web/console/queue.js, `admin.*` web/admin/admin.js, `admin_lanes.*`
web/admin/lanes.js, `reports.*`, `wallboard.*`. A value is a text with `{placeholders}`,
or, where a count is shown, an object of plural forms by CLDR category filled by `{count}`
and chosen in the browser with Intl.PluralRules (web/words.js).

Finnish is the reference: English has the same keys with the same placeholders
(tests/hub/test_catalogue_pages.py).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from pathlib import Path

from hub.catalogue import Entry

LANGUAGES = ("fi", "en")  # the console speaks these two; the catalogue is ready for more
HERE = Path(__file__).parent


def _read(path: Path) -> dict[str, Entry]:
    loaded: dict[str, Entry] = json.loads(path.read_text("utf-8"))
    return loaded


@functools.cache
def entries(language: str) -> Mapping[str, Entry]:
    """The language's page words and error texts, read once; KeyError for a language the
    pages do not speak."""
    if language not in LANGUAGES:
        raise KeyError(f"no page catalogue for {language!r}; known: {LANGUAGES}")
    words = _read(HERE / "console" / f"{language}.json")
    errors = HERE / "errors" / f"{language}.json"
    return words | _read(errors) if errors.is_file() else words
