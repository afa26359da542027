"""A store outage mid-conversation closes the chat socket with 1011 and `chat_interrupted`,
and the conversation carries on after it: nothing acknowledged is lost or stored twice.

The fault is real: the hub's Redis is a redis-server of the test's own (durable, by URL),
killed while the passenger's widget is open in two tabs, and started again on the same data,
as a supervisor would. The hub meets the outage on both of its ways to 1011: the tab that
writes while storing the message (the socket's own handler), the idle tab at its periodic
slot refresh (a loop beside the handler, closing a socket the handler is reading). The
`websockets` library is the widget, independent of the hub's aiohttp.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any

import pytest
import websockets
from aiohttp.test_utils import TestClient
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Origin

from hub.settings import RedisSettings, Secret, Settings
from tests.chat_site import ORIGIN, chat_settings
from tests.conftest import HubFactory, server_url
from tests.helpers import WAIT_S, eventually
from tests.hub.test_redis_outage import restartable_redis  # noqa: F401  (a fixture)

RECOVERY_S = 20.0
BEAT_S = 0.5  # the idle tab's slot refresh; 20 s in service


def _url(client: TestClient[Any, Any]) -> str:
    return server_url(client).replace("http://", "ws://") + "/chat/ws"


async def _widget(client: TestClient[Any, Any], token: str | None = None
                  ) -> tuple[ClientConnection, dict[str, Any]]:
    """A socket past hello; its welcome."""
    ws = await websockets.connect(_url(client), origin=Origin(ORIGIN))
    await ws.send(json.dumps({"type": "hello", "token": token, "last_seen": None,
                              "lang": "fi"}))
    welcome: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), WAIT_S))
    assert welcome["type"] == "welcome", welcome
    return ws, welcome


async def _frame(ws: ClientConnection, kind: str) -> dict[str, Any]:
    while True:
        frame: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), WAIT_S))
        if frame["type"] == kind:
            return frame


async def _say(ws: ClientConnection, client_id: str, text: str) -> dict[str, Any]:
    """Send a message; its ack."""
    await ws.send(json.dumps({"type": "message", "id": client_id, "text": text}))
    ack = await _frame(ws, "ack")
    assert ack["id"] == client_id, ack
    return ack


async def _closed(ws: ClientConnection) -> tuple[int | None, str | None]:
    """Read until the hub closes the socket: (close code, close reason)."""
    with pytest.raises(ConnectionClosed):
        while True:
            await asyncio.wait_for(ws.recv(), WAIT_S)
    return ws.close_code, ws.close_reason


async def test_a_redis_outage_mid_conversation_closes_with_1011_and_loses_nothing(
    # Redis first: stopped after the hub, which would wait for it at its close.
    restartable_redis: Any,  # noqa: F811  (the fixture imported above)
    hub: HubFactory, settings: Settings, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("channels.chat.session.BEAT_S", BEAT_S)
    port, start_redis, stop_redis = restartable_redis
    client = await hub(chat_settings(dataclasses.replace(
        settings, redis=RedisSettings(url=Secret(f"redis://127.0.0.1:{port}/0"),
                                      prefix=settings.redis.prefix))))
    writer, welcome = await _widget(client)
    token = welcome["token"]
    idle, _ = await _widget(client, token)  # the passenger's other tab, silent
    first = await _say(writer, "before-fault", "Taksi Kamppiin")
    # Frames are handled in order: the pong says the message's handling is over.
    await writer.send(json.dumps({"type": "ping"}))
    await _frame(writer, "pong")

    stop_redis()
    # Sent before the hub runs again (one event loop): it meets the outage while storing.
    await writer.send(json.dumps({"type": "message", "id": "during-fault",
                                  "text": "Kaksi matkustajaa"}))
    assert await _closed(writer) == (1011, "chat_interrupted")
    assert await _closed(idle) == (1011, "chat_interrupted")

    start_redis()

    async def reconnect() -> tuple[ClientConnection, dict[str, Any]] | None:
        try:
            return await _widget(client, token)
        except InvalidStatus:
            return None  # 503 chat_unavailable until the hub reaches Redis again

    again, welcome = await eventually(reconnect, wait_s=RECOVERY_S, what="a reconnect")
    assert [m["id"] for m in welcome["messages"]] == [first["message_id"]]
    # The widget resends what it is unsure of: the acknowledged one is not stored again.
    assert (await _say(again, "before-fault", "Taksi Kamppiin"))["message_id"] \
        == first["message_id"]
    second = await _say(again, "during-fault", "Kaksi matkustajaa")
    await again.close()

    # What the database holds for the passenger (the lines a console shows): each once.
    last, welcome = await _widget(client, token)
    assert [(m["id"], m["text"]) for m in welcome["messages"]] == [
        (first["message_id"], "Taksi Kamppiin"), (second["message_id"], "Kaksi matkustajaa")]
    await last.close()
