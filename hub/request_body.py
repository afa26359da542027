"""Reading a JSON request body, with a clear reason for every way it can be wrong."""

from __future__ import annotations

import asyncio
import json

from aiohttp import web

from hub.error_codes import ErrorCode
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
            text=json.dumps({"error": "send application/json",
                             "code": ErrorCode.UNSUPPORTED_MEDIA_TYPE.value, "params": {}}),
            content_type="application/json"
        )
    raw = await request.read()
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise BadInput(ErrorCode.BODY_NOT_UTF8) from exc
    except json.JSONDecodeError as exc:
        raise BadInput(ErrorCode.JSON_MALFORMED.of(
            problem=exc.msg, line=exc.lineno, column=exc.colno)) from exc
    except RecursionError as exc:
        raise BadInput(ErrorCode.JSON_TOO_DEEP) from exc
    if not isinstance(data, dict):
        raise BadInput(ErrorCode.BODY_NOT_OBJECT)
    return data
