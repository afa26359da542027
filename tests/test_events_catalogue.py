"""The event catalogue (hub/events.py) is the truth about every frame and console event.

Statically: every event type or frame type the source names is catalogued, and every
catalogued type is emitted somewhere. Live: a hub driven through its public interfaces (form
posts, console actions over HTTP, CTI webhooks, a chat widget) sends frames and events that
each fit their catalogue struct, and the AsyncAPI document generated from it.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import dataclasses
import json
import re
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import aiohttp
import jsonschema
import msgspec
from aiohttp.test_utils import TestClient
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from hub import events
from hub.events import EventType
from hub.model import HandlingAction, Role
from hub.settings import (
    ChannelsSettings,
    PhoneSettings,
    Secret,
    Settings,
    WebhookEndpoint,
    WebhooksSettings,
)
from hub.webhook_body import WebhookEventType
from tests.chat_site import ORIGIN, chat_settings
from tests.conftest import DispatcherFactory, HubFactory, free_port, server_url
from tests.helpers import eventually, http_session, order

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [p for package in ("hub", "dispatch", "channels")
           for p in sorted((ROOT / package).rglob("*.py"))]
CTI_SECRET = "cti-catalogue-secret"
EVENT_NAME = re.compile(r"^(request|call|message|chat|notice|presence)\.[a-z_]+$")
# `"type":"x"` inside a frame written as text (dispatch/feed.py, dispatch/console_ws.py).
# The catalogue and the documents made of schemas, where "type" is JSON Schema's.
DOCUMENTS = {"events.py", "asyncapi.py", "openapi.py", "openapi_audit.py", "openapi_groups.py",
             "openapi_lanes.py", "openapi_notices.py", "openapi_templates.py",
             "openapi_webhooks.py", "callback_openapi.py", "records.py", "openapi_subject.py",
             "reports_openapi.py"}
FILES = (".js", ".css", ".html", ".json", ".py")
TEXT_FRAME = re.compile(r'"type":\s*"([a-z_.]+)"')

# Types driven live on a hub of their own, with what they need (an offer lane, a staff group
# and a local SMS gateway, a PBX's recording server, automatic chat answers, a short events
# stream, a widget speaking through the `websockets` library): tests/test_events_catalogue_rest.py.
DRIVEN_ELSEWHERE = {
    EventType.REQUEST_OFFER, EventType.REQUEST_OFFER_TIMEOUT, EventType.REQUEST_DECLINE,
    EventType.REQUEST_GROUP_MESSAGE, EventType.CALL_RECORDING, EventType.REQUEST_AUTO_ANSWER,
    "console:resync", "chat:nack", "chat:availability", "chat:typing",
}
# Types no live test here brings about, each with its reason.
NOT_DRIVEN = {
    # An alert needs a channel down (a real Dovecot refusing the login) or quiet past its
    # window (a restarted hub with its clock moved): tests/hub/test_channel_alerts.py drives
    # both and checks each `channel.alert` against this catalogue (events.check).
    EventType.CHANNEL_ALERT,
}


# ---- static ---------------------------------------------------------------------------------


def _named_types() -> dict[str, set[str]]:
    """Per source file, the event and frame types it names: `"type": "<x>"` in a dict,
    `EventType.X` / `ConsoleFrameType.X` / `ChatFrameType.X`, `"type":"x"` in frames written
    as text, and `request.<action>` for the handling actions an f-string emits."""
    constants = {"EventType": events.EventType, "ConsoleFrameType": events.ConsoleFrameType,
                 "ChatFrameType": events.ChatFrameType}
    found: dict[str, set[str]] = {}
    for path in SOURCES:
        if path.name in DOCUMENTS:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        named: set[str] = set()
        f_string_events = False
        for node in ast.walk(tree):
            if isinstance(node, ast.Dict):
                for key, value in zip(node.keys, node.values, strict=True):
                    if isinstance(key, ast.Constant) and key.value == "type":
                        if isinstance(value, ast.Constant) and isinstance(value.value, str):
                            named.add(value.value)
                        if isinstance(value, ast.JoinedStr):
                            f_string_events = True
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                    and node.value.id in constants:
                named.add(constants[node.value.id][node.attr].value)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                if EVENT_NAME.match(node.value) and not node.value.endswith(FILES):
                    named.add(node.value)
                named.update(TEXT_FRAME.findall(node.value))
            elif isinstance(node, ast.Call) and getattr(node.func, "id", None) \
                    == "handling_event":
                f_string_events = True
        if f_string_events:
            for node in ast.walk(tree):
                if isinstance(node, ast.Attribute) and getattr(node.value, "id", None) \
                        == "HandlingAction":
                    action = HandlingAction[node.attr]
                    with contextlib.suppress(ValueError):
                        named.add(events.handling_event(action).value)
        if named:
            found[str(path.relative_to(ROOT))] = named
    return found


# Strings in "type" positions that are no console event or frame: an attachment's MIME type,
# Vonage's message type, Redis pub/sub message kinds, audit actions.
NOT_EVENTS = {"binary", "invalid", "unicode", "message", "pmessage", "psubscribe"}
AUDIT = re.compile(r"^(agent|group|notice|lane|contact)\.[a-z]+$")
# The outbound webhooks' event types: a catalogue of their own (hub.webhook_body), sent to
# the company's systems, never to a console.
WEBHOOK_EVENTS = {t.value for t in WebhookEventType}


def test_every_type_named_in_the_source_is_catalogued() -> None:
    catalogued = (set(events.EVENTS) | set(events.CONSOLE_SERVER_FRAMES)
                  | set(events.CHAT_SERVER_FRAMES) | set(events.CHAT_CLIENT_FRAMES)
                  | {events.ConsoleFrameType.PING.value})
    unknown = {
        (path, name) for path, names in _named_types().items() for name in names
        if name not in catalogued and name not in NOT_EVENTS and name not in WEBHOOK_EVENTS
        and not (AUDIT.match(name) and name not in events.EVENTS)
    }
    assert unknown == set(), "emitted but not in hub/events.py"


def test_every_catalogued_event_is_emitted_somewhere() -> None:
    named = set().union(*_named_types().values())
    assert set(events.EVENTS) - named == set(), "catalogued but emitted nowhere"
    served = set(events.CONSOLE_SERVER_FRAMES) | set(events.CHAT_SERVER_FRAMES)
    assert served - named == set(), "a frame catalogued but sent nowhere"


def test_the_catalogue_declares_each_type_once() -> None:
    assert set(events.EVENTS) == {t.value for t in EventType}
    assert len(events.EVENTS) == len(EventType)


# ---- live -----------------------------------------------------------------------------------


@dataclasses.dataclass
class Recorder:
    """Every text frame of one websocket, as received (an aiohttp client's, or a
    `websockets` one's)."""

    ws: aiohttp.ClientWebSocketResponse | ClientConnection
    frames: list[str] = dataclasses.field(default_factory=list)
    task: asyncio.Task[None] | None = None

    def start(self) -> Recorder:
        async def read() -> None:
            with contextlib.suppress(ConnectionClosed):  # a `websockets` socket closed badly
                await self._read()
        self.task = asyncio.create_task(read())
        return self

    async def _read(self) -> None:
        async for message in self.ws:
            if isinstance(message, str):
                self.frames.append(message)
            elif not isinstance(message, bytes) and message.type == aiohttp.WSMsgType.TEXT:
                self.frames.append(message.data)

    def decoded(self) -> list[dict[str, Any]]:
        return [json.loads(text) for text in self.frames]

    def events(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for frame in self.decoded():
            if frame["type"] == "events":
                found += frame["events"]
            elif frame["type"] == "presence":
                found.append(frame["event"])
        return found

    async def until(self, done: Callable[[dict[str, Any]], bool], what: str) -> dict[str, Any]:
        async def probe() -> dict[str, Any] | None:
            return next((e for e in self.events() + self.decoded() if done(e)), None)
        return await eventually(probe, what=what)

    async def close(self) -> None:
        await self.ws.close()
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task


async def _json(http: aiohttp.ClientSession, method: str, url: str,
                body: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    async with http.request(method, url, json=body, **kwargs) as resp:
        assert resp.status < 300, (method, url, resp.status, await resp.text())
        return await resp.json()


async def test_every_frame_and_event_sent_fits_the_catalogue(
    hub: HubFactory, settings: Settings, dispatcher: DispatcherFactory
) -> None:
    client = await hub(dataclasses.replace(
        chat_settings(settings),
        channels=ChannelsSettings(enabled=("webform", "chat", "phone_cti")),
        phone=PhoneSettings(cti_secret=Secret(CTI_SECRET)),
        # Somewhere to send an order to (nothing listens: the order is sent all the same).
        webhooks=WebhooksSettings(endpoints=(WebhookEndpoint(
            name="dispatch", url=f"http://127.0.0.1:{free_port()}/hooks",
            secret=Secret("whsec-catalogue"), events=("order.ready",)),))))
    base = server_url(client)
    anna = await dispatcher(client, name="Anna Ajaja")
    ville = await dispatcher(client, role=Role.TEAM, name="Ville Välittäjä")
    ws = await anna.http.ws_connect(f"{base}/api/v1/console/ws",
                                    protocols=("taxiconnect.presence",))
    console = Recorder(ws).start()
    api = f"{base}/api/v1"

    async def seen(kind: str, **match: Any) -> dict[str, Any]:
        return await console.until(lambda e: e.get("type") == kind and all(
            e.get(k) == v for k, v in match.items()), kind)

    async with http_session() as passenger:
        # The web form: a new request, then a second message threading into it.
        first = await _json(passenger, "POST", f"{api}/contact-requests", order("tok-cat-1"))
        await seen("request.queued")
        await _json(passenger, "POST", f"{api}/contact-requests",
                    order("tok-cat-2", message="Ja kaksi matkustajaa"))
        await seen("request.message")
        request = f"{api}/requests/{first['id']}"

        # The console's actions, and who views it.
        await _json(anna.http, "PUT", f"{request}/viewers/me", {"typing": True})
        await seen("request.viewers")
        await _json(anna.http, "POST", f"{request}/claim")
        await _json(anna.http, "POST", f"{request}/notes", {"text": "Soittaa takaisin"})
        await _json(anna.http, "POST", f"{request}/transfer", {"agent_id": str(ville.agent.id)})
        await _json(ville.http, "POST", f"{request}/release")
        await _json(anna.http, "POST", f"{request}/resolve")
        await _json(anna.http, "POST", f"{request}/reopen")
        for kind in ("claim", "note", "transfer", "release", "resolve", "reopen"):
            await seen(f"request.{kind}")

        # An order sent on to the company's dispatch system.
        ordered = await _json(passenger, "POST", f"{api}/contact-requests", order(
            "tok-cat-order", phone="040 333 4444", pickup_address="Kampinkuja 2",
            pickup_time="2026-12-24T18:00:00+02:00"))
        await _json(anna.http, "POST", f"{api}/requests/{ordered['id']}/order")
        await seen("request.order")

        # Passengers renamed and merged.
        contact_id = (await anna.request(first["id"]))["contact"]["id"]
        await _json(anna.http, "PATCH", f"{api}/contacts/{contact_id}", {"name": "Aino V."})
        await seen("request.passenger_renamed")
        other = await _json(passenger, "POST", f"{api}/contact-requests",
                            order("tok-cat-3", phone="040 111 2222", name="Toinen"))
        other_contact = (await anna.request(other["id"]))["contact"]["id"]
        await _json(anna.http, "POST", f"{api}/contacts/{other_contact}/merge",
                    {"into": contact_id})
        await seen("request.passenger_merged")

        # A service notice, published and ended.
        notice = await _json(anna.http, "POST", f"{api}/notices",
                             {"text_fi": "Myrsky", "text_en": "Storm", "channels": ["chat"]})
        await _json(anna.http, "POST", f"{api}/notices/{notice['notice']['id']}/end")
        await seen("notice.published")
        await seen("notice.ended")

        # Calls over generic CTI: answered and ended; missed, called back.
        cti = {"X-CTI-Token": CTI_SECRET}
        call = {"from": "0409998888", "to": "0912345678", "direction": "in",
                "callId": "1700000000.1"}
        for step in ({"event": "newCall"}, {"event": "answer", "user": "Anna Ajaja"},
                     {"event": "hangup", "cause": "normalClearing"}):
            await _json(passenger, "POST", f"{base}/webhooks/phone/cti", {**call, **step},
                        headers=cti)
        await seen("call.ringing")
        await seen("call.answered")
        await seen("call.ended")
        missed = {**call, "from": "0405554444", "callId": "1700000000.2"}
        for step in ({"event": "newCall"}, {"event": "hangup", "cause": "noAnswer"}):
            await _json(passenger, "POST", f"{base}/webhooks/phone/cti", {**missed, **step},
                        headers=cti)
        callback = (await seen("request.callback"))["request"]["id"]
        await _json(anna.http, "POST", f"{api}/requests/{callback}/call")
        await _json(anna.http, "POST", f"{api}/requests/{callback}/callback-outcome",
                    {"outcome": "reached"})
        await seen("request.callback_call")
        await seen("request.callback_outcome")

        # A chat: hello, prechat, a message, typing, a reply, ping, close.
        chat_ws = await passenger.ws_connect(f"{base}/chat/ws", origin=ORIGIN)
        widget = Recorder(chat_ws).start()
        await chat_ws.send_json({"type": "hello", "token": None, "last_seen": None,
                                 "lang": "fi"})
        await widget.until(lambda f: f["type"] == "welcome", "welcome")
        await chat_ws.send_json({"type": "prechat", "name": "Chat Matkustaja",
                                 "phone": "not a phone"})
        await widget.until(lambda f: f["type"] == "prechat", "prechat answer")
        await chat_ws.send_json({"type": "message", "id": uuid.uuid4().hex,
                                 "text": "Taksi asemalle"})
        await widget.until(lambda f: f["type"] == "ack", "ack")
        await widget.until(lambda f: f["type"] == "queue", "queue place")
        await chat_ws.send_json({"type": "typing", "on": True})
        chat_request = (await seen("chat.typing"))["request"]["id"]
        status, _ = await anna.reply(chat_request, "Taksi tulossa", "cat-reply-1")
        assert status == 201
        await seen("request.reply")
        line = await widget.until(lambda f: f["type"] == "message", "the reply")
        await chat_ws.send_json({"type": "seen", "message_id": line["id"]})
        await seen("message.delivery")
        await chat_ws.send_json({"type": "ping"})
        await widget.until(lambda f: f["type"] == "pong", "pong")
        await chat_ws.send_json({"type": "close"})
        await widget.until(lambda f: f["type"] == "closed", "closed")
        await seen("chat.closed")
        await _json(anna.http, "PUT", f"{api}/me/presence", {"state": "busy"})
        await seen("presence.changed")
        # The register's erasure: the form passenger's reopened request goes nameless.
        admin = await dispatcher(client, role=Role.ADMIN)
        await _json(admin.http, "POST", f"{api}/admin/subject/erase",
                    {"phone": order("")["phone"]})
        erased = await seen("request.passenger_erased")
        assert erased["request"]["contact"]["phones"] == []
        await chat_ws.send_str('{"type":"ping"}')  # and the console's own ping
        await ws.send_str('{"type":"ping"}')
        await console.until(lambda f: f["type"] == "pong", "console pong")
        await widget.close()
    await console.close()

    sent = await fitting(client, [console], [widget])
    expected = (set(events.EVENTS)
                | {f"console:{t}" for t in events.CONSOLE_SERVER_FRAMES}
                | {f"chat:{t}" for t in events.CHAT_SERVER_FRAMES})
    assert expected - sent - DRIVEN_ELSEWHERE - NOT_DRIVEN == set(), \
        "catalogued but not seen: drive them here"


async def fitting(client: TestClient[Any, Any], consoles: Sequence[Recorder],
                  widgets: Sequence[Recorder]) -> set[str]:
    """Every frame the consoles and the widgets received fits its catalogue struct and the
    AsyncAPI document's schema as served; returns the event types and the frame kinds
    (`console:<type>`, `chat:<type>`) seen."""
    async with client.get("/api/asyncapi.json") as resp:
        document = await resp.json()
    registry = {"components": {"schemas": document["components"]["schemas"]}}

    def fits(schema_name: str, frame: dict[str, Any]) -> None:
        jsonschema.validate(frame, {**registry, "$ref": f"#/components/schemas/{schema_name}"})

    sent: set[str] = set()
    served: list[tuple[Literal["console", "chat"], Sequence[Recorder],
                       dict[str, type[msgspec.Struct]]]] = [
        ("console", consoles, events.CONSOLE_SERVER_FRAMES),
        ("chat", widgets, events.CHAT_SERVER_FRAMES)]
    for kind, recorders, catalogued in served:
        for recorder in recorders:
            for text in recorder.frames:
                events.check(kind, text)
                frame = json.loads(text)
                fits(catalogued[frame["type"]].__name__, frame)
                sent.add(f"{kind}:{frame['type']}")
    for console in consoles:
        for event in console.events():
            fits(events.EVENTS[event["type"]].__name__, event)
            sent.add(event["type"])
    return sent


def test_a_frame_that_does_not_fit_is_refused() -> None:
    good = {"type": "hello", "last_event_id": "0-0"}
    events.check("console", json.dumps(good))
    for bad in ({**good, "extra": 1}, {"type": "hello"}, {"type": "nonsense"},
                {"type": "events", "events": [{"type": "request.queued", "id": "1-0"}]}):
        try:
            events.check("console", json.dumps(bad))
        except msgspec.ValidationError:
            continue
        raise AssertionError(f"accepted {bad}")
