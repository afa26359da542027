"""The OpenAPI paths of lanes, routing rules, offers and who views a request (given to
`hub.openapi.routes`)."""

from __future__ import annotations

from typing import Any

from hub.openapi_requests import json_body
from hub.request_models import LaneSettings, NewLane, RoutingRuleInput, Viewing

JSON = "application/json"
SESSION: list[dict[str, list[str]]] = [{"session": []}]
ERROR = {"description": "error", "content": {JSON: {"schema": {
    "$ref": "#/components/schemas/Error"}}}}
KEY_PARAM = {"name": "key", "in": "path", "required": True, "schema": {"type": "string"}}
RULE_PARAM = {"name": "rule_id", "in": "path", "required": True,
              "schema": {"type": "string", "format": "uuid"}}

def _ok(description: str, schema: str | None = None) -> dict[str, Any]:
    """An answer; `schema` names its body's component (hub.bodies, hub.openapi_bodies).
    Without one it is an error answer, which `hub.openapi.spec` gives the error body."""
    if schema is None:
        return {"description": description}
    return {"description": description, "content": {JSON: {"schema": {
        "$ref": f"#/components/schemas/{schema}"}}}}


ADMIN = {"401": ERROR, "403": ERROR}

PATHS: dict[str, Any] = {
    "/api/v1/lanes": {"get": {
        "summary": "the console's lane tabs, in order, each with whether it is open now",
        "security": SESSION,
        "responses": {"200": _ok("{lanes: [{key, name: {fi, en}, position, priority, "
                                 "strategy, target_wait_s, open}]}", "ConsoleLaneList"),
                      "401": ERROR}}},
    "/api/v1/admin/lanes": {
        "get": {"summary": "every lane and routing rule (admins only)", "security": SESSION,
                "responses": {"200": _ok("{lanes, rules}", "LanesAndRules"), **ADMIN}},
        "post": {"summary": "add a lane (admins only; audited)", "security": SESSION,
                 "requestBody": json_body(NewLane),
                 "responses": {"201": _ok("{lane}", "LaneResult"), "422": ERROR, **ADMIN,
                               "409": ERROR, "415": ERROR}}},
    "/api/v1/admin/lanes/{key}": {
        "put": {"summary": "replace a lane's settings (admins only; audited)",
                "security": SESSION, "parameters": [KEY_PARAM],
                "requestBody": json_body(LaneSettings),
                "responses": {"200": _ok("{lane}", "LaneResult"), "422": ERROR, **ADMIN,
                              "404": ERROR, "415": ERROR}},
        "delete": {"summary": "remove a lane and its rules (admins only); refused while "
                              "open requests are in it, and for the default lane",
                   "security": SESSION, "parameters": [KEY_PARAM],
                   "responses": {"204": {"description": "removed"}, "400": ERROR, **ADMIN,
                                 "404": ERROR, "409": ERROR}}},
    "/api/v1/admin/routing-rules": {
        "get": {"summary": "every lane and routing rule (admins only)", "security": SESSION,
                "responses": {"200": _ok("{lanes, rules}", "LanesAndRules"), **ADMIN}},
        "post": {"summary": "add a routing rule (admins only; audited)", "security": SESSION,
                 "requestBody": json_body(RoutingRuleInput),
                 "responses": {"201": _ok("{rule}", "RoutingRuleResult"), "422": ERROR, **ADMIN,
                               "415": ERROR}}},
    "/api/v1/admin/routing-rules/{rule_id}": {
        "put": {"summary": "replace a routing rule (admins only; audited)",
                "security": SESSION, "parameters": [RULE_PARAM],
                "requestBody": json_body(RoutingRuleInput),
                "responses": {"200": _ok("{rule}", "RoutingRuleResult"), "422": ERROR,
                              **ADMIN, "404": ERROR, "415": ERROR}},
        "delete": {"summary": "remove a routing rule (admins only; audited)",
                   "security": SESSION, "parameters": [RULE_PARAM],
                   "responses": {"204": {"description": "removed"}, **ADMIN,
                                 "404": ERROR}}},
    "/api/v1/requests/{request_id}/decline": {"post": {
        "summary": "the offered dispatcher declines the offer: it moves to the next one",
        "security": SESSION,
        "parameters": [{"name": "request_id", "in": "path", "required": True,
                        "schema": {"type": "string", "format": "uuid"}}],
        "responses": {"200": _ok("{declined: true}", "Declined"), "401": ERROR, "404": ERROR,
                      "409": _ok("not offered to you (any more)")}}},
    "/api/v1/requests/{request_id}/viewers/me": {
        "put": {"summary": "this dispatcher has the request open (again every 15 s), and is "
                           "typing or not; colleagues' consoles get a request.viewers "
                           "presence frame",
                "security": SESSION,
                "parameters": [{"name": "request_id", "in": "path", "required": True,
                                "schema": {"type": "string", "format": "uuid"}}],
                "requestBody": json_body(Viewing, required=False),
                "responses": {"200": _ok("{viewers: [{id, name, typing, until}], refresh_s}",
                                         "ViewerList"),
                              "401": ERROR, "404": ERROR, "422": ERROR}},
        "delete": {"summary": "this dispatcher closed the request",
                   "security": SESSION,
                   "parameters": [{"name": "request_id", "in": "path", "required": True,
                                   "schema": {"type": "string", "format": "uuid"}}],
                   "responses": {"200": _ok("{viewers}", "ViewerList"), "401": ERROR,
                                 "404": ERROR}}},
}
