"""The OpenAPI paths of staff groups and group messages (given to `hub.openapi.routes`)."""

from __future__ import annotations

from typing import Any

from hub.openapi_lanes import ERROR, JSON, SESSION, _ok
from hub.openapi_requests import json_body
from hub.request_models import GroupMessage, GroupName, GroupRename, MembersImport

GROUP_PARAM = {"name": "group_id", "in": "path", "required": True,
               "schema": {"type": "string", "format": "uuid"}}
MEMBER_PARAM = {"name": "member_id", "in": "path", "required": True,
                "schema": {"type": "string", "format": "uuid"}}
ADMIN = {"401": ERROR, "403": ERROR}
WRITE = {"400": ERROR, "415": ERROR, "422": _ok("field errors: {error, fields}", "Error")}
TAKEN = {"409": _ok("the name is taken: {error, fields: {name: taken}}", "Conflict")}

MEMBER_FIELDS: dict[str, Any] = {
    "name": {"type": "string", "maxLength": 200},
    "phone": {"type": ["string", "null"], "description":
              "any form the default region reads; stored in E.164"},
    "email": {"type": ["string", "null"], "format": "email", "description": "stored in lower "
              "case"},
}


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {JSON: {"schema": schema}}}


PATHS: dict[str, Any] = {
    "/api/v1/groups": {"get": {
        "summary": "staff groups with their counts of members, numbers and addresses "
                   "(dispatchers; not external users)",
        "security": SESSION, "responses": {"200": _ok("{groups}", "GroupList"), **ADMIN}}},
    "/api/v1/groups/{group_id}/messages": {
        "get": {"summary": "the group's messages, newest first: delivery states counted (in "
                           "all and per channel), recipients not reached with the reason, "
                           "answers received",
                "security": SESSION, "parameters": [GROUP_PARAM, {
                    "name": "limit", "in": "query",
                    "schema": {"type": "integer", "minimum": 1, "maximum": 200}}],
                "responses": {"200": _ok("{group, messages}", "GroupMessageList"), "400": ERROR,
                              **ADMIN,
                              "404": ERROR}},
        "post": {"summary": "message the group by SMS and/or email (dispatchers): one "
                            "transaction writes the thread (a request claimed by the sender, "
                            "which members' answers join), a delivery per recipient and the "
                            "outbox; members who opted out of SMS are recorded as failed, "
                            "not sent; the same client_key sends once (200)",
                 "security": SESSION, "parameters": [GROUP_PARAM],
                 "requestBody": json_body(GroupMessage),
                 "responses": {"201": _ok("{group_message: {id, recipients}, request, "
                                          "changed}", "GroupMessageResult"),
                               "200": _ok("sent before under this key (changed: false)",
                                          "GroupMessageResult"), **ADMIN,
                               "404": ERROR, **WRITE}}},
    "/api/v1/admin/groups": {
        "get": {"summary": "staff groups with member counts (admins)", "security": SESSION,
                "responses": {"200": _ok("{groups}", "GroupList"), **ADMIN}},
        "post": {"summary": "add a group (admins; audited)", "security": SESSION,
                 "requestBody": json_body(GroupName),
                 "responses": {"201": _ok("{group: {..., member_list}}", "GroupResult"), **ADMIN,
                               **WRITE, **TAKEN}}},
    "/api/v1/admin/groups/{group_id}": {
        "get": {"summary": "a group with its members (admins)", "security": SESSION,
                "parameters": [GROUP_PARAM],
                "responses": {"200": _ok("{group: {..., member_list}}", "GroupResult"), **ADMIN,
                              "404": ERROR}},
        "patch": {"summary": "rename a group (admins; audited)", "security": SESSION,
                  "parameters": [GROUP_PARAM],
                  "requestBody": json_body(GroupRename),
                  "responses": {"200": _ok("{group: {..., member_list}}", "GroupResult"), **ADMIN,
                                "404": ERROR, **WRITE, **TAKEN}},
        "delete": {"summary": "delete a group and its members (admins; audited); its "
                              "messages' threads stay as requests",
                   "security": SESSION, "parameters": [GROUP_PARAM],
                   "responses": {"200": _ok("{deleted: true}", "GroupDeleted"), **ADMIN,
                                 "404": ERROR}}},
    "/api/v1/admin/groups/{group_id}/members": {"post": {
        "summary": "add a member: a name and a number, an address or both (admins; audited "
                   "without the values)",
        "security": SESSION, "parameters": [GROUP_PARAM],
        "requestBody": _body({"type": "object", "required": ["name"],
                              "properties": MEMBER_FIELDS}),
        "responses": {"201": _ok("{member}", "GroupMemberResult"), **ADMIN, "404": ERROR,
                      **WRITE}}},
    "/api/v1/admin/groups/{group_id}/members/import": {"post": {
        "summary": "add members from CSV text, one per line `name;phone;email` (a header "
                   "line is skipped); all lines or none; numbers or addresses in the group "
                   "already are skipped; `replace`: the lines become the whole group",
        "security": SESSION, "parameters": [GROUP_PARAM],
        "requestBody": json_body(MembersImport),
        "responses": {"200": _ok("{group, added, skipped, removed}", "MembersImported"), **ADMIN,
                      "404": ERROR,
                      **WRITE}}},
    "/api/v1/admin/groups/{group_id}/members/{member_id}": {
        "patch": {"summary": "change a member's name, number or address (admins; audited "
                             "with field names only)",
                  "security": SESSION, "parameters": [GROUP_PARAM, MEMBER_PARAM],
                  "requestBody": _body({"type": "object", "properties": MEMBER_FIELDS}),
                  "responses": {"200": _ok("{member}", "GroupMemberResult"), **ADMIN,
                                "404": ERROR, **WRITE}},
        "delete": {"summary": "remove a member (admins; audited)", "security": SESSION,
                   "parameters": [GROUP_PARAM, MEMBER_PARAM],
                   "responses": {"200": _ok("{deleted: true}", "GroupDeleted"), **ADMIN,
                                 "404": ERROR}}},
}
