"""Admins manage accounts through the API: add, edit, disable, reset a password; everyone else
is refused, and every change is in the audit trail without a password in it."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient

from hub.model import Role
from hub.settings import ConsoleSettings, Settings
from tests.conftest import DispatcherFactory, HubFactory, server_url
from tests.helpers import Console, Dispatcher, fill_path, http_session, submit

NEW_PASSWORD = "a long new password 42"
ADMIN = "/api/v1/admin"


async def _fast_hub(hub: HubFactory, settings: Settings) -> TestClient[Any, Any]:
    """A hub whose consoles notice an ended session within a tenth of a second."""
    return await hub(dataclasses.replace(settings,
                                         console=ConsoleSettings(session_check_s=0.1)))


async def _call(who: Dispatcher, method: str, path: str,
                body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    async with who.http.request(method, who.base + path, json=body) as resp:
        answer: dict[str, Any] = await resp.json()
        return resp.status, answer


async def _add(admin: Dispatcher, login: str, role: str = "team",
               **fields: Any) -> dict[str, Any]:
    status, answer = await _call(admin, "POST", ADMIN + "/agents", {
        "login": login, "name": login.title(), "role": role, "password": NEW_PASSWORD,
        **fields})
    assert status == 201, answer
    created: dict[str, Any] = answer["agent"]
    return created


async def _log_in(base: str, login: str, password: str = NEW_PASSWORD) -> int:
    """The status of a login with a fresh cookie jar."""
    async with http_session() as http, http.post(
            f"{base}/api/v1/auth/login", json={"login": login, "password": password}) as resp:
        return resp.status


async def _closed_with(console: Console) -> int | None:
    """The close code of the console, once it closes (event frames before it are skipped)."""
    async def closing() -> int | None:
        while True:
            message = await console.ws.receive()
            if message.type != aiohttp.WSMsgType.TEXT:
                assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED), \
                    message
                return console.ws.close_code
    return await asyncio.wait_for(closing(), 5)


async def test_an_admin_adds_a_team_user_who_can_log_in(
    hub: HubFactory, dispatcher: DispatcherFactory
) -> None:
    client = await hub()
    admin = await dispatcher(client, role=Role.ADMIN)
    created = await _add(admin, "Ville.Valittaja", phone="040 123 4567",
                         email="ville@taxi.example", phone_login="201")
    assert created["login"] == "ville.valittaja"
    assert created["phone"] == "+358401234567"
    assert created["role"] == "team" and created["active"] is True
    assert created["created_at"] and created["updated_at"]

    status, listed = await _call(admin, "GET", ADMIN + "/agents")
    assert status == 200
    assert created in listed["agents"]
    assert "password" not in json.dumps(listed)

    async with http_session() as http:
        async with http.post(f"{admin.base}/api/v1/auth/login",
                             json={"login": "Ville.Valittaja", "password": NEW_PASSWORD}) as resp:
            assert resp.status == 200
        async with http.get(f"{admin.base}/api/v1/me") as resp:
            assert (await resp.json())["agent"]["role"] == "team"


async def test_team_and_external_users_get_403_on_every_admin_route(
    hub: HubFactory, dispatcher: DispatcherFactory
) -> None:
    client = await hub()
    admin = await dispatcher(client, role=Role.ADMIN)
    routes = sorted({
        (route.method, route.resource.canonical)
        for route in client.app.router.routes()
        if route.resource is not None and route.resource.canonical.startswith(ADMIN)
        and route.method != "HEAD"
    })
    assert len(routes) >= 5, routes
    for role in (Role.TEAM, Role.EXTERNAL):
        user = await dispatcher(client, role=role)
        for method, path in routes:
            url = fill_path(path, agent_id=str(admin.agent.id))
            status, answer = await _call(user, method, url, {"active": False,
                                                             "password": NEW_PASSWORD})
            assert (status, answer["error"]) == (403, "admins only"), (role, method, path)
    status, answer = await _call(admin, "GET", ADMIN + "/agents")
    assert status == 200
    assert all(a["active"] for a in answer["agents"])


async def test_a_duplicate_login_and_bad_fields_are_refused(
    hub: HubFactory, dispatcher: DispatcherFactory
) -> None:
    client = await hub()
    admin = await dispatcher(client, role=Role.ADMIN)
    await _add(admin, "aino")
    base = {"login": "other", "name": "Other", "role": "team", "password": NEW_PASSWORD}
    refused = [
        ({**base, "login": "AINO"}, 409, {"login": "taken"}),
        ({**base, "login": "x"}, 422, "login"),
        ({**base, "login": "white space"}, 422, "login"),
        ({**base, "password": "eleven char"}, 422, "password"),
        ({**base, "phone": "not a number"}, 422, "phone"),
        ({**base, "email": "nobody"}, 422, "email"),
        ({**base, "role": "boss"}, 422, "role"),
        ({**base, "name": "  "}, 422, "name"),
        ({**base, "active": False}, 422, "active"),
        ({"login": "other"}, 422, "password"),
    ]
    for body, expected, field in refused:
        status, answer = await _call(admin, "POST", ADMIN + "/agents", body)
        assert status == expected, (body, answer)
        if isinstance(field, dict):
            assert answer["fields"] == field
        else:
            assert field in answer["fields"], (body, answer)
    status, listed = await _call(admin, "GET", ADMIN + "/agents")
    assert sorted(a["login"] for a in listed["agents"]) == sorted(["aino",
                                                                   admin.agent.login])


async def test_writes_from_another_origin_are_refused(
    hub: HubFactory, dispatcher: DispatcherFactory
) -> None:
    client = await hub()
    admin = await dispatcher(client, role=Role.ADMIN)
    async with admin.http.post(f"{admin.base}{ADMIN}/agents",
                               headers={"Origin": "https://evil.example"},
                               json={"login": "mallory", "name": "M", "role": "admin",
                                     "password": NEW_PASSWORD}) as resp:
        assert resp.status == 403
    assert await _log_in(admin.base, "mallory") == 401


async def test_a_role_changed_to_external_takes_effect_at_once(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    client = await _fast_hub(hub, settings)
    admin = await dispatcher(client, role=Role.ADMIN)
    user = await dispatcher(client)
    receipt = await submit(user.http, user.base, "tok-admin-role-01")
    assert [r["id"] for r in await user.open_requests()] == [receipt["id"]]
    console = await user.console()

    status, answer = await _call(admin, "PATCH", f"{ADMIN}/agents/{user.agent.id}",
                                 {"role": "external"})
    assert status == 200 and answer["agent"]["role"] == "external"

    assert await _closed_with(console) == 4401
    assert await user.open_requests() == []  # not theirs: filtered out
    async with user.http.get(f"{user.base}/api/v1/requests/{receipt['id']}") as resp:
        assert resp.status == 404
    again = await user.console()  # the new console is an external user's
    assert again.hello["type"] == "hello"


async def test_disabling_a_logged_in_user_ends_their_session(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    first = await _fast_hub(hub, settings)
    second = await _fast_hub(hub, settings)
    admin = await dispatcher(first, role=Role.ADMIN)
    user = await dispatcher(first)
    console = await user.console(server_url(second))  # another process than the admin's

    status, answer = await _call(admin, "PATCH", f"{ADMIN}/agents/{user.agent.id}",
                                 {"active": False})
    assert status == 200 and answer["agent"]["active"] is False

    async with user.http.get(f"{user.base}/api/v1/me") as resp:
        assert resp.status == 401
    assert await _closed_with(console) == 4401
    assert await _log_in(admin.base, user.agent.login, "correct horse battery") == 401

    status, answer = await _call(admin, "PATCH", f"{ADMIN}/agents/{user.agent.id}",
                                 {"active": True})
    assert status == 200 and answer["agent"]["active"] is True
    assert await _log_in(admin.base, user.agent.login, "correct horse battery") == 200


async def test_sessions_checked_together_close_only_the_ended_ones(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    """Consoles that check their sessions in the same moment share one check: each still
    learns of its own session, and only the disabled dispatchers' consoles close."""
    client = await _fast_hub(hub, settings)
    admin = await dispatcher(client, role=Role.ADMIN)
    users = [await dispatcher(client) for _ in range(6)]
    consoles = [await user.console() for user in users for _ in range(2)]
    disabled = {users[1].agent.id, users[4].agent.id}
    for agent_id in disabled:
        status, _ = await _call(admin, "PATCH", f"{ADMIN}/agents/{agent_id}", {"active": False})
        assert status == 200

    ended = [c for c, user in zip(consoles, [u for u in users for _ in range(2)], strict=True)
             if user.agent.id in disabled]
    assert [await _closed_with(console) for console in ended] == [4401] * 4
    await asyncio.sleep(0.5)  # several check periods
    still_open = [c for c in consoles if c not in ended]
    assert not any(console.ws.closed for console in still_open)
    for console in still_open:  # and still answers
        await console.ws.send_str('{"type":"ping"}')
        while (frame := await console.frame())["type"] != "pong":
            assert frame["type"] == "events", frame


async def test_a_password_reset_ends_sessions_and_changes_the_password(
    hub: HubFactory, dispatcher: DispatcherFactory
) -> None:
    client = await hub()
    admin = await dispatcher(client, role=Role.ADMIN)
    user = await dispatcher(client)
    path = f"{ADMIN}/agents/{user.agent.id}/password"

    status, answer = await _call(admin, "POST", path, {"password": "short"})
    assert status == 422 and "password" in answer["fields"]
    status, answer = await _call(admin, "POST", path, {"password": NEW_PASSWORD})
    assert status == 200 and answer["sessions_ended"] == 1

    async with user.http.get(f"{user.base}/api/v1/me") as resp:
        assert resp.status == 401
    assert await _log_in(admin.base, user.agent.login, "correct horse battery") == 401
    assert await _log_in(admin.base, user.agent.login) == 200

    # An admin resetting their own password keeps the session they use.
    status, _ = await _call(admin, "POST", f"{ADMIN}/agents/{admin.agent.id}/password",
                            {"password": NEW_PASSWORD})
    assert status == 200
    status, _ = await _call(admin, "GET", ADMIN + "/agents")
    assert status == 200


async def test_an_admin_cannot_disable_or_demote_themselves(
    hub: HubFactory, dispatcher: DispatcherFactory
) -> None:
    client = await hub()
    admin = await dispatcher(client, role=Role.ADMIN)
    path = f"{ADMIN}/agents/{admin.agent.id}"
    for change, reason in (({"active": False}, "disable"), ({"role": "team"}, "admin role")):
        status, answer = await _call(admin, "PATCH", path, change)
        assert status == 409 and reason in answer["error"], answer
    status, answer = await _call(admin, "PATCH", path, {"name": "Pääkäyttäjä"})
    assert status == 200 and answer["agent"]["name"] == "Pääkäyttäjä"
    assert answer["agent"]["role"] == "admin" and answer["agent"]["active"] is True
    status, answer = await _call(admin, "PATCH", f"{ADMIN}/agents/not-an-id", {"name": "x"})
    assert status == 404


async def test_every_change_is_in_the_audit_trail_without_passwords(
    hub: HubFactory, dispatcher: DispatcherFactory
) -> None:
    client = await hub()
    admin = await dispatcher(client, role=Role.ADMIN)
    created = await _add(admin, "kalle", phone="+358 40 765 4321")
    target = f"{ADMIN}/agents/{created['id']}"
    assert (await _call(admin, "PATCH", target, {"role": "external",
                                                 "phone": "0401112222"}))[0] == 200
    assert (await _call(admin, "PATCH", target, {"active": False}))[0] == 200
    assert (await _call(admin, "POST", target + "/password",
                        {"password": "yet another password"}))[0] == 200

    status, answer = await _call(admin, "GET", ADMIN + "/audit?action=agent.&limit=10")
    assert status == 200
    entries = [e for e in answer["entries"] if e["subject"] == created["id"]]
    assert [e["action"] for e in entries] == ["agent.password", "agent.disable",
                                              "agent.update", "agent.add"]
    assert {e["agent_id"] for e in entries} == {str(admin.agent.id)}
    assert all(e["action"].startswith("agent.") for e in answer["entries"])  # no logins
    assert entries[2]["detail"] == {"login": "kalle", "changed": ["phone", "role"],
                                    "role": "external"}
    text = json.dumps(entries)
    for secret in (NEW_PASSWORD, "yet another password", "358401112222", "7654321"):
        assert secret not in text
    status, _ = await _call(admin, "GET", ADMIN + "/audit?limit=0")
    assert status == 400
