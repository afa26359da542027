"""The OpenAPI paths of calling passengers back (given to `hub.openapi.routes`)."""

from __future__ import annotations

from typing import Any

from hub.openapi_requests import json_body
from hub.request_models import CallbackOutcomeInput

JSON = "application/json"
SESSION: list[dict[str, list[str]]] = [{"session": []}]
ID_PARAM = {"name": "request_id", "in": "path", "required": True,
            "schema": {"type": "string", "format": "uuid"}}


def _answer(description: str, schema: str = "Error") -> dict[str, Any]:
    return {"description": description,
            "content": {JSON: {"schema": {"$ref": f"#/components/schemas/{schema}"}}}}


REFUSALS: dict[str, Any] = {
    "401": _answer("not logged in"),
    "403": _answer("a foreign origin"),
    "404": _answer("no such request (or not an external user's own)"),
    "409": _answer("a colleague holds it, it is offered to a colleague, or it is resolved "
                   "(an outcome may still be recorded by its last agent)", "Conflict"),
}

PATHS: dict[str, Any] = {
    "/api/v1/requests/{request_id}/call": {"post": {
        "summary": "call the passenger back now: takes a request nobody holds and records a "
                   "callback_call handling event. Through the PBX (Asterisk AMI Originate: "
                   "the dispatcher's phone login rings first, then the callback number; the "
                   "call's events land on this request) when the asterisk_ami channel is "
                   "enabled and the dispatcher has a phone login; otherwise a tel: link",
        "security": SESSION, "parameters": [ID_PARAM],
        "responses": {
            "202": _answer("{via: pbx, action_id, number, request}: the PBX rings the "
                           "dispatcher's phone", "CallNow"),
            "200": _answer("{via: tel, tel: 'tel:+358...', number, request, pbx_error?}: "
                           "open the link (pbx_error: why the PBX did not take the call)",
                           "CallNow"),
            "422": _answer("the passenger has no phone number"),
            **REFUSALS}}},
    "/api/v1/requests/{request_id}/callback-outcome": {"post": {
        "summary": "record how calling back went, as a handling event (cb_<outcome>, the "
                   "note with it): reached marks the callback done (details callback=done, "
                   "callback_done_at) and the request stays with the dispatcher to resolve; "
                   "any other outcome keeps it a callback and counts details "
                   "callback_attempts. Consoles get request.callback_outcome",
        "security": SESSION, "parameters": [ID_PARAM],
        "requestBody": json_body(CallbackOutcomeInput),
        "responses": {
            "200": _answer("{request, outcome}", "CallbackOutcomeResult"),
            "400": _answer("not JSON"), "415": _answer("not application/json"),
            "422": _answer("outcome or note invalid"),
            **REFUSALS}}},
}
