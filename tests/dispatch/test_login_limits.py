"""Failed logins are limited per login and client address; behind a trusted proxy the
address comes from X-Forwarded-For, and from nobody else."""

from __future__ import annotations

import dataclasses
from typing import Any

from hub.settings import HttpSettings, Settings
from tests.conftest import PASSWORD, HubFactory

MAX_FAILED = 10


async def _login(client: Any, login: str, password: str, forwarded_for: str) -> int:
    response = await client.post("/api/v1/auth/login", json={"login": login,
                                 "password": password},
                                 headers={"X-Forwarded-For": forwarded_for})
    return int(response.status)


async def test_behind_a_trusted_proxy_one_address_guessing_does_not_lock_out_another(
    hub: HubFactory, make_agent: Any, settings: Settings
) -> None:
    proxied = dataclasses.replace(settings, http=HttpSettings(trusted_proxies=("127.0.0.1",)))
    client = await hub(proxied)
    agent = await make_agent(client)
    for _ in range(MAX_FAILED):
        assert await _login(client, agent.login, "wrong guess", "203.0.113.5") == 401
    assert await _login(client, agent.login, PASSWORD, "203.0.113.5") == 429
    assert await _login(client, agent.login, PASSWORD, "198.51.100.7") == 200


async def test_without_trusted_proxies_the_header_is_not_believed(
    hub: HubFactory, make_agent: Any
) -> None:
    client = await hub()
    agent = await make_agent(client)
    for n in range(MAX_FAILED):
        assert await _login(client, agent.login, "wrong guess", f"203.0.113.{n}") == 401
    assert await _login(client, agent.login, PASSWORD, "198.51.100.7") == 429
