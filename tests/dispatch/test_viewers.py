"""Who else has a request open: a dispatcher's console says so, colleagues' consoles hear it
(with who is typing) as presence frames, and an external user cannot look at others'."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from hub.model import Role
from hub.settings import Settings
from tests.conftest import DispatcherFactory, HubFactory
from tests.helpers import WAIT_S, Console, Dispatcher, submit


async def _presence_console(agent: Dispatcher) -> Console:
    ws = await agent.http.ws_connect(f"{agent.base}/api/v1/console/ws",
                                     protocols=("taxiconnect.presence",))
    hello = json.loads((await asyncio.wait_for(ws.receive(), WAIT_S)).data)
    assert hello["type"] == "hello", hello
    console = Console(ws, hello)
    agent.consoles.append(console)
    return console


async def _viewers_frame(console: Console, request_id: str) -> list[dict[str, Any]]:
    while True:
        frame = await console.frame()
        event = frame.get("event") or {}
        if frame["type"] == "presence" and event.get("type") == "request.viewers" \
                and event["request_id"] == request_id:
            return list(event["viewers"])


async def _view(agent: Dispatcher, request_id: str, typing: bool | None = None,
                method: str = "PUT") -> tuple[int, Any]:
    body = None if typing is None else {"typing": typing}
    async with agent.http.request(
            method, f"{agent.base}/api/v1/requests/{request_id}/viewers/me", json=body) as resp:
        return resp.status, await resp.json()


async def test_colleagues_see_who_has_the_request_open_and_who_types(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    client = await hub(settings)
    anna = await dispatcher(client, name="Anna")
    ben = await dispatcher(client, name="Ben")
    outsider = await dispatcher(client, role=Role.EXTERNAL, name="Partner Oy")
    receipt = await submit(anna.http, anna.base, "viewers-1", phone="040 666 0001")
    request_id = receipt["id"]
    watching = await _presence_console(ben)

    status, body = await _view(anna, request_id)
    assert status == 200 and [v["name"] for v in body["viewers"]] == ["Anna"]
    [seen] = await _viewers_frame(watching, request_id)
    assert (seen["name"], seen["typing"]) == ("Anna", False)

    assert (await _view(ben, request_id))[0] == 200
    assert [v["name"] for v in await _viewers_frame(watching, request_id)] == ["Anna", "Ben"]
    assert (await _view(anna, request_id, typing=True))[0] == 200
    frame = await _viewers_frame(watching, request_id)
    assert {v["name"]: v["typing"] for v in frame} == {"Anna": True, "Ben": False}

    assert (await _view(anna, request_id, method="DELETE"))[0] == 200
    assert [v["name"] for v in await _viewers_frame(watching, request_id)] == ["Ben"]

    status, body = await _view(outsider, request_id)
    assert status == 404, body
    status, body = await _view(anna, request_id, typing="yes")  # type: ignore[arg-type]
    assert status == 422 and "typing" in body["error"]
