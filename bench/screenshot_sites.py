"""The two outside servers bench/screenshots.py needs besides the hub and the fake Twilio:
a taxi company's website embedding the chat widget, and the PBX's recording server that
holds a caller's voice message. Both listen on 127.0.0.1 on a free port, as `async with`."""

from __future__ import annotations

import html
import io
import wave
from types import TracebackType
from typing import Self

from aiohttp import web

COMPANY_PAGE = """<!doctype html>
<html lang="fi">
<head><meta charset="utf-8"><title>Taksi Esimerkki Oy</title>
<link rel="icon" href="data:,">
<style>
  body {{ margin: 0; font: 17px/1.5 system-ui, sans-serif; color: #1d2433; background: #f6f4ef; }}
  header {{ display: flex; align-items: center; gap: 32px; padding: 18px 48px;
            background: #1d2433; color: #fff; }}
  header strong {{ font-size: 22px; }}
  header span {{ color: #f5c542; }}
  nav a {{ color: #fff; margin-right: 20px; text-decoration: none; }}
  main {{ max-width: 720px; padding: 40px 48px; }}
  h1 {{ font-size: 38px; line-height: 1.2; margin: 0 0 16px; }}
  .call {{ display: inline-block; margin: 12px 0 28px; padding: 12px 22px; border-radius: 6px;
           background: #f5c542; color: #1d2433; font-weight: 700; text-decoration: none; }}
  ul {{ padding-left: 20px; }}
</style></head>
<body>
<header><strong>Taksi <span>Esimerkki</span></strong>
<nav><a href="/">Tilaa taksi</a><a href="/">Hinnat</a><a href="/">Yrityksille</a>
<a href="/">Yhteystiedot</a></nav></header>
<main>
<h1>Taksi Helsingissä, Espoossa ja Vantaalla – ympäri vuorokauden</h1>
<p>Tilaa auto puhelimella, tekstiviestillä tai kysy chatissa: välittäjämme vastaavat
muutamassa minuutissa.</p>
<a class="call" href="tel:+358100000">Soita 0100 0000</a>
<ul>
<li>Tilataksit ja invataksit ennakkoon</li>
<li>Lentokenttäkuljetukset kiinteään hintaan</li>
<li>Löytötavarat: kerro chatissa, mistä ja milloin matkustit</li>
</ul>
</main>
<script src="{hub}/widget/chat.js" data-lang="fi" async></script>
</body>
</html>
"""


class _LocalServer:
    def __init__(self) -> None:
        self.port = 0
        self._runner: web.AppRunner | None = None

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _app(self) -> web.Application:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        # A short shutdown: a browser's keep-alive connection must not hold the exit.
        self._runner = web.AppRunner(self._app(), shutdown_timeout=1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


class CompanySite(_LocalServer):
    """Taksi Esimerkki Oy's front page, embedding the widget of the hub at `hub`."""

    def __init__(self) -> None:
        super().__init__()
        self.hub = ""  # the hub's base URL, known once the hub runs

    def __repr__(self) -> str:
        return f"<CompanySite {self.origin} hub={self.hub!r}>"

    @property
    def url(self) -> str:
        return self.origin + "/"

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/", self._page)
        return app

    async def _page(self, request: web.Request) -> web.Response:
        return web.Response(text=COMPANY_PAGE.format(hub=html.escape(self.hub)),
                            content_type="text/html", charset="utf-8")


class RecordingServer(_LocalServer):
    """The PBX's recording server: `GET /voicemail/{name}.wav` answers a quiet WAV of
    `seconds` (docs/generic-cti.md: the hub fetches the audio when the event comes)."""

    def __init__(self, seconds: int) -> None:
        super().__init__()
        self.audio = _silence(seconds)
        self.fetches = 0

    def __repr__(self) -> str:
        return f"<RecordingServer {self.origin} fetches={self.fetches}>"

    def url(self, name: str) -> str:
        return f"{self.origin}/voicemail/{name}.wav"

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/voicemail/{name}.wav", self._audio)
        return app

    async def _audio(self, request: web.Request) -> web.Response:
        self.fetches += 1
        return web.Response(body=self.audio, content_type="audio/wav")


def _silence(seconds: int, rate: int = 8000) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(b"\0\0" * rate * seconds)
    return out.getvalue()
