"""The baseline for bench/ingest.py: a bare aiohttp app that parses a form POST and answers.

    python bench/baseline.py PORT

It does what every form handler must do (read and parse the body) and nothing else, so the
hub's figures can be read against the cost of aiohttp itself on the same machine.
"""

from __future__ import annotations

import sys

from aiohttp import web


async def accept(request: web.Request) -> web.Response:
    await request.post()
    return web.Response(text="ok")


def main(argv: list[str]) -> None:
    app = web.Application()
    app.router.add_post("/form", accept)
    app.router.add_get("/readyz", ready)
    web.run_app(app, host="127.0.0.1", port=int(argv[1]), print=None, shutdown_timeout=1)


async def ready(request: web.Request) -> web.Response:
    return web.Response(text="ready")


if __name__ == "__main__":
    main(sys.argv)
