"""Failed logins slow the guesser down (dispatch.login_limits): per login and address, per
address (password spraying) and per login; the right password after the wait is taken, so
one colleague cannot lock a dispatch room behind one NAT out. Behind a trusted proxy the
address comes from X-Forwarded-For, and from nobody else. A foreign page cannot log a
browser in."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from hub.settings import HttpSettings, Settings
from tests.conftest import PASSWORD, HubFactory

FREE_PER_LOGIN_AND_ADDRESS = 5
FREE_PER_ADDRESS = 30


async def _login(client: Any, login: str, password: str, forwarded_for: str = "",
                 origin: str | None = None) -> tuple[int, str | None]:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    if origin is not None:
        headers["Origin"] = origin
    response = await client.post("/api/v1/auth/login",
                                 json={"login": login, "password": password}, headers=headers)
    return int(response.status), response.headers.get("Retry-After")


async def _proxied(hub: HubFactory, settings: Settings) -> Any:
    return await hub(dataclasses.replace(settings,
                                         http=HttpSettings(trusted_proxies=("127.0.0.1",))))


async def test_guesses_wait_longer_each_time_and_the_right_password_after_the_wait_is_taken(
    hub: HubFactory, make_agent: Any, settings: Settings
) -> None:
    client = await _proxied(hub, settings)
    agent = await make_agent(client)
    for _ in range(FREE_PER_LOGIN_AND_ADDRESS):
        assert (await _login(client, agent.login, "wrong guess", "203.0.113.5"))[0] == 401
    assert await _login(client, agent.login, PASSWORD, "203.0.113.5") == (429, "1")
    assert (await _login(client, agent.login, PASSWORD, "198.51.100.7"))[0] == 200
    await asyncio.sleep(1.1)
    assert (await _login(client, agent.login, "wrong again", "203.0.113.5"))[0] == 401
    assert await _login(client, agent.login, PASSWORD, "203.0.113.5") == (429, "2")
    await asyncio.sleep(2.1)
    assert (await _login(client, agent.login, PASSWORD, "203.0.113.5"))[0] == 200


async def test_password_spraying_from_one_address_is_slowed_down(
    hub: HubFactory, make_agent: Any, settings: Settings
) -> None:
    client = await _proxied(hub, settings)
    agent = await make_agent(client)
    for n in range(FREE_PER_ADDRESS):
        assert (await _login(client, f"guess{n}", "Kesä2026!", "203.0.113.9"))[0] == 401
    status, retry_after = await _login(client, agent.login, PASSWORD, "203.0.113.9")
    assert status == 429 and retry_after is not None and int(retry_after) >= 1
    assert (await _login(client, agent.login, PASSWORD, "198.51.100.7"))[0] == 200


async def test_without_trusted_proxies_the_header_is_not_believed(
    hub: HubFactory, make_agent: Any
) -> None:
    client = await hub()
    agent = await make_agent(client)
    for n in range(FREE_PER_LOGIN_AND_ADDRESS):
        status, _ = await _login(client, agent.login, "wrong guess", f"203.0.113.{n}")
        assert status == 401
    assert (await _login(client, agent.login, PASSWORD, "198.51.100.7"))[0] == 429


async def test_a_foreign_page_cannot_log_a_browser_in(hub: HubFactory, make_agent: Any) -> None:
    client = await hub()
    agent = await make_agent(client)
    assert (await _login(client, agent.login, PASSWORD, origin="https://evil.example"))[0] == 403
    assert (await _login(client, agent.login, PASSWORD,
                         origin=str(client.make_url("")).rstrip("/")))[0] == 200
