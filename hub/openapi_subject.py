"""The OpenAPI paths of a data subject's export and erasure (given to `hub.openapi.routes`)."""

from __future__ import annotations

from typing import Any

from hub.openapi_lanes import ERROR, JSON, SESSION, _ok

_BODY = {"required": True, "content": {JSON: {"schema": {
    "type": "object", "description": "exactly one of phone and email",
    "properties": {
        "phone": {"type": "string", "description": "any way people write it; stored as E.164 "
                                                   "(phone.default_region for national ones)"},
        "email": {"type": "string", "format": "email"},
    }}}}}
_REFUSED = {"401": ERROR, "403": ERROR, "404": ERROR, "415": ERROR, "422": ERROR}

PATHS: dict[str, Any] = {
    "/api/v1/admin/subject/export": {"post": {
        "summary": "everything the hub keeps about the passenger with this phone number or "
                   "email address, as a ZIP archive: export.json (passengers, identities, "
                   "requests with their timings, messages, calls, recordings and listens, "
                   "deliveries, handling events, notice answers, SMS opt-outs, group memberships) "
                   "and files/ "
                   "(attachments; the audio of every recording: kept by the hub, or fetched "
                   "from the provider that keeps it, each recording's `audio_missing` saying "
                   "why when the provider no longer has it or cannot serve it). Admins only; "
                   "audited (subject.export)",
        "security": SESSION, "requestBody": _BODY,
        "responses": {"200": {"description": "the archive, as an attachment", "content": {
            "application/zip": {"schema": {"type": "string", "format": "binary"}}}},
            **_REFUSED}}},
    "/api/v1/admin/subject/erase": {"post": {
        "summary": "erase the passenger with this phone number or email address: every "
                   "personal field in the database, their files and Redis entries; their "
                   "requests stay as nameless skeletons with their timings for reports. Admins "
                   "only; audited (subject.erase); 503 while a purge runs",
        "security": SESSION, "requestBody": _BODY,
        "responses": {"200": _ok("{erased: counts per kind}", "ErasureResult"), **_REFUSED,
                      "503": ERROR}}},
}
