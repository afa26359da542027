"""Reading a JSON request body, with a clear reason for every way it can be wrong."""

from __future__ import annotations

import asyncio
import json

from aiohttp import web

from hub.errors import BadInput
from hub.json_types import JsonObject

BODY_TIMEOUT_S = 10.0


async def receive_body(request: web.Request) -> bytes:
    """The whole body (aiohttp keeps it for later parsers), within BODY_TIMEOUT_S: called
    before an admission place is taken, so a client trickling its body in byte by byte
    cannot hold a place that passengers need."""
    try:
        # asyncio.timeout, not wait_for: no task of its own for every request.
        async with asyncio.timeout(BODY_TIMEOUT_S):
            return await request.read()
    except TimeoutError:
        raise web.HTTPRequestTimeout(text="the body did not arrive in time") from None


async def read_json_object(request: web.Request) -> JsonObject:
    """The body as a JSON object; 415 for another content type, BadInput (400) otherwise."""
    if request.content_type != "application/json":
        raise web.HTTPUnsupportedMediaType(
            text=json.dumps({"error": "send application/json"}), content_type="application/json"
        )
    raw = await request.read()
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise BadInput("the body is not valid UTF-8") from exc
    except json.JSONDecodeError as exc:
        raise BadInput(
            f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc
    except RecursionError as exc:
        raise BadInput("the JSON is nested too deeply") from exc
    if not isinstance(data, dict):
        raise BadInput("the body must be a JSON object")
    return data
