"""The OpenAPI paths of service notices (given to `hub.openapi.routes`)."""

from __future__ import annotations

from typing import Any

from hub.openapi_lanes import ERROR, SESSION, _ok
from hub.openapi_requests import json_body
from hub.request_models import NoticeInput

PATHS: dict[str, Any] = {
    "/api/v1/notices": {
        "get": {"summary": "active and scheduled service notices, and the history",
                "security": SESSION,
                "responses": {"200": _ok("{active, scheduled, history}", "NoticeList"),
                              "401": ERROR, "403": ERROR}},
        "post": {"summary": "publish a service notice (dispatchers and admins; audited): every "
                            "inbound contact it covers is answered with it once per passenger",
                 "security": SESSION,
                 "requestBody": json_body(NoticeInput),
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
