"""The chat socket refuses by code: each close path's close code with its stable code as the
reason, the upgrade's refusals as the hub's error body, and the error frames' code and params.

The `websockets` library is the client here, independent of the hub's own aiohttp: what it
reads is what any widget or API client reads off the wire.
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

from hub.settings import HttpSettings, Settings
from tests.chat_site import ORIGIN, chat_settings
from tests.conftest import HubFactory, server_url
from tests.helpers import WAIT_S

HELLO = {"type": "hello", "token": None, "last_seen": None, "lang": "sv"}


def _url(client: TestClient[Any, Any]) -> str:
    return server_url(client).replace("http://", "ws://") + "/chat/ws"


async def _widget(client: TestClient[Any, Any]) -> ClientConnection:
    """A socket past hello and welcome."""
    ws = await websockets.connect(_url(client), origin=Origin(ORIGIN))
    await ws.send(json.dumps(HELLO))
    welcome = json.loads(await asyncio.wait_for(ws.recv(), WAIT_S))
    assert welcome["type"] == "welcome", welcome
    return ws


async def _closed(ws: ClientConnection) -> tuple[int | None, str | None]:
    """Read until the hub closes the socket: (close code, close reason)."""
    with pytest.raises(ConnectionClosed):
        while True:
            await asyncio.wait_for(ws.recv(), WAIT_S)
    return ws.close_code, ws.close_reason


async def _frame(ws: ClientConnection, kind: str) -> dict[str, Any]:
    while True:
        frame: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), WAIT_S))
        if frame["type"] == kind:
            return frame


REFUSED = [  # (what the widget sends after hello, the close code, the close reason)
    (b"\x00\x01", 1003, "chat_frame_not_text"),
    ("not json", 4400, "chat_frame_not_object"),
    ('{"type": "shout"}', 4400, "chat_frame_unknown"),
    ('{"type": "typing", "on": "yes"}', 4400, "chat_frame_invalid"),
    (json.dumps(HELLO), 4400, "chat_hello_twice"),
    (json.dumps({"type": "message", "id": "abcdefgh", "text": "x" * 11}), 1009,
     "chat_message_too_long"),
]


async def test_every_refused_frame_and_a_missing_hello_close_with_their_codes(
    hub: HubFactory, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("channels.chat.session.HELLO_TIMEOUT_S", 0.3)
    client = await hub(chat_settings(settings, max_message_chars=10))
    for frame, code, reason in REFUSED:
        ws = await _widget(client)
        await ws.send(frame)
        assert await _closed(ws) == (code, reason), frame
    ws = await websockets.connect(_url(client), origin=Origin(ORIGIN))
    await ws.send(json.dumps({"type": "ping"}))
    assert await _closed(ws) == (4400, "chat_hello_first")
    silent = await websockets.connect(_url(client), origin=Origin(ORIGIN))
    assert await _closed(silent) == (4408, "chat_hello_late")


async def test_floods_of_frames_and_of_messages_close_with_4429_and_their_codes(
    hub: HubFactory, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("channels.chat.session.FRAMES_PER_MINUTE", 3)
    client = await hub(chat_settings(settings, messages_per_minute=1))
    ws = await _widget(client)
    for _ in range(4):
        await ws.send(json.dumps({"type": "ping"}))
    assert await _closed(ws) == (4429, "chat_frames_too_many")
    ws = await _widget(client)
    for n in range(2):
        await ws.send(json.dumps({"type": "message", "id": f"flood-{n:04}", "text": "Taksi"}))
    await _frame(ws, "ack")
    assert await _closed(ws) == (4429, "chat_messages_too_many")


async def test_a_stopping_hub_closes_with_1001_and_its_code(
    hub: HubFactory, settings: Settings
) -> None:
    client = await hub(chat_settings(settings))
    ws = await _widget(client)
    await client.close()
    assert await _closed(ws) == (1001, "hub_stopping")


async def test_the_upgrade_refusals_answer_the_error_body_with_their_codes(
    hub: HubFactory, settings: Settings
) -> None:
    client = await hub(chat_settings(settings, connections_per_address=1))
    with pytest.raises(InvalidStatus) as refused:
        await websockets.connect(_url(client), origin=Origin("https://evil.example"))
    response = refused.value.response
    assert response.status_code == 403
    assert json.loads(response.body) == {"error": "origin not allowed",
                                         "code": "origin_not_allowed", "params": {}}
    first = await _widget(client)
    with pytest.raises(InvalidStatus) as refused:
        await websockets.connect(_url(client), origin=Origin(ORIGIN))
    response = refused.value.response
    assert (response.status_code, response.headers["Retry-After"]) == (429, "30")
    assert json.loads(response.body)["code"] == "chat_connections_too_many"
    await first.close()

    # Loopback is never counted by the handshake gate: the address comes through a proxy.
    gated = await hub(dataclasses.replace(
        chat_settings(settings, handshakes_per_address_per_minute=1),
        http=HttpSettings(trusted_proxies=("127.0.0.1",))))
    proxied = {"X-Forwarded-For": "203.0.113.8"}
    await (await websockets.connect(_url(gated), origin=Origin(ORIGIN),
                                    additional_headers=proxied)).close()
    with pytest.raises(InvalidStatus) as refused:
        await websockets.connect(_url(gated), origin=Origin(ORIGIN), additional_headers=proxied)
    response = refused.value.response
    assert response.status_code == 429 and int(response.headers["Retry-After"]) >= 1
    body = json.loads(response.body)
    assert (body["code"], body["params"]) == ("chat_handshakes_too_many", {})


async def test_error_frames_carry_a_code_and_params(
    hub: HubFactory, settings: Settings
) -> None:
    client = await hub(chat_settings(settings))
    ws = await _widget(client)
    await ws.send(json.dumps({"type": "prechat", "phone": "not a number"}))
    prechat = await _frame(ws, "prechat")
    assert (prechat["ok"], prechat["fields"]) == (False, {"phone": "invalid"})
    assert (prechat["code"], prechat["params"]) == ("check_fields", {})
    # A character no store keeps: refused for good, by code.
    await ws.send(json.dumps({"type": "message", "id": "nul-0001", "text": "Taksi\x00"}))
    nack = await _frame(ws, "nack")
    assert (nack["id"], nack["retry"]) == ("nul-0001", False)
    assert (nack["code"], nack["params"]) == ("message_unstorable", {})
    await ws.close()

