"""The chat widget's websocket through its public interface (aiohttp's websocket client as the
widget): the handshake's origin and connection limits, the visitor token, idempotent
messages acknowledged only once stored, and the size and rate limits' close codes."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from channels.chat.token import issue
from hub import catalogue
from hub.settings import AnswersSettings, ChannelsSettings, Settings
from tests.chat_site import ORIGIN, SECRET, Widget, chat_settings, open_widget
from tests.conftest import DispatcherFactory, HubFactory, server_url
from tests.helpers import Dispatcher, eventually, http_session


@pytest.fixture
async def passenger() -> AsyncIterator[aiohttp.ClientSession]:
    async with http_session() as http:
        yield http


async def _start(hub: HubFactory, settings: Settings, dispatcher: DispatcherFactory,
                 **chat: Any) -> tuple[TestClient[Any, Any], Dispatcher]:
    """A hub with chat and a dispatcher whose console is open (so chat is available)."""
    client = await hub(chat_settings(settings, **chat))
    agent = await dispatcher(client, name="Aino Välittäjä")
    await agent.console()
    return client, agent


async def _request_of(agent: Dispatcher) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        found = await agent.open_requests()
        return found[0] if found else None
    summary = await eventually(probe, what="the chat request")
    return await agent.request(summary["id"])


async def test_a_foreign_origin_is_refused_at_the_handshake(
    hub: HubFactory, settings: Settings, dispatcher: DispatcherFactory,
    passenger: aiohttp.ClientSession
) -> None:
    client, _ = await _start(hub, settings, dispatcher)
    base = server_url(client)
    for origin in ("https://evil.example", "https://www.taksi.example.evil.example",
                   "http://www.taksi.example", None):
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await passenger.ws_connect(f"{base}/chat/ws", origin=origin)
        assert refused.value.status == 403, origin
    widget = await open_widget(passenger, base, ORIGIN)  # the allowed one gets through
    assert widget.welcome["available"] is True
    await widget.close()


async def test_connections_per_address_are_limited_at_the_handshake(
    hub: HubFactory, settings: Settings, dispatcher: DispatcherFactory,
    passenger: aiohttp.ClientSession
) -> None:
    client, _ = await _start(hub, settings, dispatcher, connections_per_address=2)
    base = server_url(client)
    first = await open_widget(passenger, base, ORIGIN)
    second = await open_widget(passenger, base, ORIGIN)
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await passenger.ws_connect(f"{base}/chat/ws", origin=ORIGIN)
    assert refused.value.status == 429
    await first.close()

    async def probe() -> Widget | None:
        try:
            return await open_widget(passenger, base, ORIGIN)
        except aiohttp.WSServerHandshakeError:
            return None
    third = await eventually(probe, what="a slot freed by the closed socket")
    await asyncio.gather(second.close(), third.close())


async def test_the_token_keeps_the_conversation_across_reconnects(
    hub: HubFactory, settings: Settings, dispatcher: DispatcherFactory,
    passenger: aiohttp.ClientSession
) -> None:
    client, agent = await _start(hub, settings, dispatcher)
    base = server_url(client)
    widget = await open_widget(passenger, base, ORIGIN)
    token = widget.token
    assert token.startswith("v1.") and widget.welcome["messages"] == []
    await widget.say("Tarvitsen taksin Kamppiin")
    first = await widget.next("ack")
    await widget.close()

    again = await open_widget(passenger, base, ORIGIN, token=token)
    assert again.token == token  # young tokens are not re-issued
    assert [m["text"] for m in again.welcome["messages"]] == ["Tarvitsen taksin Kamppiin"]
    assert again.welcome["messages"][0]["id"] == first["message_id"]
    await again.say("Kaksi matkustajaa")
    await again.next("ack")
    await again.close()
    requests = await agent.open_requests()
    assert len(requests) == 1  # the same request
    detail = await agent.request(requests[0]["id"])
    assert [m["body"] for m in detail["messages"]] == ["Tarvitsen taksin Kamppiin",
                                                        "Kaksi matkustajaa"]
    assert detail["channel"] == "chat"

    # Someone else's visitor id under a forged or expired token: a new conversation.
    visitor = token.split(".")[1]
    for bad in (token[:-2] + "xx", issue("another secret", visitor, now=0, days=1),
                issue(SECRET, visitor, now=0, days=1), "nonsense", ""):
        stranger = await open_widget(passenger, base, ORIGIN, token=bad)
        assert stranger.token != token and stranger.token.split(".")[1] != visitor
        assert stranger.welcome["messages"] == []
        await stranger.close()


async def test_a_message_resent_after_a_drop_is_stored_once_and_acked_twice(
    hub: HubFactory, settings: Settings, dispatcher: DispatcherFactory,
    passenger: aiohttp.ClientSession
) -> None:
    client, agent = await _start(hub, settings, dispatcher)
    base = server_url(client)
    widget = await open_widget(passenger, base, ORIGIN)
    client_id = await widget.say("Taksi Pasilaan heti")
    first = await widget.next("ack")
    await widget.close()  # the network drops; the widget is unsure what arrived

    again = await open_widget(passenger, base, ORIGIN, token=widget.token)
    await again.say("Taksi Pasilaan heti", client_id)
    second = await again.next("ack")
    assert first["id"] == second["id"] == client_id
    assert first["message_id"] == second["message_id"]
    # Lost before the ack: sent, and the socket gone before any answer came.
    lost = await again.say("Ja lastenistuin")
    await again.close()
    third = await open_widget(passenger, base, ORIGIN, token=widget.token)
    await third.say("Ja lastenistuin", lost)
    ack = await third.next("ack")
    assert ack["id"] == lost
    await third.close()

    detail = await _request_of(agent)
    bodies = [m["body"] for m in detail["messages"]]
    assert bodies == ["Taksi Pasilaan heti", "Ja lastenistuin"]
    assert detail["messages"][1]["id"] == ack["message_id"]


async def test_the_ack_comes_only_once_the_message_is_stored(
    hub: HubFactory, settings: Settings, dispatcher: DispatcherFactory,
    passenger: aiohttp.ClientSession
) -> None:
    client, agent = await _start(hub, settings, dispatcher)
    widget = await open_widget(passenger, server_url(client), ORIGIN)
    await widget.send({"type": "prechat", "name": "Ville Chat", "phone": "040 765 4321",
                       "pickup_address": "Mannerheimintie 5", "pickup_time": "18:30"})
    assert (await widget.next("prechat")) == {"type": "prechat", "ok": True, "fields": {}}
    for n in range(3):
        await widget.say(f"Viesti {n}")
        ack = await widget.next("ack")
        # Read the moment the ack arrives: it must be there already.
        requests = await agent.open_requests()
        assert requests, "acked before the request was stored"
        detail = await agent.request(requests[0]["id"])
        assert ack["message_id"] in [m["id"] for m in detail["messages"]]
    assert detail["contact"]["name"] == "Ville Chat"
    assert detail["contact"]["phones"] == ["+358407654321"]
    assert detail["details"]["pickup_address"] == "Mannerheimintie 5"
    assert "T18:30:00" in detail["details"]["pickup_time"]  # the next 18:30, local time
    assert "callback" not in detail["details"]
    await widget.send({"type": "prechat", "phone": "not a number"})
    assert (await widget.next("prechat"))["fields"] == {"phone": "invalid"}
    await widget.close()


async def test_an_oversized_message_closes_with_1009(
    hub: HubFactory, settings: Settings, dispatcher: DispatcherFactory,
    passenger: aiohttp.ClientSession
) -> None:
    client, agent = await _start(hub, settings, dispatcher, max_message_chars=100)
    base = server_url(client)
    widget = await open_widget(passenger, base, ORIGIN)
    assert widget.welcome["max_chars"] == 100
    await widget.say("ä" * 100)
    await widget.next("ack")
    await widget.say("ä" * 101)
    code, reason = await widget.closed()
    assert (code, reason) == (1009, "chat_message_too_long")
    # A frame far over any message: refused by the websocket layer with the same code.
    widget = await open_widget(passenger, base, ORIGIN)
    await widget.send({"type": "message", "id": str(uuid.uuid4()), "text": "x" * 200_000})
    assert (await widget.closed())[0] == 1009
    assert len((await _request_of(agent))["messages"]) == 1


async def test_a_flood_closes_with_4429(
    hub: HubFactory, settings: Settings, dispatcher: DispatcherFactory,
    passenger: aiohttp.ClientSession
) -> None:
    client, agent = await _start(hub, settings, dispatcher, messages_per_minute=3)
    base = server_url(client)
    widget = await open_widget(passenger, base, ORIGIN)
    for n in range(3):
        await widget.say(f"viesti {n}")
        await widget.next("ack")
    await widget.say("yksi liikaa")
    code, reason = await widget.closed()
    assert (code, reason) == (4429, "chat_messages_too_many")
    # The limit is the visitor's, not the socket's: a new socket is still over it.
    again = await open_widget(passenger, base, ORIGIN, token=widget.token)
    await again.say("vielä yksi")
    assert (await again.closed())[0] == 4429
    assert len((await _request_of(agent))["messages"]) == 3


@pytest.mark.parametrize(("frame", "code", "why"), [
    ("not json", 4400, "chat_frame_not_object"),
    ('{"type": "shout"}', 4400, "chat_frame_unknown"),
    ('{"type": "message", "id": "x", "text": "hi"}', 4400, "chat_frame_invalid"),
    ('{"type": "message", "id": "abcdefgh", "text": "   "}', 4400, "chat_frame_invalid"),
    ('{"type": "seen", "message_id": "not-a-uuid"}', 4400, "chat_frame_invalid"),
    ('{"type": "hello", "token": null}', 4400, "chat_hello_twice"),
    ("[1, 2]", 4400, "chat_frame_not_object"),
])
async def test_malformed_frames_close_with_a_reason(
    hub: HubFactory, settings: Settings, dispatcher: DispatcherFactory,
    passenger: aiohttp.ClientSession, frame: str, code: int, why: str
) -> None:
    client, _ = await _start(hub, settings, dispatcher)
    widget = await open_widget(passenger, server_url(client), ORIGIN)
    await widget.ws.send_str(frame)
    assert await widget.closed() == (code, why)


async def test_binary_frames_and_a_missing_hello_close_the_socket(
    hub: HubFactory, settings: Settings, dispatcher: DispatcherFactory,
    passenger: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("channels.chat.session.HELLO_TIMEOUT_S", 0.3)
    client, _ = await _start(hub, settings, dispatcher)
    base = server_url(client)
    widget = await open_widget(passenger, base, ORIGIN)
    await widget.ws.send_bytes(b"\x00\x01")
    assert (await widget.closed())[0] == 1003
    ws = await passenger.ws_connect(f"{base}/chat/ws", origin=ORIGIN)
    await ws.send_str('{"type": "message", "id": "abcdefgh", "text": "hi"}')
    message = await asyncio.wait_for(ws.receive(), 5)
    assert message.type == aiohttp.WSMsgType.CLOSE and ws.close_code == 4400
    silent = await passenger.ws_connect(f"{base}/chat/ws", origin=ORIGIN)
    message = await asyncio.wait_for(silent.receive(), 5)
    assert message.type == aiohttp.WSMsgType.CLOSE and silent.close_code == 4408


async def test_the_widget_script_is_served_for_any_site(
    hub: HubFactory, settings: Settings, dispatcher: DispatcherFactory,
    passenger: aiohttp.ClientSession
) -> None:
    client, _ = await _start(hub, settings, dispatcher)
    async with passenger.get(f"{server_url(client)}/widget/chat.js",
                             headers={"Origin": "https://anyone.example"}) as resp:
        assert resp.status == 200
        assert resp.content_type == "text/javascript"
        assert resp.headers["Cache-Control"] == "no-cache"
        assert resp.headers["Cross-Origin-Resource-Policy"] == "cross-origin"
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert "/chat/ws" in await resp.text()
        etag = resp.headers["ETag"]
    async with passenger.get(f"{server_url(client)}/widget/chat.js",
                             headers={"If-None-Match": etag}) as resp:
        assert resp.status == 304


async def test_the_widget_words_are_served_from_the_catalogue_for_any_site(
    hub: HubFactory, settings: Settings, dispatcher: DispatcherFactory,
    passenger: aiohttp.ClientSession
) -> None:
    client, _ = await _start(hub, settings, dispatcher)
    url = f"{server_url(client)}/widget/words.json"
    async with passenger.get(url, params={"lang": "sv"},
                             headers={"Origin": "https://anyone.example"}) as resp:
        assert resp.status == 200 and resp.content_type == "application/json"
        assert resp.headers["Access-Control-Allow-Origin"] == "*"
        assert resp.headers["Cross-Origin-Resource-Policy"] == "cross-origin"
        body = await resp.json()
        etag = resp.headers["ETag"]
    assert body["lang"] == "sv"
    assert body["words"] == catalogue.words("sv", "widget")
    assert body["words"]["send"] == "Skicka"
    assert body["words"]["launcher_unread"] == {"one": "Chatt, {n} nytt meddelande",
                                                "other": "Chatt, {n} nya meddelanden"}
    async with passenger.get(url, params={"lang": "sv"},
                             headers={"If-None-Match": etag}) as resp:
        assert resp.status == 304
    async with passenger.get(url, params={"lang": "de"}) as resp:
        assert (await resp.json())["lang"] == "fi"  # unknown: the hub's Finnish


async def test_a_hub_with_only_the_chat_channel_serves_the_widget_words(
    hub: HubFactory, settings: Settings, passenger: aiohttp.ClientSession
) -> None:
    chat_only = chat_settings(settings)
    client = await hub(dataclasses.replace(chat_only,
                                           channels=ChannelsSettings(enabled=("chat",))))
    base = server_url(client)
    async with passenger.get(f"{base}/form") as resp:
        assert resp.status == 404  # no web form on this hub
    async with passenger.get(f"{base}/widget/words.json", params={"lang": "en"}) as resp:
        assert resp.status == 200, await resp.text()
        body = await resp.json()
    # No company.urgent_phone here: the widget asks no one to call.
    assert body == {"lang": "en", "words": catalogue.words("en", "widget"),
                    "urgent_phone": None}
    assert body["words"]["send"] == "Send"


async def test_a_swedish_widget_gets_its_automatic_answer_in_swedish(
    hub: HubFactory, settings: Settings, dispatcher: DispatcherFactory,
    passenger: aiohttp.ClientSession
) -> None:
    acknowledging = dataclasses.replace(settings,
                                        answers=AnswersSettings(acknowledge=("chat",)))
    client, agent = await _start(hub, acknowledging, dispatcher)
    widget = await open_widget(passenger, server_url(client), ORIGIN, lang="sv")
    # Written in Finnish on a Swedish page: the page's language is the passenger's.
    await widget.say("Taksi Kamppiin")
    await widget.next("ack")
    answer = await widget.next("message")
    request = await _request_of(agent)
    assert answer["from"] == "dispatcher"
    assert answer["text"] == (f"Tack för att du kontaktade oss. Ditt referensnummer är "
                              f"{request['reference']}.")
    await widget.close()
