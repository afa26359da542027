"""The OpenAPI description of every public route, served at /api/openapi.json.

The core's own paths are here; each feature's paths come in a fragment of its own, which the
app factory passes to `routes` beside the feature's routes (the core imports no feature).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aiohttp import web

from hub import asyncapi
from hub import openapi_webhooks as webhook_openapi
from hub.bodies import BODIES
from hub.openapi_bodies import BODIES as FEATURE_BODIES
from hub.openapi_requests import json_body
from hub.records import component_schemas
from hub.request_body import RequestModel
from hub.request_models import (
    MODELS,
    CannedRender,
    ContactName,
    Login,
    Merge,
    Note,
    PasswordReset,
    PresenceChoice,
    Reply,
    Transfer,
)

JSON = "application/json"

# A fragment of the document's `paths`: path -> method -> operation, as OpenAPI spells it.
Paths = Mapping[str, Any]


def _ok(description: str, schema: str | None = None, media: str = JSON) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": description}
    if schema:
        answer["content"] = {media: {"schema": {"$ref": f"#/components/schemas/{schema}"}}}
    return answer


def _ok_or_announced(description: str, schema: str) -> dict[str, Any]:
    """A 200 that is either `schema` or, while an announcement-only notice keeps the contact
    out, the notice in every language (hub.middleware's answer)."""
    return {"description": description + "; or the announcement-only notice, nothing stored",
            "content": {JSON: {"schema": {"oneOf": [
                {"$ref": f"#/components/schemas/{schema}"},
                {"$ref": "#/components/schemas/Announced"}]}}}}


def _html(description: str = "HTML") -> dict[str, Any]:
    return _ok(description, "Html", "text/html")


def _object(description: str, **properties: Any) -> dict[str, Any]:
    """A body documented by its top-level fields (a feature's own record, not yet typed)."""
    return {"type": "object", "description": description, "required": list(properties),
            "properties": properties}


_STRING = {"type": "string"}
_NULLABLE = {"type": ["string", "null"]}
_LIST = {"type": "array", "items": {"type": "object"}}


ERROR = _ok("error with a reason", "Error")
ID_PARAM = {"name": "request_id", "in": "path", "required": True,
            "schema": {"type": "string", "format": "uuid"}}
SESSION: list[dict[str, list[str]]] = [{"session": []}]
AGENT_PARAM = {"name": "agent_id", "in": "path", "required": True,
               "schema": {"type": "string", "format": "uuid"}}
CONTACT_PARAM = {"name": "contact_id", "in": "path", "required": True,
                 "schema": {"type": "string", "format": "uuid"}}
CANNED_PARAM = {"name": "canned_id", "in": "path", "required": True,
                "schema": {"type": "string", "format": "uuid"}}
_CANNED_FIELDS: dict[str, Any] = {
    "title": {"type": "string", "maxLength": 100},
    "language": {"enum": ["fi", "sv", "en"]},
    "body": {"type": "string", "maxLength": 4000, "description":
             "placeholders {reference}, {name} (a polite neutral form when the passenger "
             "left none), {eta} (typed in when inserting), {agent} (the dispatcher's name); "
             "any other {word} is refused"},
    "lane": {"type": ["string", "null"], "description": "a lane's key; null: every lane"},
    "position": {"type": "integer", "minimum": 0,
                 "description": "order in the picker; default: last (kept on change)"},
}
_ACCOUNT_FIELDS: dict[str, Any] = {
    "name": {"type": "string", "maxLength": 200},
    "role": {"enum": ["admin", "team", "external"]},
    "email": {"type": ["string", "null"], "maxLength": 320},
    "phone": {"type": ["string", "null"], "description": "any format; stored as E.164"},
    "phone_login": {"type": ["string", "null"], "maxLength": 32,
                    "description": "PBX extension or SIP user"},
}


def _action(summary: str, body: type[RequestModel] | None = None) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary, "security": SESSION, "parameters": [ID_PARAM],
        "responses": {"200": _ok("the request after the action", "ActionResult"),
                      "401": ERROR, "403": ERROR, "404": ERROR,
                      "409": _ok("lost to another agent; says who holds it", "Conflict")},
    }
    if body:
        operation["requestBody"] = json_body(body)
        operation["responses"].update({"400": ERROR, "415": ERROR,
                                       "422": _ok("a field is invalid", "Error")})
    return operation


def _vonage(summary: str) -> dict[str, Any]:
    return {"summary": summary + " (channel vonage_sms); signed with sig + timestamp when "
            "sms.vonage.signature_secret is set",
            "responses": {"200": _ok("stored, a part kept until its message is complete, or "
                                     "a receipt applied (unknown ids too: Vonage retries "
                                     "anything else forever): an empty body", "Empty",
                                     "text/plain"),
                          "400": ERROR, "403": _ok("signature missing, wrong or stale"),
                          "422": ERROR, "503": _ok("at capacity; Retry-After", "Error")}}


def _generic(summary: str) -> dict[str, Any]:
    return {"summary": summary + " (channel generic_sms)",
            "parameters": [{"name": "X-TaxiConnect-Signature", "in": "header",
                            "required": True, "schema": {"type": "string"},
                            "description": "t=<unix seconds>,v1=<hex HMAC-SHA256 of "
                                           "'<t>.' + body>"}],
            "requestBody": {"required": True, "content": {JSON: {"schema": {"type": "object"}}}},
            "responses": {"200": _ok_or_announced("stored (or a retry of a stored message), "
                                                  "or a report recorded", "GenericSmsAnswer"),
                          "204": _ok("report applied"),
                          "400": ERROR, "403": _ok("signature missing, wrong or stale"),
                          "404": _ok("no reply with this id"), "415": ERROR, "422": ERROR,
                          "503": _ok("at capacity; Retry-After", "Error")}}


# The typed bodies' schemas, answers and requests; a hand-written schema below may not take
# one's name.
_GENERATED = component_schemas(*BODIES, *FEATURE_BODIES, *MODELS)

ORDER_FIELDS = {
    "name": {"type": "string", "maxLength": 200},
    "phone": {"type": "string", "maxLength": 40, "description": "any format; stored as E.164"},
    "email": {"type": "string", "maxLength": 320},
    "message": {"type": "string", "maxLength": 4000},
    "pickup_address": {"type": "string", "maxLength": 300},
    "destination": {"type": "string", "maxLength": 300},
    "pickup_time": {"type": "string", "description": "ISO 8601; local time if no offset"},
    "passengers": {"type": "integer", "minimum": 1, "maximum": 16},
    "submission_token": {"type": "string", "pattern": "^[A-Za-z0-9_.:-]{8,128}$",
                         "description": "makes retries idempotent"},
    "language": {"type": "string", "enum": ["fi", "en", "sv"]},
}

SPEC: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "TaxiConnect hub", "version": "1"},
    "components": {
        "securitySchemes": {"session": {"type": "apiKey", "in": "cookie", "name": "tc_session"}},
        "schemas": {
            # Generated from hub.bodies and hub.records (the console events' records):
            # Error, Conflict, Receipt, RequestSummary, RequestDetail, ActionResult, ...;
            # and from hub.openapi_bodies, the features' answers (lanes, groups, ...).
            **_GENERATED,
            "Request": {"$ref": "#/components/schemas/RequestSummary"},
            "Html": {"type": "string", "contentMediaType": "text/html"},
            "Text": {"type": "string"},
            "Empty": {"type": "string", "maxLength": 0},
            "TwiML": {"type": "string", "contentMediaType": "text/xml",
                      "description": "TwiML; empty <Response/> unless there is more to say"},
            "JavaScript": {"type": "string", "contentMediaType": "text/javascript"},
            "WidgetWords": {"type": "object", "required": ["lang", "words"], "properties": {
                "lang": {"enum": ["fi", "sv", "en"]},
                "words": {"type": "object", "additionalProperties": {"oneOf": [
                    {"type": "string"},
                    {"type": "object", "additionalProperties": {"type": "string"},
                     "description": "plural forms by CLDR category (one, other)"}]}},
                "urgent_phone": {"oneOf": [
                    {"type": "null"},
                    {"type": "object", "required": ["shown", "dial"], "properties": {
                        "shown": {"type": "string"}, "dial": {"type": "string"}}}],
                    "description": "company.urgent_phone as advertised and as E.164; null "
                                   "when unset (the widget then asks no one to call)"}}},
            "PageWords": {"type": "object", "additionalProperties": {"oneOf": [
                {"type": "string"},
                {"type": "object", "additionalProperties": {"type": "string"},
                 "description": "plural forms by CLDR category (one, other)"}]}},
            "Document": {"type": "object", "description": "a JSON document (OpenAPI or "
                         "AsyncAPI)"},
            "Health": _object("alive", status={"const": "ok"}),
            "Ready": _object("whether the database and Redis answer", status={
                "enum": ["ready", "not ready"]}, checks={"type": "object"}),
            "GenericSmsAnswer": {"type": "object", "required": ["status"], "properties": {
                "status": {"enum": ["stored", "recorded"]}, "reference": _STRING}},
            "Announced": {
                "type": "object", "required": ["status", "notice"],
                "description": "an announcement-only service notice kept the contact out: "
                               "nothing is stored, and it is not to be sent again",
                "properties": {"status": {"const": "announced"}, "notice": {
                    "type": "object", "required": ["fi", "sv", "en"], "properties": {
                        "fi": _STRING, "en": _STRING,
                        "sv": {"type": "string", "description": "the Swedish text, or the "
                               "Finnish one when the notice has none"}}}}},
            "CtiAnswer": {"type": "object", "description": "{} or a notice to announce",
                          "properties": {"action": {"const": "announce"},
                                         "notice_id": _STRING, "texts": _LIST,
                                         "hangup": {"type": "boolean"}}},
            "Deleted": _object("the id of what was deleted", deleted=_STRING),
            "RenderedReply": _object("a canned reply filled in", text=_STRING,
                                     canned_reply={"type": "object"}, language=_STRING),
            "ChannelStatusList": _object("per enabled adapter", at=_STRING, channels=_LIST),
            "ContactList": _object("at most 20", contacts={"type": "array", "items": _object(
                "a passenger found", id=_STRING, name=_NULLABLE,
                phones={"type": "array", "items": _STRING},
                emails={"type": "array", "items": _STRING},
                requests_total={"type": "integer"}, last_active_at=_NULLABLE)}),
            "ContactCard": _object("the passenger's card", contact={"type": "object"}),
            "Timeline": _object("a page of the passenger's timeline",
                                contact_id=_STRING, items=_LIST, next_before=_NULLABLE),
            "MergeResult": _object("the survivor's card and what moved",
                                   contact={"type": "object"}, merged=_object(
                                       "what moved", id=_STRING, into=_STRING,
                                       identities={"type": "integer"},
                                       requests={"type": "integer"},
                                       announced={"type": "array", "items": _STRING})),
            "Order": {"type": "object", "properties": ORDER_FIELDS,
                      "description": "phone or email, and message or pickup_address"},
            "AttachmentLimits": {"type": "object",
                                 "required": ["max_bytes", "types", "max_files"],
                                 "properties": {
                "max_bytes": {"type": "integer"},
                "types": {"type": "array", "items": {"type": "string"}},
                "max_files": {"type": "integer"}}},
            "UploadedFile": {"type": "object", "required": ["name", "type", "size", "sha256"],
                             "properties": {
                "name": {"type": "string", "description": "the file name, made safe"},
                "type": {"type": "string", "description": "one of email.attachment_types"},
                "size": {"type": "integer", "description": "bytes"},
                "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"}}},
            "Account": {"type": "object", "properties": {
                "id": {"type": "string", "format": "uuid"}, "login": {"type": "string"},
                **_ACCOUNT_FIELDS, "active": {"type": "boolean"},
                "created_at": {"type": "string"}, "updated_at": {"type": "string"}}},
            "AccountList": {"type": "object", "properties": {"agents": {
                "type": "array", "items": {"$ref": "#/components/schemas/Account"}}}},
            "AccountResult": {"type": "object", "properties": {
                "agent": {"$ref": "#/components/schemas/Account"}}},
            "NewAccount": {"type": "object",
                           "required": ["login", "name", "role", "password"],
                           "properties": {"login": {"type": "string",
                                                    "pattern": "^[a-z0-9][a-z0-9._-]{1,63}$"},
                                          "password": {"type": "string", "minLength": 12},
                                          **_ACCOUNT_FIELDS}},
            "AccountChange": {"type": "object", "properties": {
                **_ACCOUNT_FIELDS, "active": {"type": "boolean"}}},
            "CannedReplyInput": {"type": "object", "required": ["title", "language", "body"],
                                 "properties": _CANNED_FIELDS},
            "CannedReply": {"type": "object", "properties": {
                "id": {"type": "string", "format": "uuid"}, **_CANNED_FIELDS,
                "updated_by": {"type": ["object", "null"]}, "updated_at": {"type": "string"}}},
            "CannedReplyList": {"type": "object", "properties": {
                "canned_replies": {"type": "array",
                                   "items": {"$ref": "#/components/schemas/CannedReply"}},
                "placeholders": {"type": "array", "items": {"type": "string"}},
                "languages": {"type": "array", "items": {"type": "string"}}}},
            "CannedReplyResult": {"type": "object", "properties": {
                "canned_reply": {"$ref": "#/components/schemas/CannedReply"}}},
        },
    },
    "paths": {
        "/healthz": {"get": {"summary": "liveness", "responses": {"200": _ok("alive", "Health")}}},
        "/readyz": {"get": {"summary": "database and Redis reachable",
                            "responses": {"200": _ok("ready", "Ready"),
                                          "503": _ok("not ready", "Ready")}}},
        "/metrics": {"get": {"summary": "Prometheus metrics",
                             "responses": {"200": _ok("text exposition format", "Text",
                                                      "text/plain")}}},
        "/api/openapi.json": {"get": {"summary": "this document",
                                      "responses": {"200": _ok("OpenAPI 3.1", "Document")}}},
        "/api/asyncapi.json": {"get": {
            "summary": "the AsyncAPI 3.0 document of the console and chat websockets: every "
                       "frame and console event, with its schema (hub.events)",
            "responses": {"200": _ok("AsyncAPI 3.0", "Document")}}},
        "/": {"get": {"summary": "redirect to the console", "responses": {"302": _ok("")}}},
        "/favicon.ico": {"get": {"summary": "the hub's icon (SVG)", "responses": {"200": {
            "description": "SVG", "content": {"image/svg+xml": {"schema": {
                "type": "string"}}}}}}},
        "/console": {"get": {"summary": "the dispatcher console page",
                             "responses": {"200": _html()}}},
        "/console/words/{lang}.json": {"get": {
            "summary": "the words of the console, admin, reports and wallboard pages in one "
                       "language, from the page catalogue with the hub's error texts "
                       "(error.<code>): {key: text | {one, other}}; no login needed",
            "parameters": [{"name": "lang", "in": "path", "required": True,
                            "schema": {"enum": ["fi", "en"]}}],
            "responses": {"200": _ok("the words", "PageWords"),
                          "304": {"description": "not modified (If-None-Match)"}}}},
        "/form": {
            "get": {"summary": "the hosted taxi-order form (?lang=fi|sv|en)",
                    "responses": {"200": _html()}},
            "post": {"summary": "submit the form (form-encoded)",
                     "requestBody": {"content": {"application/x-www-form-urlencoded": {
                         "schema": {"$ref": "#/components/schemas/Order"}}}},
                     "responses": {"201": _html("confirmation page with the reference"),
                                   "413": ERROR,
                                   "415": {"description": "not form-encoded",
                                           "content": {"text/plain": {
                                               "schema": {"type": "string"}}}},
                                   "422": _ok("the form again, errors marked"),
                                   "503": _ok("busy; Retry-After")}},
        },
        "/api/v1/contact-requests": {"post": {
            "summary": "submit a contact request (JSON)",
            "parameters": [{"name": "Idempotency-Key", "in": "header", "required": False,
                            "schema": {"type": "string"}}],
            "requestBody": {"required": True, "content": {JSON: {"schema": {
                "$ref": "#/components/schemas/Order"}}}},
            "responses": {"201": _ok("stored", "Receipt"),
                          "200": _ok("a retry of a stored submission", "Receipt"),
                          "400": ERROR, "413": ERROR, "415": ERROR, "422": ERROR,
                          "503": _ok("at capacity; Retry-After", "Error")}}},
        "/webhooks/sms/twilio": {"post": {
            "summary": "Twilio inbound SMS webhook (channel twilio_sms)",
            "parameters": [{"name": "X-Twilio-Signature", "in": "header", "required": True,
                            "schema": {"type": "string"}}],
            "requestBody": {"content": {"application/x-www-form-urlencoded": {
                "schema": {"type": "object", "description": "Twilio's parameters: MessageSid, "
                           "From, To, Body, NumMedia, MediaUrl{N}, ..."}}}},
            "responses": {"200": _ok("stored (or a retry of a stored message): empty TwiML",
                                     "TwiML", "text/xml"),
                          "400": ERROR, "403": _ok("signature missing or wrong; nothing stored"),
                          "408": ERROR, "413": ERROR, "415": ERROR, "422": ERROR,
                          "503": _ok("at capacity; Retry-After", "Error")}}},
        "/webhooks/sms/twilio/status": {"post": {
            "summary": "Twilio status callback of a reply (channel twilio_sms)",
            "parameters": [{"name": "X-Twilio-Signature", "in": "header", "required": True,
                            "schema": {"type": "string"}}],
            "requestBody": {"content": {"application/x-www-form-urlencoded": {
                "schema": {"type": "object", "description": "MessageSid, MessageStatus, "
                           "ErrorCode, ..."}}}},
            "responses": {"204": _ok("applied (a state never moves back)"),
                          "400": ERROR, "403": _ok("signature missing or wrong"),
                          "404": _ok("no reply was sent with this MessageSid"),
                          "415": ERROR, "422": ERROR}}},
        "/webhooks/sms/vonage": {"get": _vonage("Vonage inbound SMS (GET query)"),
                                 "post": _vonage("Vonage inbound SMS (form or JSON)")},
        "/webhooks/sms/vonage/dlr": {"get": _vonage("Vonage delivery receipt (GET query)"),
                                     "post": _vonage("Vonage delivery receipt")},
        "/webhooks/sms/generic": {"post": _generic(
            "generic gateway inbound SMS: {message_id, from, to, text, received_at?}")},
        "/webhooks/sms/generic/status": {"post": _generic(
            "generic gateway delivery report: {message_id, status, error?}")},
        "/api/v1/auth/login": {"post": {
            "summary": "log in; sets the HttpOnly session cookie",
            "requestBody": json_body(Login),
            "responses": {"200": _ok("logged in", "AgentResult"), "401": ERROR,
                          "422": _ok("login or password missing or not text", "Error"),
                          "429": _ok("too many failed logins; Retry-After", "Error")}}},
        "/api/v1/auth/logout": {"post": {"summary": "log out", "security": SESSION,
                                         "responses": {"200": _ok("logged out", "Ok"),
                                                       "401": ERROR}}},
        "/api/v1/me": {"get": {"summary": "the logged-in agent", "security": SESSION,
                               "responses": {"200": _ok("agent", "AgentResult"), "401": ERROR}}},
        "/api/v1/agents": {"get": {"summary": "active agents", "security": SESSION,
                                   "responses": {"200": _ok("agents", "AgentList"), "401": ERROR}}},
        "/api/v1/presence": {"get": {
            "summary": "active dispatchers and admins: state (available, busy, away, "
                       "offline), online (a console is live), since, chosen_state, and "
                       "holding {count, references} of their claimed requests. Changes reach "
                       "consoles as presence.changed events",
            "security": SESSION,
            "responses": {"200": _ok("agents", "PresenceList"), "401": ERROR,
                          "403": _ok("external users", "Error")}}},
        "/api/v1/me/presence": {"put": {
            "summary": "choose one's own state; offline hands one's unanswered requests "
                       "(none sent or called since taking them) back to the queue at once",
            "security": SESSION,
            "requestBody": json_body(PresenceChoice),
            "responses": {"200": _ok("presence, handed_back (request ids)", "PresenceResult"),
                          "422": _ok("not a state", "Error"), "401": ERROR,
                          "403": _ok("external user, or a foreign origin", "Error")}}},
        "/api/v1/requests": {"get": {
            "summary": "open requests (or by status), a page at a time: an open callback "
                       "past its deadline first, then by priority, then the longest waiting, "
                       "then the id. Answers {requests, next_cursor, next}: next_cursor "
                       "(null on the last page) given back as cursor, with the same filters, "
                       "brings the next page; next is that page's URL",
            "security": SESSION,
            "parameters": [
                {"name": "q", "in": "query", "schema": {"type": "string", "maxLength": 200},
                 "description": "search, every word matching: a number in any form "
                                "(040 123 4567 finds +358401234567), the passenger's name, "
                                "email, the reference, or a message's subject or text"},
                {"name": "lane", "in": "query", "schema": {"type": "string"}},
                {"name": "filter", "in": "query", "schema": {
                    "type": "string", "enum": ["all", "mine", "unassigned", "callbacks"]},
                 "description": "callbacks: by deadline, soonest first"},
                {"name": "status", "in": "query", "schema": {"type": "string"},
                 "description": "comma-separated: queued,claimed,resolved"},
                {"name": "channel", "in": "query", "schema": {"type": "string"}},
                {"name": "agent", "in": "query", "schema": {"type": "string", "format": "uuid"},
                 "description": "requests whose last handling agent this is"},
                {"name": "mine", "in": "query", "schema": {"type": "boolean"},
                 "description": "the same as filter=mine"},
                {"name": "from", "in": "query", "schema": {"type": "string",
                                                           "format": "date-time"},
                 "description": "cases started at or after this time (ISO 8601 with offset)"},
                {"name": "to", "in": "query", "schema": {"type": "string",
                                                         "format": "date-time"},
                 "description": "cases started before this time (ISO 8601 with offset)"},
                {"name": "limit", "in": "query", "schema": {
                    "type": "integer", "minimum": 1, "maximum": 2000, "default": 500},
                 "description": "requests per page"},
                {"name": "order", "in": "query", "schema": {
                    "type": "string", "enum": ["queue", "newest"], "default": "queue"},
                 "description": "newest: by case start, newest first, whatever the status "
                                "(the search across all requests)"},
                {"name": "cursor", "in": "query", "schema": {"type": "string"},
                 "description": "next_cursor of the previous page (opaque); valid only "
                                "with the same status, lane, filter, mine, channel, agent, q, "
                                "from, to and order; any page size"}],
            "responses": {"200": _ok("{requests, next_cursor, next}", "RequestList"),
                          "400": _ok("status, channel, agent, limit, from, to or cursor invalid "
                                     "(a cursor changed, or of a list with other filters)",
                                     "Error"),
                          "401": ERROR, "422": _ok("q, filter or order invalid", "Error")}}},
        "/api/v1/requests/{request_id}": {"get": {
            "summary": "a request with messages, handling history and timings",
            "security": SESSION, "parameters": [ID_PARAM],
            "responses": {"200": _ok("request", "RequestResult"), "401": ERROR,
                          "404": ERROR}}},
        "/api/v1/requests/{request_id}/claim": {"post": _action("claim (exclusive)")},
        "/api/v1/requests/{request_id}/release": {"post": _action("give back to the queue")},
        "/api/v1/requests/{request_id}/resolve": {"post": _action("resolve")},
        "/api/v1/requests/{request_id}/reopen": {"post": _action("reopen a resolved request")},
        "/api/v1/requests/{request_id}/transfer": {"post": _action("hand to another agent",
                                                                   Transfer)},
        "/api/v1/requests/{request_id}/notes": {"post": _action("add an internal note",
                                                                Note)},
        "/api/v1/requests/{request_id}/order": {
            "post": {
                "summary": "send the request's order (details pickup_address and pickup_time, "
                           "destination, passengers) to the company's dispatch system now: "
                           "the webhook order.ready to every endpoint subscribed to it, "
                           "signed and retried as every webhook; recorded in the request's "
                           "history (action order) and the audit trail. Each call is an "
                           "event of its own",
                "security": SESSION, "parameters": [ID_PARAM],
                "responses": {
                    "202": {"description": "on its way", "content": {JSON: {"schema": {
                        "type": "object", "required": ["request", "event_id", "endpoints"],
                        "properties": {
                            "request": {"$ref": "#/components/schemas/RequestSummary"},
                            "event_id": {"type": "string", "format": "uuid",
                                         "description": "the order.ready event's id and "
                                                        "Idempotency-Key"},
                            "endpoints": {"type": "array", "items": {"type": "string"}}}}}}},
                    "401": ERROR, "404": ERROR,
                    "409": _ok("code no_endpoint: no webhook endpoint takes order.ready; "
                               "code no_order: the request has no pickup address and time",
                               "Conflict")}},
            "get": {
                "summary": "the endpoints that take orders, and how the request's orders "
                           "(order.ready) reached each, newest first: state pending, delivered "
                           "or failed, attempts, the receiver's last status",
                "security": SESSION, "parameters": [ID_PARAM],
                "responses": {
                    "200": {"description": "{endpoints, deliveries}", "content": {JSON: {
                        "schema": {
                            "type": "object", "required": ["endpoints", "deliveries"],
                            "properties": {
                                "endpoints": {"type": "array", "items": {"type": "string"},
                                              "description": "those taking orders; none: "
                                                             "nowhere to send one"},
                                "deliveries": {"type": "array", "items": {
                                    "$ref": "#/components/schemas/DeliveryRow"}}}}}}},
                    "401": ERROR, "404": ERROR}}},
        "/api/v1/requests/{request_id}/replies": {"post": {
            "summary": "reply to the passenger over the request's channel (or another); "
                       "takes a request nobody holds",
            "security": SESSION, "parameters": [ID_PARAM],
            "requestBody": json_body(Reply),
            "responses": {"201": _ok("stored and queued for sending", "ReplyResult"),
                          "200": _ok("this client_key was already sent", "ReplyResult"),
                          "400": ERROR, "401": ERROR, "404": ERROR,
                          "409": _ok("another agent holds it, or it is resolved", "Conflict"),
                          "422": _ok("empty, too long, no channel reaches the passenger, "
                                     "the number opted out, or attachments not uploaded "
                                     "for this request or on a reply that is not an "
                                     "email", "Error")}}},
        "/api/v1/attachment-limits": {"get": {
            "summary": "what a file attached to an email reply may be: max_bytes "
                       "(email.attachment_max_bytes), types (email.attachment_types), "
                       "max_files (in one reply)",
            "security": SESSION,
            "responses": {"200": _ok("the limits", "AttachmentLimits"), "401": ERROR}}},
        "/api/v1/requests/{request_id}/attachments": {"post": {
            "summary": "upload a file to attach to an email reply on this request (as one "
                       "who may reply on it); list its sha256 in the reply's attachments "
                       "within a day. At most email.attachment_max_bytes, of a type in "
                       "email.attachment_types",
            "security": SESSION, "parameters": [ID_PARAM],
            "requestBody": {"required": True, "content": {"multipart/form-data": {
                "schema": {"type": "object", "required": ["file"], "properties": {
                    "file": {"type": "string", "format": "binary", "description":
                             "one file, with its file name and Content-Type"}}}}}},
            "responses": {"201": _ok("stored", "UploadedFile"),
                          "401": ERROR, "404": ERROR,
                          "409": _ok("another agent holds it, or it is resolved", "Conflict"),
                          "413": _ok("over email.attachment_max_bytes", "Error"),
                          "415": _ok("not multipart/form-data, or a type not in "
                                     "email.attachment_types", "Error"),
                          "422": _ok("no file part, an empty file, or an image or PDF "
                                     "whose bytes are not one", "Error")}}},
        "/widget/chat.js": {"get": {
            "summary": "the passenger chat widget (channel chat): embed with one <script "
                       "src=\".../widget/chat.js\" data-lang=\"fi|sv|en\" async> on an allowed "
                       "site",
            "responses": {"200": _ok("JavaScript", "JavaScript", "text/javascript")}}},
        "/widget/words.json": {"get": {
            "summary": "the chat widget's words in one language, from the passenger catalogue "
                       "(channel chat): {lang, words: {key: text | {one, other}}, urgent_phone}; "
                       "readable from any origin",
            "parameters": [{"name": "lang", "in": "query",
                            "schema": {"enum": ["fi", "sv", "en"]},
                            "description": "default and unknown: fi"}],
            "responses": {"200": _ok("the words", "WidgetWords"),
                          "304": {"description": "not modified (If-None-Match)"}}}},
        "/chat/ws": {"get": {
            "summary": "the chat widget's websocket (channel chat). Widget frames: hello "
                       "{token, last_seen, lang}, message {id, text}, typing {on}, prechat "
                       "{name, phone, email, pickup_address, pickup_time}, seen {message_id}, "
                       "close {email?}. Hub frames: welcome {token, available, reason, "
                       "messages}, message, ack {id, message_id} (after the commit), nack, "
                       "typing {on, name}, availability, prechat, closed {transcript}. Close "
                       "codes: 1003 binary frame, 1009 message over chat.max_message_chars, "
                       "4400 malformed frame, 4408 no hello, 4429 over the message rate, "
                       "1011/1012 reconnect",
            "parameters": [{"name": "Origin", "in": "header", "required": True,
                            "schema": {"type": "string"},
                            "description": "one of chat.allowed_origins"}],
            "responses": {"101": _ok("switching protocols; the frames with their schemas: "
                                     "/api/asyncapi.json (channel chat)"),
                          "403": _ok("origin not allowed", "Error"),
                          "429": _ok("too many sockets from this address; Retry-After",
                                     "Error"),
                          "503": _ok("chat not available right now; Retry-After", "Error")}}},
        "/api/v1/requests/{request_id}/typing": {"post": {
            "summary": "the dispatcher is writing: the request's chat passengers see "
                       "\"<name> is typing\" (channel chat)",
            "security": SESSION, "parameters": [ID_PARAM],
            "requestBody": {"required": False, "content": {JSON: {"schema": {
                "type": "object", "properties": {"on": {"type": "boolean",
                                                        "default": True}}}}}},
            "responses": {"204": _ok("told"), "400": ERROR, "401": ERROR,
                          "403": _ok("origin not allowed"), "404": ERROR, "415": ERROR,
                          "422": ERROR}}},
        "/webhooks/phone/cti": {"post": {
            "summary": "generic CTI call event (channel phone_cti; Zammad's generic CTI "
                       "fields): event newCall|answer|hangup, callId, from, to, direction "
                       "in|out, user / user[], answeringNumber, cause (hangup: normalClearing, "
                       "cancel, noAnswer, busy, congestion, notFound, forwarded), queue. A "
                       "call nobody answered becomes a callback request. Event recording|"
                       "voicemail: callId, url (on an origin in phone.recording_sources; the "
                       "hub fetches it), recordingId, duration, completedAt, transcription "
                       "(docs/generic-cti.md)",
            "parameters": [
                {"name": "X-CTI-Token", "in": "header", "required": False,
                 "schema": {"type": "string"}, "description": "phone.cti_secret"},
                {"name": "token", "in": "query", "required": False,
                 "schema": {"type": "string"}, "description": "phone.cti_secret, for PBXs "
                 "that cannot send a header"}],
            "requestBody": {"required": True, "content": {
                JSON: {"schema": {"type": "object"}},
                "application/x-www-form-urlencoded": {"schema": {"type": "object"}},
                "multipart/form-data": {"schema": {"type": "object"}}}},
            "responses": {"200": _ok("stored (a repeated event changes nothing): {}, or a "
                                     "notice to announce", "CtiAnswer"),
                          "400": ERROR, "401": _ok("no token; nothing stored", "Error"),
                          "403": _ok("wrong token; nothing stored", "Error"),
                          "415": ERROR,
                          "404": _ok("a recording of a call never reported", "Error"),
                          "422": _ok("e.g. {\"error\": \"Invalid direction!\"}", "Error"),
                          "503": _ok("at capacity, or the recording server away; "
                                     "Retry-After", "Error")}}},
        "/webhooks/phone/twilio": {"post": {
            "summary": "Twilio voice callbacks (channel twilio_voice): call status (CallSid, "
                       "CallStatus, From, To, Direction, ParentCallSid for a leg dialled to "
                       "an agent), recording status (RecordingSid, RecordingUrl, "
                       "RecordingStatus, RecordingDuration) and transcription "
                       "(TranscriptionText, TranscriptionStatus). Not a Voice URL: the "
                       "answer is empty TwiML",
            "parameters": [{"name": "X-Twilio-Signature", "in": "header", "required": True,
                            "schema": {"type": "string"}}],
            "requestBody": {"content": {"application/x-www-form-urlencoded": {
                "schema": {"type": "object"}}}},
            "responses": {"200": _ok("applied (a repeat changes nothing): empty TwiML",
                                     "TwiML", "text/xml"),
                          "400": ERROR, "403": _ok("signature missing or wrong"),
                          "404": _ok("a recording of a call never reported", "Error"),
                          "415": ERROR, "422": ERROR,
                          "503": _ok("at capacity; Retry-After", "Error")}}},
        "/api/v1/requests/{request_id}/messages/{message_id}/attachments/{sha256}": {"get": {
            "summary": "a file the passenger mailed in, by the hash the message's "
                       "details.attachments list; a safe image (png, jpeg, gif, webp whose "
                       "bytes are that image) is answered as itself for a thumbnail, anything "
                       "else as application/octet-stream with Content-Disposition: "
                       "attachment; always nosniff and a sandboxing CSP; the read is audited "
                       "(external users: only on a request assigned to them)",
            "security": SESSION,
            "parameters": [ID_PARAM,
                           {"name": "message_id", "in": "path", "required": True,
                            "schema": {"type": "string", "format": "uuid"}},
                           {"name": "sha256", "in": "path", "required": True,
                            "schema": {"type": "string", "pattern": "^[0-9a-f]{64}$"}}],
            "responses": {"200": {"description": "the file; Content-Disposition names it "
                                                 "(RFC 6266, filename* in UTF-8)",
                                  "content": {"image/*": {}, "application/octet-stream": {}}},
                          "206": {"description": "the part a Range asked for",
                                  "content": {"image/*": {}, "application/octet-stream": {}}},
                          "304": {"description": "not modified (If-None-Match, "
                                                 "If-Modified-Since)"},
                          "401": ERROR,
                          "404": _ok("no such request or message (or not the external "
                                     "user's), a hash the message does not list, or a file "
                                     "no longer kept", "Error"),
                          "416": {"description": "a Range outside the file"}}}},
        "/api/v1/recordings/{recording_id}/audio": {"get": {
            "summary": "play a call recording or voice message (any phone channel): the "
                       "audio is streamed from the provider or the hub's data folder and "
                       "the listen recorded",
            "security": SESSION,
            "parameters": [{"name": "recording_id", "in": "path", "required": True,
                            "schema": {"type": "string", "format": "uuid"}}],
            "responses": {"200": {"description": "the audio; X-Listen-Id names the listen",
                                  "content": {"audio/*": {}}},
                          "401": ERROR, "404": ERROR,
                          "503": _ok("the provider did not give the audio", "Error")}}},
        "/admin": {"get": {"summary": "the admin page: accounts, canned replies, lanes and "
                                      "routing rules, channel status (admins only; it logs "
                                      "in through the API)",
                           "responses": {"200": _html()}}},
        "/api/v1/admin/agents": {
            "get": {"summary": "every account, disabled ones too (admins only)",
                    "security": SESSION,
                    "responses": {"200": _ok("agents", "AccountList"), "401": ERROR,
                                  "403": ERROR}},
            "post": {"summary": "add an account (admins only); phone stored as E.164",
                     "security": SESSION,
                     "requestBody": {"required": True, "content": {JSON: {"schema": {
                         "$ref": "#/components/schemas/NewAccount"}}}},
                     "responses": {"201": _ok("added", "AccountResult"), "400": ERROR,
                                   "401": ERROR, "403": ERROR,
                                   "409": _ok("the login is taken", "Error"),
                                   "415": ERROR, "422": _ok("field errors", "Error")}}},
        "/api/v1/admin/agents/{agent_id}": {"patch": {
            "summary": "change an account (admins only); disabling ends its sessions at once",
            "security": SESSION, "parameters": [AGENT_PARAM],
            "requestBody": {"required": True, "content": {JSON: {"schema": {
                "$ref": "#/components/schemas/AccountChange"}}}},
            "responses": {"200": _ok("changed", "AccountResult"), "400": ERROR, "401": ERROR,
                          "403": ERROR, "404": ERROR,
                          "409": _ok("an admin cannot disable or demote themselves", "Error"),
                          "415": ERROR, "422": _ok("field errors", "Error")}}},
        "/api/v1/admin/agents/{agent_id}/password": {"post": {
            "summary": "set a new password (admins only); ends the agent's other sessions",
            "security": SESSION, "parameters": [AGENT_PARAM],
            "requestBody": json_body(PasswordReset),
            "responses": {"200": _ok("set", "AccountResult"), "400": ERROR, "401": ERROR,
                          "403": ERROR, "404": ERROR, "415": ERROR,
                          "422": _ok("too short", "Error")}}},
        "/api/v1/admin/canned-replies": {
            "get": {"summary": "every canned reply, by position (admins only)",
                    "security": SESSION,
                    "responses": {"200": _ok("canned replies", "CannedReplyList"),
                                  "401": ERROR, "403": ERROR}},
            "post": {"summary": "add a canned reply (admins only; in the audit trail)",
                     "security": SESSION,
                     "requestBody": {"required": True, "content": {JSON: {"schema": {
                         "$ref": "#/components/schemas/CannedReplyInput"}}}},
                     "responses": {"201": _ok("added", "CannedReplyResult"),
                                   "400": _ok("a field is wrong, an unknown placeholder "
                                              "(named), or no such lane", "Error"),
                                   "401": ERROR, "403": ERROR, "415": ERROR}}},
        "/api/v1/admin/canned-replies/{canned_id}": {
            "put": {"summary": "replace a canned reply (admins only; in the audit trail)",
                    "security": SESSION, "parameters": [CANNED_PARAM],
                    "requestBody": {"required": True, "content": {JSON: {"schema": {
                        "$ref": "#/components/schemas/CannedReplyInput"}}}},
                    "responses": {"200": _ok("changed", "CannedReplyResult"),
                                  "400": _ok("as when adding", "Error"), "401": ERROR,
                                  "403": ERROR, "404": ERROR, "415": ERROR}},
            "delete": {"summary": "delete a canned reply (admins only; in the audit trail)",
                       "security": SESSION, "parameters": [CANNED_PARAM],
                       "responses": {"200": _ok("{deleted: id}", "Deleted"), "401": ERROR,
                                     "403": ERROR, "404": ERROR}}},
        "/api/v1/canned-replies": {"get": {
            "summary": "canned replies for the composer's picker (not for external users)",
            "security": SESSION,
            "parameters": [
                {"name": "lane", "in": "query", "schema": {"type": "string"},
                 "description": "that lane's replies and those for every lane"},
                {"name": "language", "in": "query", "schema": {"enum": ["fi", "sv", "en"]}}],
            "responses": {"200": _ok("canned replies", "CannedReplyList"), "400": ERROR,
                          "401": ERROR, "403": _ok("external users", "Error")}}},
        "/api/v1/requests/{request_id}/canned-replies/{canned_id}/render": {"post": {
            "summary": "a canned reply filled in for the request, for the composer to insert "
                       "and edit; nothing is sent",
            "security": SESSION, "parameters": [ID_PARAM, CANNED_PARAM],
            "requestBody": json_body(CannedRender, required=False),
            "responses": {"200": _ok("{text, canned_reply, language}", "RenderedReply"),
                          "400": _ok("an eta is needed, or it is too long", "Error"),
                          "401": ERROR, "403": _ok("external users", "Error"),
                          "404": ERROR, "415": ERROR}}},
        "/api/v1/admin/channels": {"get": {
            "summary": "channel status (admins only): per enabled adapter the last inbound "
                       "message's time, the last outbound delivery and its state, failed "
                       "deliveries in 24 h with their latest reasons (numbers and addresses "
                       "masked), and the adapter's live state (IMAP poller, Asterisk AMI) "
                       "as this process sees it",
            "security": SESSION,
            "responses": {"200": _ok("{at, channels: [{name, channel, can_reply, health "
                                     "ok|warning|error, last_inbound_at, last_outbound "
                                     "{at, state, attempts, state_at}, failed_24h {count, "
                                     "latest [{at, reason}]}, adapter, problems}]}",
                                     "ChannelStatusList"),
                          "401": ERROR, "403": ERROR}}},
        "/api/v1/contacts": {"get": {
            "summary": "find passengers (never merged ones) by number (however written), email "
                       "or name, the most recently active first, at most 20 (team and admins)",
            "security": SESSION,
            "parameters": [{"name": "q", "in": "query", "required": True,
                            "schema": {"type": "string", "minLength": 3, "maxLength": 320}}],
            "responses": {"200": _ok("{contacts: [{id, name, phones, emails, requests_total, "
                                     "last_active_at}]}", "ContactList"),
                          "401": ERROR, "403": _ok("external users", "Error"),
                          "422": _ok("q too short or too long", "Error")}}},
        "/api/v1/contacts/{contact_id}": {
            "get": {"summary": "the passenger's card: name, phones, emails, chat_identities "
                               "(a count), requests_total and the newest 20 requests {id, "
                               "reference, channel, status, started_at, last_agent}, "
                               "pickup_addresses (newest 5 distinct {address, at, reference}); "
                               "a merged passenger's id redirects to the survivor",
                    "security": SESSION, "parameters": [CONTACT_PARAM],
                    "responses": {"200": _ok("{contact}", "ContactCard"),
                                  "308": _ok("merged: Location is the survivor's card, "
                                             "merged_into in the body", "Error"),
                                  "401": ERROR, "403": _ok("external users", "Error"),
                                  "404": ERROR}},
            "patch": {"summary": "name the passenger (audit-logged; consoles get "
                                 "request.passenger_renamed for their open requests)",
                      "security": SESSION, "parameters": [CONTACT_PARAM],
                      "requestBody": json_body(ContactName),
                      "responses": {"200": _ok("{contact}: the card", "ContactCard"), "400": ERROR,
                                    "401": ERROR, "403": _ok("external users, or a foreign "
                                                             "origin", "Error"),
                                    "404": ERROR,
                                    "409": _ok("merged into merged_into", "Conflict"),
                                    "415": ERROR, "422": _ok("field errors", "Error")}}},
        "/api/v1/contacts/{contact_id}/timeline": {"get": {
            "summary": "one timeline across every request and channel of the passenger, "
                       "newest first: items {kind: message|call|event, id, at, channel, "
                       "request {id, reference, channel, status}, and message {direction, "
                       "subject, body, agent, deliveries} | call {..., recordings [{audio_url, "
                       "...}]} | event {action, note, agent, target_agent}}; a merged "
                       "passenger's id redirects to the survivor",
            "security": SESSION,
            "parameters": [CONTACT_PARAM,
                           {"name": "before", "in": "query", "schema": {"type": "string"},
                            "description": "next_before of the previous page, or an ISO "
                                           "8601 time with offset"},
                           {"name": "limit", "in": "query", "schema": {
                               "type": "integer", "minimum": 1, "maximum": 200,
                               "default": 50}}],
            "responses": {"200": _ok("{contact_id, items, next_before (null on the last "
                                     "page)}", "Timeline"),
                          "308": _ok("merged: Location is the survivor's timeline", "Error"),
                          "401": ERROR, "403": _ok("external users", "Error"), "404": ERROR,
                          "422": _ok("before or limit invalid", "Error")}}},
        "/api/v1/contacts/{contact_id}/merge": {"post": {
            "summary": "merge this passenger into another in one transaction: identities and "
                       "requests move to the survivor (into), this one keeps merged_into; "
                       "audit-logged; consoles get request.passenger_merged with the new "
                       "summary of each open request of the survivor",
            "security": SESSION, "parameters": [CONTACT_PARAM],
            "requestBody": json_body(Merge),
            "responses": {"200": _ok("{contact: the survivor's card, merged {id, into, "
                                     "identities, requests, announced}}", "MergeResult"),
                          "400": ERROR, "401": ERROR,
                          "403": _ok("external users, or a foreign origin", "Error"),
                          "404": _ok("no such passenger (the one merged)", "Error"),
                          "409": _ok("either one is already merged: merged_into names its "
                                     "survivor", "Conflict"),
                          "415": ERROR,
                          "422": _ok("into invalid, unknown, or this passenger itself",
                                     "Error")}}},
        "/api/v1/console/ws": {"get": {
            "summary": "console websocket: every request event, live",
            "security": SESSION,
            "parameters": [{"name": "last_event_id", "in": "query",
                            "schema": {"type": "string"},
                            "description": "resume after this event id"}],
            "responses": {"101": _ok("frames: hello, events, resync, pong; with the "
                                     "subprotocol taxiconnect.presence also presence "
                                     "{event: presence.changed | request.viewers}. Every "
                                     "frame and event with its schema: "
                                     "/api/asyncapi.json (channel console)"), "401": ERROR,
                          "403": _ok("origin not allowed")}}},
    },
}


def spec(fragments: Sequence[Paths]) -> dict[str, Any]:
    """The whole document: the core's paths, then each fragment's in order (a later one
    wins for a path it repeats)."""
    paths = dict(SPEC["paths"])
    for fragment in fragments:
        paths.update(fragment)
    schemas = SPEC["components"]["schemas"]
    clash = {name for name, schema in webhook_openapi.SCHEMAS.items()
             if schema != schemas.get(name, schema)}
    clash |= {name for name, schema in _GENERATED.items() if schema != schemas[name]}
    if clash:
        raise ValueError(f"two schemas named {sorted(clash)}")
    components = {**SPEC["components"], "schemas": {**schemas, **webhook_openapi.SCHEMAS}}
    return {**SPEC, "components": components, "webhooks": webhook_openapi.WEBHOOKS,
            "paths": {path: {method: _with_error_bodies(path, operation)
                             for method, operation in operations.items()}
                      for path, operations in paths.items()}}


# Answers whose error bodies are not the JSON error: the hosted form answers in HTML.
_HTML_ERRORS = {"/form"}


def _with_error_bodies(path: str, operation: Any) -> Any:
    """Every 4xx/5xx answer the middleware writes carries the one error body (`Error`):
    the ones described only in words get its schema here."""
    if path in _HTML_ERRORS or not isinstance(operation, dict) or "responses" not in operation:
        return operation
    answers = dict(operation["responses"])
    if path in ("/widget/chat.js", "/widget/words.json"):
        answers.setdefault("404", {"description": "the chat is not enabled on this hub",
                                   "content": {"text/plain": {"schema": {"type": "string"}}}})
    elif path.startswith(("/webhooks/", "/chat/")):
        answers.setdefault("404", _ok("this channel is not enabled on this hub"))
    elif "{" in path:
        answers.setdefault("404", _ok("no such item"))
    if path.endswith("/ws"):
        answers.setdefault("400", _ok("not a websocket upgrade request"))
    if "requestBody" in operation:
        # receive_body (hub.request_body) refuses a body it cannot read before any handler.
        answers.setdefault("400", _ok("the body cannot be read: not valid UTF-8, or not "
                                      "well-formed for its content type"))
    responses = {
        code: ({**answer, "content": ERROR["content"]}
               if code[0] in "45" and "content" not in answer else answer)
        for code, answer in answers.items()}
    return {**operation, "responses": responses}


def routes(*fragments: Paths) -> list[web.RouteDef]:
    document = spec(fragments)
    events_document = asyncapi.document()

    async def openapi_json(request: web.Request) -> web.Response:
        return web.json_response(document)

    async def asyncapi_json(request: web.Request) -> web.Response:
        return web.json_response(events_document)

    return [web.get("/api/openapi.json", openapi_json),
            web.get("/api/asyncapi.json", asyncapi_json)]
