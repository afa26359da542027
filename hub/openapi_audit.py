"""The OpenAPI paths of the audit trail (given to `hub.openapi.routes`)."""

from __future__ import annotations

from typing import Any

from hub.openapi_lanes import ERROR, JSON, SESSION, _ok

_TEXT = {"type": "string"}
_NULLABLE = {"type": ["string", "null"]}

FILTERS: list[dict[str, Any]] = [
    {"name": "from", "in": "query", "schema": {"type": "string", "format": "date-time"},
     "description": "entries at or after this time (ISO 8601 with offset)"},
    {"name": "to", "in": "query", "schema": {"type": "string", "format": "date-time"},
     "description": "entries before this time (ISO 8601 with offset)"},
    {"name": "agent", "in": "query", "schema": {"type": "string", "format": "uuid"},
     "description": "the acting agent's id"},
    {"name": "action", "in": "query", "schema": _TEXT,
     "description": "entries whose action starts with this: login, access., read., subject., "
                    "agent."},
    {"name": "subject", "in": "query", "schema": _TEXT,
     "description": "entries about this (an id, as the entries name it)"},
]

ENTRY: dict[str, Any] = {
    "type": "object", "description": "one audited action",
    "properties": {"id": {"type": "integer"}, "at": _TEXT, "agent_id": _NULLABLE,
                   "agent_login": _NULLABLE, "agent_name": _NULLABLE, "action": _TEXT,
                   "subject": _NULLABLE, "address": _NULLABLE,
                   "detail": {"type": "object"}}}

PATHS: dict[str, Any] = {
    "/api/v1/admin/audit": {"get": {
        "summary": "the audit trail, newest first, a page at a time (admins only; reading it "
                   "is audited, and so is a refusal). Answers {entries, next_cursor, next}: "
                   "next_cursor (null on the last page) given back as cursor, with the same "
                   "filters, brings the next page",
        "security": SESSION,
        "parameters": [*FILTERS,
                       {"name": "limit", "in": "query", "schema": {
                           "type": "integer", "minimum": 1, "maximum": 1000, "default": 100}},
                       {"name": "cursor", "in": "query", "schema": _TEXT,
                        "description": "next_cursor of the previous page (opaque); valid only "
                                       "with the same filters"}],
        "responses": {"200": {"description": "{entries, next_cursor, next}", "content": {
            JSON: {"schema": {"type": "object", "properties": {
                "entries": {"type": "array", "items": ENTRY}, "next_cursor": _NULLABLE,
                "next": _NULLABLE}}}}},
            "400": _ok("a filter, limit or cursor invalid", "Error"), "401": ERROR,
            "403": ERROR}}},
    "/api/v1/admin/audit.csv": {"get": {
        "summary": "every entry the filters choose as CSV, newest first (admins only; "
                   "audited). A cell starting with =, +, -, @, tab or CR is prefixed with ' "
                   "so a spreadsheet shows it as text",
        "security": SESSION, "parameters": FILTERS,
        "responses": {"200": {"description": "CSV with a header row: " + ", ".join(
            ENTRY["properties"]), "content": {"text/csv": {"schema": _TEXT}}},
            "400": _ok("a filter invalid", "Error"), "401": ERROR, "403": ERROR}}},
}
