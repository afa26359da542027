"""A taxi company's website on its own origin, embedding the hub's chat widget with one script
tag, and a passenger's widget speaking the chat protocol straight over a websocket.

    async with ChatSite() as site:          # http://127.0.0.1:<port>: its own origin
        site.hub = "http://127.0.0.1:<hub port>"
        page.goto(site.url)                  # the page loads <hub>/widget/chat.js
"""

from __future__ import annotations

import asyncio
import dataclasses
import html
import json
import uuid
from dataclasses import dataclass, field
from typing import Any, Self

import aiohttp
from aiohttp import web

from hub.settings import ChannelsSettings, ChatSettings, OutboundSettings, Secret, Settings
from tests.helpers import WAIT_S

ORIGIN = "https://www.taksi.example"  # the company's site in tests without a browser
SECRET = "chat-test-secret"

PAGE = """<!doctype html>
<html lang="{lang}">
<head><meta charset="utf-8"><title>Taksi Esimerkki Oy</title>
<link rel="icon" href="data:,"></head>
<body>
<header><h1>Taksi Esimerkki Oy</h1><nav><a href="/">Etusivu</a> <a href="/hinnat">Hinnat</a>
</nav></header>
<main><p>Tilaa taksi numerosta 0100 0000 tai kysy chatissa.</p>
<button type="button" id="page-button">A button of the site itself</button></main>
<script src="{hub}/widget/chat.js" data-lang="{lang}" async></script>
</body>
</html>
"""


def chat_settings(settings: Settings, **chat: Any) -> Settings:
    """The hub with the chat channel for `ORIGIN` (or `allowed_origins`), and a quick
    outbound worker."""
    return dataclasses.replace(
        settings,
        channels=ChannelsSettings(enabled=("webform", "chat")),
        chat=ChatSettings(**{"allowed_origins": (ORIGIN,), "token_secret": Secret(SECRET),
                             **chat}),
        outbound=OutboundSettings(backoff_base_s=0.05, backoff_max_s=0.2, poll_s=0.05,
                                  send_timeout_s=5, max_attempts=4),
    )


class ChatSite:
    """The company's site: `/` and `/hinnat` both embed the widget."""

    def __init__(self, lang: str = "fi") -> None:
        self.lang = lang
        self.hub = ""  # the hub's base URL, set once the hub runs
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return self.origin + "/"

    async def _page(self, request: web.Request) -> web.Response:
        return web.Response(text=PAGE.format(lang=self.lang, hub=html.escape(self.hub)),
                            content_type="text/html", charset="utf-8")

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_get("/", self._page)
        app.router.add_get("/hinnat", self._page)
        # A short shutdown: the page's widget socket goes to the hub, not here, but a
        # browser's keep-alive connection must not hold the teardown for a minute.
        self._runner = web.AppRunner(app, shutdown_timeout=1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc: Any) -> None:
        assert self._runner is not None
        await self._runner.cleanup()


@dataclass
class Widget:
    """A passenger's widget without the browser: the protocol over aiohttp's client."""

    ws: aiohttp.ClientWebSocketResponse
    welcome: dict[str, Any]
    backlog: list[dict[str, Any]] = field(default_factory=list)

    @property
    def token(self) -> str:
        return str(self.welcome["token"])

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send_str(json.dumps(frame))

    async def say(self, text: str, client_id: str | None = None) -> str:
        client_id = client_id or str(uuid.uuid4())
        await self.send({"type": "message", "id": client_id, "text": text})
        return client_id

    async def frame(self, wait_s: float = WAIT_S) -> dict[str, Any]:
        if self.backlog:
            return self.backlog.pop(0)
        message = await asyncio.wait_for(self.ws.receive(), wait_s)
        assert message.type == aiohttp.WSMsgType.TEXT, (message.type, message.data,
                                                        message.extra)
        found: dict[str, Any] = json.loads(message.data)
        return found

    async def next(self, kind: str, wait_s: float = WAIT_S) -> dict[str, Any]:
        """The next frame of `kind`; frames of other kinds are kept for later."""
        skipped: list[dict[str, Any]] = []
        try:
            while True:
                found = await self.frame(wait_s)
                if found["type"] == kind:
                    return found
                skipped.append(found)
        finally:
            self.backlog[:0] = skipped

    async def closed(self, wait_s: float = WAIT_S) -> tuple[int | None, str]:
        """Read until the hub closes the socket: (close code, reason)."""
        while True:
            message = await asyncio.wait_for(self.ws.receive(), wait_s)
            if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED,
                                aiohttp.WSMsgType.CLOSING):
                return self.ws.close_code, str(message.extra or "")

    async def quiet(self, wait_s: float = 0.5) -> list[dict[str, Any]]:
        """Frames that arrive within `wait_s` (none is the usual expectation)."""
        got = list(self.backlog)
        self.backlog.clear()
        try:
            while True:
                got.append(await self.frame(wait_s))
        except TimeoutError:
            return got

    async def close(self) -> None:
        await self.ws.close()


async def open_widget(http: aiohttp.ClientSession, base: str, origin: str, *,
                      token: str | None = None, last_seen: str | None = None,
                      lang: str = "fi") -> Widget:
    """Connect as the widget on a page of `origin` and say hello; returns after welcome."""
    ws = await http.ws_connect(f"{base}/chat/ws", origin=origin)
    await ws.send_str(json.dumps({"type": "hello", "token": token, "last_seen": last_seen,
                                  "lang": lang}))
    message = await asyncio.wait_for(ws.receive(), WAIT_S)
    assert message.type == aiohttp.WSMsgType.TEXT, (message.type, message.data)
    welcome = json.loads(message.data)
    assert welcome["type"] == "welcome", welcome
    return Widget(ws, welcome)
