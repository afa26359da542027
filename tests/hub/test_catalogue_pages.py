"""The pages' message catalogue: English has every Finnish key with the same placeholders,
plural entries have the forms each language uses, and the hub serves it to the pages
without a login, revalidated by ETag."""

from __future__ import annotations

import json

import pytest
from babel import Locale

from hub import catalogue
from hub.catalogue import pages
from hub.settings import Settings
from tests.conftest import HubFactory

OTHERS = [lang for lang in pages.LANGUAGES if lang != "fi"]


@pytest.mark.parametrize("lang", OTHERS)
def test_every_language_has_the_finnish_keys_and_no_others(lang: str) -> None:
    fi, other = pages.entries("fi"), pages.entries(lang)
    assert sorted(set(fi) - set(other)) == [], f"missing in console/{lang}.json"
    assert sorted(set(other) - set(fi)) == [], f"in console/{lang}.json but not in fi.json"


@pytest.mark.parametrize("lang", OTHERS)
def test_placeholders_are_the_same_as_in_finnish(lang: str) -> None:
    fi, other = pages.entries("fi"), pages.entries(lang)
    differ = {key: (sorted(catalogue.placeholders(fi[key])),
                    sorted(catalogue.placeholders(other[key])))
              for key in fi if key in other
              and catalogue.placeholders(fi[key]) != catalogue.placeholders(other[key])}
    assert differ == {}


@pytest.mark.parametrize("lang", pages.LANGUAGES)
def test_plural_entries_have_every_form_and_are_counted_by_count(lang: str) -> None:
    needed = set(Locale.parse(lang).plural_form.tags) | {"other"}
    for key, entry in pages.entries(lang).items():
        if isinstance(entry, str):
            assert entry.strip(), f"{lang}: {key} is empty"
            continue
        assert set(entry) == needed, f"{lang}: {key} has {sorted(entry)}, needs {needed}"
        # web/words.js chooses the form by values.count: the text must be able to show it
        assert "{count}" in entry["other"], f"{lang}: {key} plural without {{count}}"


def test_keys_are_dotted_by_the_script_that_shows_them() -> None:
    for key in pages.entries("fi"):
        assert "." in key and key.split(".", 1)[0].replace("_", "").isalpha(), key


async def test_the_words_are_served_without_login_and_revalidated(
    hub: HubFactory, settings: Settings
) -> None:
    client = await hub(settings)
    resp = await client.get("/console/words/en.json")
    assert resp.status == 200 and resp.content_type == "application/json"
    assert resp.headers["Content-Language"] == "en"
    words = json.loads(await resp.text())
    assert words == dict(pages.entries("en"))
    assert words["queue.search_found"] == {"one": "{count} match", "other": "{count} matches"}
    etag = resp.headers["ETag"]
    again = await client.get("/console/words/en.json", headers={"If-None-Match": etag})
    assert again.status == 304
    finnish = await client.get("/console/words/fi.json", headers={"If-None-Match": etag})
    assert finnish.status == 200 and finnish.headers["ETag"] != etag


@pytest.mark.parametrize("path", ["/console/words/sv.json", "/console/words/..%2Ffi.json"])
async def test_a_language_the_pages_do_not_speak_is_not_found(
    hub: HubFactory, settings: Settings, path: str
) -> None:
    client = await hub(settings)
    resp = await client.get(path)
    assert resp.status == 404
