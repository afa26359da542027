"""The chat widget's words, served from the passenger catalogue (`widget.*`) as JSON:

    GET /widget/words.json?lang=sv   {"lang": "sv", "words": {key: text | {plural forms}}}

An unknown or missing `lang` gets Finnish (the `lang` in the answer says which). The widget
is embedded on the company's own site, so the words are readable from any origin: they are
the same public words every passenger sees, and no cookie is sent or read. Served beside
`/widget/chat.js` by the chat channel, so they exist wherever the widget does.
"""

from __future__ import annotations

import functools
import hashlib
import json

from aiohttp import web

from hub import catalogue

PATH = "/widget/words.json"
HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Cross-Origin-Resource-Policy": "cross-origin",
    "Cache-Control": "no-cache",  # revalidated by ETag: a new word reaches every site at once
}


@functools.cache
def _body(lang: str) -> bytes:
    words = catalogue.words(lang, "widget")
    return json.dumps({"lang": lang, "words": words}, ensure_ascii=False,
                      sort_keys=True).encode("utf-8")


@functools.cache
def _etag(lang: str) -> str:
    return f'"{lang}-{hashlib.sha256(_body(lang)).hexdigest()[:16]}"'


async def widget_words(request: web.Request) -> web.Response:
    lang = catalogue.supported(request.query.get("lang"))
    etag = _etag(lang)
    if request.headers.get("If-None-Match") == etag:
        return web.Response(status=304, headers={**HEADERS, "ETag": etag})
    return web.Response(body=_body(lang), content_type="application/json", charset="utf-8",
                        headers={**HEADERS, "ETag": etag, "Content-Language": lang})


def routes() -> list[web.RouteDef]:
    return [web.get(PATH, widget_words)]
