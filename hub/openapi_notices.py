"""The OpenAPI paths of service notices (given to `hub.openapi.routes`)."""

from __future__ import annotations

from typing import Any

from hub.openapi_lanes import ERROR, JSON, SESSION, _ok

NOTICE_FIELDS: dict[str, Any] = {
    "text_fi": {"type": "string", "maxLength": 1000},
    "text_en": {"type": "string", "maxLength": 1000},
    "text_sv": {"type": ["string", "null"], "maxLength": 1000, "description":
                "optional; Swedish-speaking passengers get text_fi when it is empty"},
    "channels": {"type": "array", "items": {"enum": ["phone", "sms", "email", "chat",
                                                     "webform"]}},
    "lanes": {"type": "array", "items": {"type": "string"}, "description": "empty: every lane"},
    "announcement_only": {"type": "boolean", "description":
                          "every channel it covers answers with the notice and stores nothing "
                          "(the phone hangs up after it)"},
    "valid_from": {"type": "string", "format": "date-time", "description": "default: now"},
    "valid_until": {"type": ["string", "null"], "format": "date-time",
                    "description": "at most 31 days after valid_from; null: 31 days"},
}

PATHS: dict[str, Any] = {
    "/api/v1/notices": {
        "get": {"summary": "active and scheduled service notices, and the history",
                "security": SESSION,
                "responses": {"200": _ok("{active, scheduled, history}", "NoticeList"),
                              "401": ERROR, "403": ERROR}},
        "post": {"summary": "publish a service notice (dispatchers and admins; audited): every "
                            "inbound contact it covers is answered with it once per passenger",
                 "security": SESSION,
                 "requestBody": {"required": True, "content": {JSON: {"schema": {
                     "type": "object", "required": ["text_fi", "text_en", "channels"],
                     "properties": NOTICE_FIELDS}}}},
                 "responses": {"201": _ok("{notice}", "NoticeResult"), "401": ERROR, "403": ERROR,
                               "415": ERROR, "422": ERROR}}},
    "/api/v1/notices/{notice_id}/end": {"post": {
        "summary": "end a notice now (audited)", "security": SESSION,
        "parameters": [{"name": "notice_id", "in": "path", "required": True,
                        "schema": {"type": "string", "format": "uuid"}}],
        "responses": {"200": _ok("{notice}", "NoticeResult"), "401": ERROR, "403": ERROR,
                      "404": ERROR,
                      "409": _ok("ended already")}}},
}
