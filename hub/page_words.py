"""The pages' words, served from the page catalogue (hub.catalogue.pages) as JSON:

    GET /console/words/fi.json   {key: text | {plural forms}}

The console, admin, reports and wallboard pages load them before their first render. They
are the same words for everyone, so no login is asked; `no-cache` with an ETag lets a
browser keep them and still see a new word after an upgrade.
"""

from __future__ import annotations

import functools
import hashlib
import json

from aiohttp import web

from hub.catalogue import pages
from hub.errors import NotFound

PATH = "/console/words/{lang}.json"
CACHE_CONTROL = "no-cache"  # revalidated by ETag on every page load


@functools.cache
def _body(lang: str) -> bytes:
    return json.dumps(dict(pages.entries(lang)), ensure_ascii=False,
                      sort_keys=True).encode("utf-8")


@functools.cache
def _etag(lang: str) -> str:
    return f'"{lang}-{hashlib.sha256(_body(lang)).hexdigest()[:16]}"'


async def page_words(request: web.Request) -> web.Response:
    lang = request.match_info["lang"]
    if lang not in pages.LANGUAGES:
        raise NotFound(f"the pages have no words in {lang!r}")
    headers = {"Cache-Control": CACHE_CONTROL, "ETag": _etag(lang)}
    if request.headers.get("If-None-Match") == headers["ETag"]:
        return web.Response(status=304, headers=headers)
    return web.Response(body=_body(lang), content_type="application/json", charset="utf-8",
                        headers={**headers, "Content-Language": lang})


def routes() -> list[web.RouteDef]:
    return [web.get(PATH, page_words)]
