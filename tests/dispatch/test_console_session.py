"""A console whose session ends stops receiving passenger data."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient

from hub.settings import ConsoleSettings, Settings
from tests.conftest import HubFactory, log_in


async def test_logout_closes_open_consoles_of_that_session(
    hub: HubFactory, make_agent: Any, settings: Settings
) -> None:
    fast = dataclasses.replace(settings, console=ConsoleSettings(session_check_s=0.1))
    client: TestClient[Any, Any] = await hub(fast)
    agent = await make_agent(client)
    await log_in(client, agent.login)
    ws = await client.ws_connect("/api/v1/console/ws")
    assert (await ws.receive_json())["type"] == "hello"

    assert (await client.post("/api/v1/auth/logout")).status == 200

    closing = await asyncio.wait_for(ws.receive(), 5)
    assert closing.type in (WSMsgType.CLOSE, WSMsgType.CLOSED)
    assert ws.close_code == 4401
    again = await client.get("/api/v1/requests")
    assert again.status == 401
