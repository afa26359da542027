"""The OpenAPI paths of automatic answer templates (given to `hub.openapi.routes`)."""

from __future__ import annotations

from typing import Any

from hub.openapi_lanes import ERROR, JSON, SESSION, _ok

TEMPLATE_PARAM = {"name": "template_id", "in": "path", "required": True,
                  "schema": {"type": "string", "format": "uuid"}}
TEMPLATE_FIELDS: dict[str, Any] = {
    "kind": {"enum": ["acknowledgement", "out_of_hours"]},
    "lane": {"type": ["string", "null"],
             "description": "a lane's key; null: every lane without a template of its own"},
    "language": {"enum": ["fi", "sv", "en"]},
    "body": {"type": "string", "maxLength": 1000, "description":
             "placeholders {reference}, {name}, and {wait} (acknowledgement: the estimated "
             "wait, e.g. \"noin 5 min\") or {opens} (out_of_hours: the next opening, e.g. "
             "\"ma 7.00\"); any other {word}, or one the kind does not fill, is refused "
             "with 422 naming it"},
}
_BODY = {"required": True, "content": {JSON: {"schema": {
    "type": "object", "required": ["kind", "language", "body"],
    "properties": TEMPLATE_FIELDS}}}}
_CONFLICT = _ok("a template of this kind, lane and language exists: {error, existing}",
               "Conflict")

PATHS: dict[str, Any] = {
    "/api/v1/admin/answer-templates": {
        "get": {"summary": "automatic answer templates by kind, lane and language (admins "
                           "only), with the placeholders each kind fills and the built-in "
                           "texts used where there is none",
                "security": SESSION,
                "responses": {"200": _ok("{answer_templates, kinds, languages, placeholders, "
                                         "filled, defaults}", "AnswerTemplateList"),
                              "401": ERROR, "403": ERROR}},
        "post": {"summary": "add a template (admins only; audited without the text)",
                 "security": SESSION, "requestBody": _BODY,
                 "responses": {"201": _ok("{answer_template}", "AnswerTemplateResult"),
                               "400": ERROR, "401": ERROR, "403": ERROR, "409": _CONFLICT,
                               "415": ERROR, "422": ERROR}}},
    "/api/v1/admin/answer-templates/{template_id}": {
        "put": {"summary": "replace a template (admins only; audited without the text)",
                "security": SESSION, "parameters": [TEMPLATE_PARAM], "requestBody": _BODY,
                "responses": {"200": _ok("{answer_template}", "AnswerTemplateResult"),
                              "400": ERROR, "401": ERROR, "403": ERROR, "404": ERROR,
                              "409": _CONFLICT, "415": ERROR, "422": ERROR}},
        "delete": {"summary": "delete a template; its kind, lane and language fall back to "
                              "the every-lane template or the built-in text (admins only; "
                              "audited)",
                   "security": SESSION, "parameters": [TEMPLATE_PARAM],
                   "responses": {"200": _ok("{deleted: the template's id}", "Deleted"),
                                 "401": ERROR, "403": ERROR, "404": ERROR}}},
}
