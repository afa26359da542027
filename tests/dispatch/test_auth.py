"""Who may use the console API: a session for every route but the public ones, the right
password, the hub's own origin for the websocket, and external users only on their own
requests."""

from __future__ import annotations

import dataclasses
from typing import Any

import aiohttp
import pytest
from yarl import URL

from hub.model import Role
from hub.settings import ConsoleSettings, Settings
from tests.conftest import PASSWORD, DispatcherFactory, HubFactory, server_url
from tests.helpers import fill_path, http_session, submit

PUBLIC = {("POST", "/api/v1/auth/login"), ("POST", "/api/v1/contact-requests")}


async def test_every_api_route_but_the_public_ones_needs_a_session(
    hub: HubFactory, dispatcher: DispatcherFactory
) -> None:
    client = await hub()
    base = server_url(client)
    agent = await dispatcher(client)
    receipt = await submit(agent.http, base, "tok-auth-000001")
    routes = sorted({
        (route.method, route.resource.canonical)
        for route in client.app.router.routes()
        if route.resource is not None and route.resource.canonical.startswith("/api/v1/")
        and route.method != "HEAD"
    } - PUBLIC)
    assert len(routes) >= 10, routes

    answers = []
    for cookie in (None, "forged-session-token"):
        cookies = {"tc_session": cookie} if cookie else {}
        async with http_session(cookies=cookies) as http:
            for method, path in routes:
                url = base + fill_path(path, request_id=receipt["id"])
                async with http.request(method, url, json={}) as resp:
                    answers.append((method, path, cookie, resp.status,
                                    (await resp.json()).get("error")))
    refused = [a for a in answers if a[3] != 401 or a[4] != "log in first"]
    assert not refused, refused
    # Nothing happened to the request.
    assert (await agent.request(receipt["id"]))["history"] == []


async def test_login_refuses_a_wrong_password_and_an_unknown_login(
    hub: HubFactory, make_agent: Any
) -> None:
    client = await hub()
    agent = await make_agent(client)
    attempts = [
        ({"login": agent.login, "password": "wrong horse battery"}, 401),
        ({"login": "nobody-here", "password": PASSWORD}, 401),
        ({"login": agent.login}, 422),
        ({"login": agent.login.upper(), "password": PASSWORD}, 200),
    ]
    async with http_session() as http:
        for body, expected in attempts:
            async with http.post(f"{server_url(client)}/api/v1/auth/login", json=body) as resp:
                assert resp.status == expected, (body, await resp.text())
                if expected == 401:
                    assert "tc_session" not in resp.cookies
        async with http.get(f"{server_url(client)}/api/v1/me") as resp:
            assert resp.status == 200
            assert (await resp.json())["agent"]["id"] == str(agent.id)


async def test_logout_ends_the_session_on_every_process(
    hub: HubFactory, dispatcher: DispatcherFactory
) -> None:
    first, second = await hub(), await hub()
    agent = await dispatcher(first)
    async with agent.http.get(f"{server_url(second)}/api/v1/me") as resp:
        assert resp.status == 200
    token = agent.http.cookie_jar.filter_cookies(URL(agent.base))["tc_session"].value
    async with agent.http.post(f"{agent.base}/api/v1/auth/logout") as resp:
        assert resp.status == 200
    async with http_session(cookies={"tc_session": token}) as replay, \
            replay.get(f"{server_url(second)}/api/v1/me") as resp:
        assert resp.status == 401


async def test_console_websocket_refuses_a_foreign_origin(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    partner = "https://console.partner.example"
    client = await hub(dataclasses.replace(
        settings, console=ConsoleSettings(allowed_origins=(partner,))))
    agent = await dispatcher(client)
    url = f"{agent.base}/api/v1/console/ws"
    for origin in ("https://evil.example", "http://127.0.0.1.evil.example", "null"):
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await agent.http.ws_connect(url, headers={"Origin": origin})
        assert refused.value.status == 403, origin
    own = await agent.console(headers={"Origin": agent.base})
    allowed = await agent.console(headers={"Origin": partner})
    assert own.hello["type"] == allowed.hello["type"] == "hello"
    # And without a session, even the hub's own origin gets nothing.
    async with http_session() as stranger:
        with pytest.raises(aiohttp.WSServerHandshakeError) as anonymous:
            await stranger.ws_connect(url, headers={"Origin": agent.base})
        assert anonymous.value.status == 401


async def test_external_user_sees_and_acts_only_on_requests_assigned_to_them(
    hub: HubFactory, dispatcher: DispatcherFactory
) -> None:
    client = await hub()
    team = await dispatcher(client)
    external = await dispatcher(client, role=Role.EXTERNAL)
    theirs = await submit(team.http, team.base, "tok-external-01", phone="0402000001")
    other = await submit(team.http, team.base, "tok-external-02", phone="0402000002")
    await team.wait_for_status(other["id"], "queued")

    async def status(method: str, path: str, **kwargs: Any) -> int:
        async with external.http.request(method, f"{external.base}{path}", **kwargs) as resp:
            return resp.status

    for request_id in (theirs["id"], other["id"]):
        path = f"/api/v1/requests/{request_id}"
        assert await status("GET", path) == 404
        assert await status("POST", f"{path}/resolve") == 404
        assert await status("POST", f"{path}/notes", json={"text": "hello"}) == 404
        assert await status("POST", f"{path}/claim") == 403
    assert await external.open_requests() == []

    async with team.http.post(f"{team.base}/api/v1/requests/{theirs['id']}/transfer",
                              json={"agent_id": str(external.agent.id)}) as resp:
        assert resp.status == 200, await resp.text()
    assert [r["id"] for r in await external.open_requests()] == [theirs["id"]]
    assert (await external.request(theirs["id"]))["assigned_agent"]["id"] == str(
        external.agent.id)
    assert await status("GET", f"/api/v1/requests/{other['id']}") == 404
    assert await status("POST", f"/api/v1/requests/{theirs['id']}/resolve") == 200
    assert (await team.request(other["id"]))["history"] == []
