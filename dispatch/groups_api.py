"""Staff groups over HTTP.

Admins keep the groups and their members under `/api/v1/admin/groups` (403 for anyone else;
a CSV paste adds or replaces a whole group). Dispatchers (team and admins, never external
users) list the groups with their member counts, message one, and follow what became of
its messages under `/api/v1/groups`. The rules live in dispatch.groups and
dispatch.groups_send; this module is HTTP.
"""

from __future__ import annotations

import uuid

from aiohttp import web

from dispatch import groups
from dispatch.admin_api import BASE as ADMIN_BASE
from dispatch.groups_csv import parse_members
from dispatch.groups_send import GroupMessages
from dispatch.groups_sent import sent_messages
from dispatch.query_params import page_limit
from hub.agent_auth import require_admin, require_centre
from hub.appkeys import DATABASE, RELAY, REPLY_SENDERS, SETTINGS
from hub.error_codes import ErrorCode
from hub.errors import NotFound
from hub.request_body import read_body, read_json_object
from hub.request_models import GroupMessage, GroupName, GroupRename, MembersImport

BASE = "/api/v1/groups"
DEFAULT_SENT_LIMIT = 20
MAX_SENT_LIMIT = 200


def _id(request: web.Request, name: str, missing: ErrorCode) -> uuid.UUID:
    try:
        return uuid.UUID(request.match_info[name])
    except ValueError as exc:
        raise NotFound(missing) from exc


def _region(request: web.Request) -> str:
    return request.app[SETTINGS].phone.default_region


# ---- dispatchers ---------------------------------------------------------------------------


async def list_groups(request: web.Request) -> web.Response:
    """Every group with its counts of members, numbers and addresses (no member's data)."""
    await require_centre(request, ErrorCode.GROUPS_CENTRE_ONLY)
    async with request.app[DATABASE].read() as conn:
        found = await groups.list_groups(conn)
    return web.json_response({"groups": found})


async def send_message(request: web.Request) -> web.Response:
    """Message a group: {"body", "channels": ["sms", "email"], "subject"?, "client_key"}.
    201 with the thread; 200 when the key was sent before."""
    agent = await require_centre(request, ErrorCode.GROUPS_CENTRE_ONLY)
    group_id = _id(request, "group_id", ErrorCode.GROUP_NOT_FOUND)
    body = await read_body(request, GroupMessage)
    key = body.client_key or request.headers.get("Idempotency-Key", "")
    sender = GroupMessages(request.app[DATABASE], request.app[RELAY],
                           request.app[REPLY_SENDERS])
    done = await sender.send(group_id, agent, body=body.body, key=key, subject=body.subject,
                             channels=list(dict.fromkeys(body.channels)))
    return web.json_response({
        "group_message": {"id": str(done.group_message_id), "recipients": done.recipients},
        "request": done.request, "changed": done.changed,
    }, status=201 if done.changed else 200)


async def list_messages(request: web.Request) -> web.Response:
    """The group's messages, newest first (`?limit=`), each with its delivery states counted
    and the recipients it did not reach, with the reason."""
    await require_centre(request, ErrorCode.GROUPS_CENTRE_ONLY)
    group_id = _id(request, "group_id", ErrorCode.GROUP_NOT_FOUND)
    limit = page_limit(request.query, DEFAULT_SENT_LIMIT, MAX_SENT_LIMIT)
    async with request.app[DATABASE].read() as conn:
        group = await groups.get_group(conn, group_id)
        found = await sent_messages(conn, group_id, limit)
    group.pop("member_list")
    return web.json_response({"group": group, "messages": found})


# ---- admins --------------------------------------------------------------------------------


async def admin_list(request: web.Request) -> web.Response:
    await require_admin(request)
    async with request.app[DATABASE].read() as conn:
        found = await groups.list_groups(conn)
    return web.json_response({"groups": found})


async def admin_create(request: web.Request) -> web.Response:
    admin = await require_admin(request)
    name = (await read_body(request, GroupName)).name
    created = await groups.create_group(request.app[DATABASE], name, by=admin)
    return web.json_response({"group": created}, status=201)


async def admin_get(request: web.Request) -> web.Response:
    """The group with its members (names, numbers, addresses)."""
    await require_admin(request)
    group_id = _id(request, "group_id", ErrorCode.GROUP_NOT_FOUND)
    async with request.app[DATABASE].read() as conn:
        found = await groups.get_group(conn, group_id)
    return web.json_response({"group": found})


async def admin_rename(request: web.Request) -> web.Response:
    admin = await require_admin(request)
    group_id = _id(request, "group_id", ErrorCode.GROUP_NOT_FOUND)
    name = (await read_body(request, GroupRename)).name
    found = await groups.rename_group(request.app[DATABASE], group_id, name, by=admin)
    return web.json_response({"group": found})


async def admin_delete(request: web.Request) -> web.Response:
    admin = await require_admin(request)
    group_id = _id(request, "group_id", ErrorCode.GROUP_NOT_FOUND)
    await groups.delete_group(request.app[DATABASE], group_id, by=admin)
    return web.json_response({"deleted": True})


async def add_member(request: web.Request) -> web.Response:
    admin = await require_admin(request)
    group_id = _id(request, "group_id", ErrorCode.GROUP_NOT_FOUND)
    body = await read_json_object(request)
    member = await groups.add_member(request.app[DATABASE], group_id, body, by=admin,
                                     region=_region(request))
    return web.json_response({"member": member}, status=201)


async def change_member(request: web.Request) -> web.Response:
    admin = await require_admin(request)
    group_id = _id(request, "group_id", ErrorCode.GROUP_NOT_FOUND)
    member_id = _id(request, "member_id", ErrorCode.MEMBER_NOT_FOUND)
    body = await read_json_object(request)
    member = await groups.update_member(request.app[DATABASE], group_id, member_id, body,
                                        by=admin, region=_region(request))
    return web.json_response({"member": member})


async def remove_member(request: web.Request) -> web.Response:
    admin = await require_admin(request)
    group_id = _id(request, "group_id", ErrorCode.GROUP_NOT_FOUND)
    member_id = _id(request, "member_id", ErrorCode.MEMBER_NOT_FOUND)
    await groups.remove_member(request.app[DATABASE], group_id, member_id, by=admin)
    return web.json_response({"deleted": True})


async def import_members(request: web.Request) -> web.Response:
    """{"csv": "name;phone;email" lines, "replace": false}: all lines or none."""
    admin = await require_admin(request)
    group_id = _id(request, "group_id", ErrorCode.GROUP_NOT_FOUND)
    body = await read_body(request, MembersImport)
    done = await groups.import_members(request.app[DATABASE], group_id, parse_members(body.csv),
                                       replace=body.replace, by=admin, region=_region(request))
    return web.json_response(done)


def routes() -> list[web.RouteDef]:
    admin = ADMIN_BASE + "/groups"
    # Any segment is routed (the router's default refuses braces), so that even a malformed
    # id is answered after the session check, in JSON.
    one = admin + "/{group_id:[^/]+}"
    member = one + "/members/{member_id:[^/]+}"
    return [
        web.get(BASE, list_groups),
        web.get(BASE + "/{group_id:[^/]+}/messages", list_messages),
        web.post(BASE + "/{group_id:[^/]+}/messages", send_message),
        web.get(admin, admin_list),
        web.post(admin, admin_create),
        web.get(one, admin_get),
        web.patch(one, admin_rename),
        web.delete(one, admin_delete),
        web.post(one + "/members", add_member),
        web.post(one + "/members/import", import_members),
        web.patch(member, change_member),
        web.delete(member, remove_member),
    ]
