"""A web-form contact reaches every connected console, live, through Redis."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp.test_utils import TestClient

from tests.conftest import HubFactory, log_in


async def next_events(ws: Any, wait_s: float = 5.0) -> list[dict[str, Any]]:
    while True:
        message = await asyncio.wait_for(ws.receive(), wait_s)
        frame = json.loads(message.data)
        if frame["type"] == "events":
            return frame["events"]


async def test_form_post_appears_on_two_consoles(hub: HubFactory, make_agent: Any) -> None:
    client: TestClient[Any, Any] = await hub()
    consoles = []
    for _ in range(2):
        agent = await make_agent(client)
        session = TestClient(client.server)  # its own cookie jar: another dispatcher
        await session.start_server()
        await log_in(session, agent.login)
        ws = await session.ws_connect("/api/v1/console/ws")
        hello = json.loads((await ws.receive()).data)
        assert hello["type"] == "hello"
        consoles.append((session, ws))

    response = await client.post("/form", data={
        "name": "Aino", "phone": "040 765 4321", "message": "Taksi Kamppiin",
        "submission_token": "tok-smoke-0001", "language": "fi"})
    assert response.status == 201
    page = await response.text()

    for _session, ws in consoles:
        events = await next_events(ws)
        assert events[0]["type"] == "request.queued"
        request = events[0]["request"]
        assert request["contact"]["phones"] == ["+358407654321"]
        assert request["preview"] == "Taksi Kamppiin"
        assert request["reference"] in page
    for session, ws in consoles:
        await ws.close()
        await session.close()
