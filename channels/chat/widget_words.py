"""The chat widget's words, served from the passenger catalogue (`widget.*`) as JSON:

    GET /widget/words.json?lang=sv   {"lang": "sv", "words": {key: text | {plural forms}},
                                      "urgent_phone": {"shown": "09 123 4567",
                                                       "dial": "+35891234567"} | null}

An unknown or missing `lang` gets Finnish (the `lang` in the answer says which).
`urgent_phone` is the company's number for passengers in a hurry (`company.urgent_phone`, as
the web form offers it): with it the widget says the `*_urgent` sentences naming it (a tel:
link), without it the plain ones, which ask no one to call. It comes with the words, not
over the socket, because the widget needs it most when the socket cannot be opened. The widget
is embedded on the company's own site, so the words are readable from any origin: they are
the same public words every passenger sees, and no cookie is sent or read. Served beside
`/widget/chat.js` by the chat channel, so they exist wherever the widget does.
"""

from __future__ import annotations

import functools
import hashlib
import json

from aiohttp import web

from channels.webform.page import UrgentPhone
from hub import catalogue
from hub.appkeys import SETTINGS

PATH = "/widget/words.json"
HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Cross-Origin-Resource-Policy": "cross-origin",
    "Cache-Control": "no-cache",  # revalidated by ETag: a new word reaches every site at once
}


@functools.cache
def _urgent(text: str, default_region: str) -> UrgentPhone | None:
    return UrgentPhone.of(text, default_region)


@functools.cache
def _body(lang: str, urgent: UrgentPhone | None) -> bytes:
    words = catalogue.words(lang, "widget")
    phone = {"shown": urgent.shown, "dial": urgent.dial} if urgent else None
    return json.dumps({"lang": lang, "words": words, "urgent_phone": phone},
                      ensure_ascii=False, sort_keys=True).encode("utf-8")


@functools.cache
def _etag(lang: str, urgent: UrgentPhone | None) -> str:
    return f'"{lang}-{hashlib.sha256(_body(lang, urgent)).hexdigest()[:16]}"'


async def widget_words(request: web.Request) -> web.Response:
    lang = catalogue.supported(request.query.get("lang"))
    settings = request.app[SETTINGS]
    urgent = _urgent(settings.company.urgent_phone, settings.phone.default_region)
    etag = _etag(lang, urgent)
    if request.headers.get("If-None-Match") == etag:
        return web.Response(status=304, headers={**HEADERS, "ETag": etag})
    return web.Response(body=_body(lang, urgent), content_type="application/json", charset="utf-8",
                        headers={**HEADERS, "ETag": etag, "Content-Language": lang})


def routes() -> list[web.RouteDef]:
    return [web.get(PATH, widget_words)]
