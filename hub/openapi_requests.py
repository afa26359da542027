"""The OpenAPI's requestBody of an operation whose JSON body is a typed model: a reference to
the component schema generated from the model (`hub.request_models`), the one the handler
validates the body with."""

from __future__ import annotations

from hub.json_types import JsonDocument
from hub.request_body import RequestModel

JSON = "application/json"


def json_body(model: type[RequestModel], *, required: bool = True) -> JsonDocument:
    return {"required": required, "content": {JSON: {"schema": {
        "$ref": f"#/components/schemas/{model.__name__}"}}}}
