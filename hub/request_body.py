"""Reading a JSON request body, with a clear reason for every way it can be wrong.

`read_body(request, Model)` is the API's one reader: the body as a typed model (a
`RequestModel` of hub.request_models), whose declared constraints the OpenAPI's request
schemas are generated from. What the model refuses is answered as the handlers always
answered: 422 with `fields: {name: mark}` (required, invalid, too_long, unknown_field ...)
and an error code with its params, which the model may name per field (`refusals`).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar, TypeVar

import msgspec
from aiohttp import web

from hub.error_codes import ErrorCode, Reason
from hub.errors import BadInput
from hub.json_types import JsonObject

BODY_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Refusal:
    """How a wrong field is answered: `why` (code and params) for any fault of the field,
    unless the fault's mark has an error of its own (`required`, `too_long`, `too_short`).
    `marks` renames a mark where the handlers always marked the field otherwise (a missing
    target as "invalid"); the renamed mark is the one that picks the error."""

    why: ErrorCode | Reason
    required: ErrorCode | Reason | None = None
    too_long: ErrorCode | Reason | None = None
    too_short: ErrorCode | Reason | None = None
    marks: Mapping[str, str] = field(default_factory=dict)


Refusals = Mapping[str, Refusal]


class RequestModel(msgspec.Struct, kw_only=True):
    """A JSON request body. Unknown fields are ignored unless a model forbids them (then
    `unknown_field` says the error); a field without a refusal of its own gets the generic
    one. `marks_fields` False: the refusal is a 400 naming no field, as some routes always
    answered."""

    refusals: ClassVar[Refusals] = {}
    unknown: ClassVar[ErrorCode | Reason] = ErrorCode.BAD_INPUT
    unknown_mark: ClassVar[str] = "unknown_field"
    marks_fields: ClassVar[bool] = True

    @classmethod
    def unknown_field(cls, name: str) -> ErrorCode | Reason:
        return cls.unknown


Model = TypeVar("Model", bound=RequestModel)

# msgspec's ValidationError names the fault in English and the place as `$.field...`.
_AT = re.compile(r" - at `\$\.(?P<field>[^.\[`]+)(?P<rest>[^`]*)`$")
_NAMED = re.compile(
    r"^Object (?P<fault>missing required|contains unknown) field `(?P<field>[^`]+)`$")
_LENGTH = re.compile(r"^Expected `(?P<kind>str|array|object)` of length (?P<bound>[<>])= ")


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


async def read_body(request: web.Request, model: type[Model]) -> Model:
    """The body as `model`: 415 for another content type, 400 for a body that is not a JSON
    object, 422 naming the field the model refuses."""
    return body_as(await read_json_object(request), model)


def body_as(data: JsonObject, model: type[Model]) -> Model:
    """A decoded JSON object as `model`, or the BadInput that names what is wrong."""
    try:
        return msgspec.convert(data, model)
    except msgspec.ValidationError as exc:
        name, mark = fault(str(exc))
        why, mark = _refusal(model, name, mark)
        raise BadInput(why, {name: mark} if model.marks_fields else None) from None


def fault(message: str) -> tuple[str, str]:
    """The top-level field a msgspec ValidationError is about, and its mark."""
    named = _NAMED.match(message)
    if named:
        return named["field"], ("required" if named["fault"] == "missing required"
                                else "unknown_field")
    at = _AT.search(message)
    if at is None:
        return "body", "invalid"
    length = _LENGTH.match(message)
    if length and at["rest"] == "":  # the field's own length, not a value's inside it
        if length["bound"] == ">":
            return at["field"], "too_short" if length["kind"] == "str" else "too_few"
        return at["field"], "too_long" if length["kind"] == "str" else "too_many"
    return at["field"], "invalid"


def _refusal(model: type[RequestModel], name: str, mark: str
             ) -> tuple[ErrorCode | Reason, str]:
    if mark == "unknown_field":
        return model.unknown_field(name), model.unknown_mark
    refusal = model.refusals.get(name)
    if refusal is None:
        if mark == "required":
            return ErrorCode.FIELD_REQUIRED.of(field=name), mark
        return ErrorCode.BAD_INPUT, mark
    mark = refusal.marks.get(mark, mark)
    own = {"required": refusal.required, "too_long": refusal.too_long,
           "too_short": refusal.too_short}.get(mark)
    return own or refusal.why, mark
