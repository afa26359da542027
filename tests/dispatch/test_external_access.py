"""An external user (a partner company's dispatcher, role `external`) reaches only the requests
assigned to them, through every request-scoped route of the API and through the console
websocket.

The request-scoped routes are read from the application's router with every channel
enabled, so a route added without being listed in ROUTES fails here (and, once listed, is
probed like the others). On each request that is not theirs (waiting, held by a colleague,
resolved, and one that was theirs until they let it go), every route answers 403 or 404,
exactly as it answers for a request that does not exist, and changes nothing. Every
parameterless GET route says nothing of those requests. Their console socket, which asks for
presence frames as the console page does, carries no event about any of them (new, message,
chat typing, reply, delivery, call, recording, note, claim, release, resolve, colleagues'
transfers) and no presence frame (a colleague's presence lists what they hold; who has a
request open names it), live or resumed; nor does a call ringing on a request of theirs
list the passenger's other requests, as the centre's consoles see them. The same routes do
work for them on requests a team dispatcher transferred to them, so none of this passes by
refusing everything.
tests/dispatch/test_external_feed.py keeps the simplest case of the feed.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus, urlencode

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from channels.registry import ADAPTERS
from dispatch.console_ws import PRESENCE_PROTOCOL
from hub.app import create_app
from hub.model import Role
from hub.settings import (
    ChannelsSettings,
    HttpSettings,
    Secret,
    Settings,
    SmsSettings,
    TwilioSettings,
    load_settings,
)
from tests.chat_site import ORIGIN, chat_settings, open_widget
from tests.conftest import DispatcherFactory, HubFactory, free_port
from tests.gateways import FakeTwilio, twilio_signature
from tests.helpers import Dispatcher, eventually, http_session

TOKEN = "twilio-external-access-token"
ACCOUNT = "AC" + "6" * 32
COMPANY = "+358912345678"  # the centre's number: called and texted
CALLER_QUEUED = "+358401110001"  # leaves a voicemail nobody has taken
CALLER_FORMER = "+358401110002"  # leaves a voicemail the partner handles, then lets go
TEXTER = "+358401110003"  # texts; a team dispatcher answers and resolves
AUDIO = b"RIFF" + bytes(range(256)) * 40  # a voicemail's audio, as the media host serves it
PARTNER = "Partner Taxi"

Route = tuple[str, str]  # (method, the route's path as the router has it)
Body = Callable[["Ids", str], dict[str, Any] | None]

# A path parameter naming one of these makes a route request-scoped: a passenger holds
# requests, a recording belongs to one.
REQUEST_SCOPED_PARAMS = frozenset({"request_id", "recording_id", "contact_id"})
# Path parameters that name nothing of a request, and why.
OTHER_PARAMS = {
    "agent_id": "an account in the admin API",
    "canned_id": "a canned reply's text (admins manage them)",
    "key": "a lane of the routing configuration (admins)",
    "rule_id": "a routing rule (admins)",
    "notice_id": "a service notice told to every passenger (dispatchers publish them)",
    "group_id": "a staff group (admins keep them, dispatchers message them)",
    "member_id": "a staff group's member (admins)",
    "template_id": "an automatic answer's template (admins)",
    "message_id": "a message, only ever beside its request_id",
    "sha256": "a mailed file's hash, only ever beside its message's request_id",
    "lang": "the pages' words in a language: the same for everyone, no request in them",
}


@dataclass(frozen=True, slots=True)
class Ids:
    """What fills the path parameters for one request."""

    request: str
    contact: str
    recordings: tuple[str, ...] = ()
    message: str = str(uuid.UUID(int=3))

    def paths(self, template: str) -> list[str]:
        """The route's path for this request: one per recording for a recording's route
        (none when the request has no recording)."""
        filled = (template.replace("{request_id}", self.request)
                  .replace("{contact_id}", self.contact)
                  .replace("{canned_id}", str(uuid.UUID(int=1)))
                  .replace("{message_id}", self.message).replace("{sha256}", "0" * 64))
        if "{recording_id}" in filled:
            return [filled.replace("{recording_id}", r) for r in self.recordings]
        return [filled]


def _none(ids: Ids, partner: str) -> None:
    return None


@dataclass(frozen=True, slots=True)
class Probe:
    """How a request-scoped route is called, and what the external user gets from it on a
    request assigned to them. `lets_go`: the call ends their hold on the request."""

    own: int
    body: Body = _none
    lets_go: bool = False


# Every request-scoped route; test_every_request_scoped_route_is_probed keeps it complete.
ROUTES: dict[Route, Probe] = {
    ("GET", "/api/v1/requests/{request_id}"): Probe(200),
    ("POST", "/api/v1/requests/{request_id}/claim"): Probe(403),  # external users never claim
    ("POST", "/api/v1/requests/{request_id}/release"): Probe(200, lets_go=True),
    ("POST", "/api/v1/requests/{request_id}/resolve"): Probe(200, lets_go=True),
    ("POST", "/api/v1/requests/{request_id}/reopen"): Probe(403),
    # Taking it by transferring it to oneself is the tempting way round.
    ("POST", "/api/v1/requests/{request_id}/transfer"): Probe(
        403, lambda ids, partner: {"agent_id": partner}),
    ("POST", "/api/v1/requests/{request_id}/notes"): Probe(
        200, lambda ids, partner: {"text": "Kuljettaja soittaa asiakkaalle."}),
    ("POST", "/api/v1/requests/{request_id}/replies"): Probe(
        201, lambda ids, partner: {"body": "Auto on tulossa.",
                                   "client_key": str(uuid.uuid4())}),
    ("POST", "/api/v1/requests/{request_id}/typing"): Probe(
        204, lambda ids, partner: {"on": True}),
    # Offers go to the centre's available dispatchers, never to an external user.
    ("POST", "/api/v1/requests/{request_id}/decline"): Probe(403),
    ("POST", "/api/v1/requests/{request_id}/canned-replies/{canned_id}/render"): Probe(
        403, lambda ids, partner: {"eta": "5 min"}),
    # Calling a passenger back (by a tel: link here: the hub has no PBX) and how it went.
    ("POST", "/api/v1/requests/{request_id}/call"): Probe(200),
    ("POST", "/api/v1/requests/{request_id}/callback-outcome"): Probe(
        200, lambda ids, partner: {"outcome": "no_answer", "note": "Ei vastannut."}),
    # "Who else has it open": the partner's view of their own request is told to colleagues.
    ("PUT", "/api/v1/requests/{request_id}/viewers/me"): Probe(
        200, lambda ids, partner: {"typing": True}),
    ("DELETE", "/api/v1/requests/{request_id}/viewers/me"): Probe(200),
    ("GET", "/api/v1/recordings/{recording_id}/audio"): Probe(200),
    # This world has no webhook endpoint taking orders: sending one is refused as such.
    ("POST", "/api/v1/requests/{request_id}/order"): Probe(409),
    ("GET", "/api/v1/requests/{request_id}/order"): Probe(200),
    # This world mails nothing: a hash no message lists (tests/dispatch/test_attachments.py
    # fetches real ones).
    ("GET", "/api/v1/requests/{request_id}/messages/{message_id}/attachments/{sha256}"):
        Probe(404),
    # Uploading a file for a reply: whoever may reply may upload. Past that check, a body
    # that is no multipart is refused as such (tests/dispatch/test_reply_attachments.py
    # uploads real files).
    ("POST", "/api/v1/requests/{request_id}/attachments"): Probe(415),
    # Passenger cards and timelines are the centre's own: external users get none.
    ("GET", "/api/v1/contacts/{contact_id}"): Probe(403),
    ("PATCH", "/api/v1/contacts/{contact_id}"): Probe(
        403, lambda ids, partner: {"name": "Someone Else"}),
    ("GET", "/api/v1/contacts/{contact_id}/timeline"): Probe(403),
    ("POST", "/api/v1/contacts/{contact_id}/merge"): Probe(
        403, lambda ids, partner: {"into": str(uuid.UUID(int=2))}),
}

READ = ("GET", "/api/v1/requests/{request_id}")
REPLIES = ("POST", "/api/v1/requests/{request_id}/replies")
RELEASE = ("POST", "/api/v1/requests/{request_id}/release")
RESOLVE = ("POST", "/api/v1/requests/{request_id}/resolve")

# Queries tried on every parameterless GET route: list filters and searches that must not
# widen an external user's view.
QUERIES = ("", *("?" + urlencode(q) for q in (
    {"status": "queued,claimed,resolved"}, {"status": "queued,claimed,resolved", "mine": "0"},
    {"status": "resolved"}, {"channel": "phone"}, {"channel": "chat"}, {"channel": "sms"},
    {"filter": "unassigned"}, {"filter": "callbacks"}, {"q": TEXTER}, {"q": "040 111 0001"},
    {"q": "Kamppi"}, {"limit": "2000"})))


# ---- the routes ------------------------------------------------------------------------------


def _params(route: web.AbstractRoute) -> set[str]:
    return set(re.findall(r"\{(\w+)", route.resource.canonical if route.resource else ""))


def request_scoped(app: web.Application) -> set[Route]:
    """The app's request-scoped routes. HEAD shares its GET's handler and is not listed;
    a path parameter nobody has classified fails, naming the route."""
    found: set[Route] = set()
    handlers: dict[Route, Any] = {}
    for route in app.router.routes():
        if isinstance(route.resource, web.StaticResource):
            continue  # the console's files
        params = _params(route)
        unknown = params - REQUEST_SCOPED_PARAMS - set(OTHER_PARAMS)
        assert not unknown, (f"{route.method} {route.resource.canonical}: is {unknown} "
                             "request-scoped? Classify it in this test.")
        key = (route.method, route.resource.canonical)
        handlers[key] = route.handler
        if params & REQUEST_SCOPED_PARAMS:
            found.add(key)
    for method, path in list(found):
        if method == "HEAD":
            assert handlers[("GET", path)] == handlers[(method, path)], path
            found.discard((method, path))
    return found


def parameterless_gets(app: web.Application) -> list[str]:
    return sorted({r.resource.canonical for r in app.router.routes()
                   if r.method == "GET" and r.resource is not None
                   and not isinstance(r.resource, web.StaticResource) and not _params(r)})


def _every_channel(settings: Settings) -> Settings:
    return dataclasses.replace(settings, channels=ChannelsSettings(enabled=tuple(ADAPTERS)))


def test_every_request_scoped_route_is_probed(tmp_path: Path) -> None:
    """A route added with a request, recording or passenger in its path fails here until it
    is probed below; one removed must leave ROUTES too."""
    settings = load_settings(None, environ={"TAXICONNECT_DATA_DIR": str(tmp_path)})
    found = request_scoped(create_app(_every_channel(settings)))
    assert found == set(ROUTES), (
        f"not probed: {sorted(found - set(ROUTES))}; gone: {sorted(set(ROUTES) - found)}")


# ---- the world -------------------------------------------------------------------------------


class Media:
    """The host keeping the voicemails' audio (the hub streams it through)."""

    def __init__(self) -> None:
        self.fetches = 0
        self.server: TestServer | None = None

    async def audio(self, request: web.Request) -> web.Response:
        self.fetches += 1
        return web.Response(body=AUDIO, content_type="audio/x-wav")

    def url(self, path: str) -> str:
        assert self.server is not None
        return str(self.server.make_url(path))


@pytest.fixture
async def media() -> AsyncIterator[Media]:
    fake = Media()
    app = web.Application()
    app.router.add_get("/recordings/{sid}", fake.audio)
    fake.server = TestServer(app, host="127.0.0.1")
    await fake.server.start_server()
    yield fake
    await fake.server.close()


class Feed:
    """A console websocket (asking for presence frames, as the console page does), read in
    the background: every frame kept, in order."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.frames: list[dict[str, Any]] = []
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for message in self.ws:
            if message.type == aiohttp.WSMsgType.TEXT:
                self.frames.append(json.loads(message.data))

    @property
    def hello(self) -> dict[str, Any]:
        return self.frames[0]

    def events(self) -> list[dict[str, Any]]:
        return [e for f in self.frames if f["type"] == "events" for e in f["events"]]

    async def event(self, done: Callable[[dict[str, Any]], bool],
                    what: str) -> dict[str, Any]:
        async def probe() -> dict[str, Any] | None:
            return next((e for e in self.events() if done(e)), None)
        return await eventually(probe, what=what)

    async def close(self) -> None:
        await self.ws.close()
        with contextlib.suppress(aiohttp.ClientError):
            await self._reader


FeedFactory = Callable[..., Awaitable[Feed]]


@pytest.fixture
async def feeds() -> AsyncIterator[FeedFactory]:
    """Open console sockets for dispatchers; closed before the hub stops."""
    opened: list[Feed] = []

    async def open_(who: Dispatcher, last_event_id: str | None = None) -> Feed:
        query = f"?last_event_id={last_event_id}" if last_event_id else ""
        ws = await who.http.ws_connect(f"{who.base}/api/v1/console/ws{query}",
                                       protocols=(PRESENCE_PROTOCOL,))
        assert ws.protocol == PRESENCE_PROTOCOL
        feed = Feed(ws)
        opened.append(feed)
        await eventually(lambda: _ready(feed.frames), what="the console's hello")
        assert feed.hello["type"] == "hello", feed.hello
        return feed

    yield open_
    for feed in opened:
        await feed.close()


async def _ready(frames: list[dict[str, Any]]) -> bool | None:
    return True if frames else None


@pytest.fixture
async def passenger() -> AsyncIterator[aiohttp.ClientSession]:
    async with http_session() as http:
        yield http


def _hub_settings(settings: Settings, twilio: FakeTwilio, port: int) -> Settings:
    """Every channel with a request-scoped route, SMS through `twilio`; the public URL is
    known before the hub starts, as Twilio's signatures cover it."""
    return dataclasses.replace(
        chat_settings(settings),
        channels=ChannelsSettings(enabled=("webform", "twilio_sms", "twilio_voice", "chat")),
        http=HttpSettings(public_url=f"http://127.0.0.1:{port}"),
        sms=SmsSettings(twilio=TwilioSettings(
            auth_token=Secret(TOKEN), account_sid=ACCOUNT, from_number=COMPANY,
            api_url=twilio.url)),
    )


async def _twilio(client: TestClient[Any, Any], path: str,
                  params: list[tuple[str, str]]) -> None:
    """A callback signed as Twilio signs it."""
    async with client.post(path, data=urlencode(params), headers={
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": twilio_signature(TOKEN, str(client.make_url(path)), params),
    }) as response:
        assert response.status == 200, await response.text()


async def _voicemail(client: TestClient[Any, Any], caller: str, media: Media) -> None:
    """A call nobody answers; the caller leaves a voicemail."""
    sid, recording = "CA" + uuid.uuid4().hex, "RE" + uuid.uuid4().hex

    def call(status: str) -> list[tuple[str, str]]:
        return [("AccountSid", ACCOUNT), ("ApiVersion", "2010-04-01"), ("CallSid", sid),
                ("CallStatus", status), ("Direction", "inbound"), ("From", caller),
                ("Caller", caller), ("To", COMPANY), ("Called", COMPANY)]

    await _twilio(client, "/webhooks/phone/twilio", call("ringing"))
    await _twilio(client, "/webhooks/phone/twilio", call("in-progress"))
    await _twilio(client, "/webhooks/phone/twilio", [
        ("AccountSid", ACCOUNT), ("CallSid", sid), ("RecordingSid", recording),
        ("RecordingUrl", media.url(f"/recordings/{recording}")),
        ("RecordingStatus", "completed"), ("RecordingDuration", "4"),
        ("RecordingSource", "RecordVerb")])
    await _twilio(client, "/webhooks/phone/twilio", call("completed"))


async def _text(client: TestClient[Any, Any], sender: str, body: str) -> None:
    await _twilio(client, "/webhooks/sms/twilio", [
        ("MessageSid", "SM" + uuid.uuid4().hex), ("AccountSid", ACCOUNT), ("From", sender),
        ("To", COMPANY), ("Body", body), ("NumMedia", "0")])


async def _found(team: Dispatcher, what: str,
                 match: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """The request (its detail, as the team sees it) that `match` picks from every status."""
    async def probe() -> dict[str, Any] | None:
        async with team.http.get(f"{team.base}/api/v1/requests",
                                 params={"status": "queued,claimed,resolved"}) as resp:
            assert resp.status == 200, await resp.text()
            for summary in (await resp.json())["requests"]:
                detail = await team.request(summary["id"])
                if match(detail):
                    return detail
        return None
    return await eventually(probe, what=what)


def _ids(detail: dict[str, Any]) -> Ids:
    return Ids(detail["id"], detail["contact"]["id"],
               tuple(r["id"] for r in detail["recordings"]),
               *(m["id"] for m in detail["messages"][:1]))


@dataclass
class Answer:
    status: int
    body: bytes
    json: Any = field(default=None, compare=False)

    def __repr__(self) -> str:
        return f"<{self.status} {self.body[:300]!r}>"


async def _call(who: Dispatcher, method: str, path: str,
                body: dict[str, Any] | None = None) -> Answer:
    async with who.http.request(method, who.base + path, json=body) as resp:
        raw = await resp.read()
        decoded = json.loads(raw) if resp.content_type == "application/json" and raw else None
        return Answer(resp.status, raw, decoded)


async def _act(who: Dispatcher, request_id: str, action: str,
               body: dict[str, Any] | None = None, status: int = 200) -> Any:
    answer = await _call(who, "POST", f"/api/v1/requests/{request_id}/{action}", body)
    assert answer.status == status, answer
    return answer.json


def _order(event: dict[str, Any]) -> tuple[int, int]:
    """An event's place in the stream (its id is the stream entry's, `ms-seq`)."""
    ms, _, seq = str(event["id"]).partition("-")
    return int(ms), int(seq)


# ---- the test --------------------------------------------------------------------------------


async def test_an_external_user_reaches_only_requests_assigned_to_them(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings, media: Media,
    feeds: FeedFactory, passenger: aiohttp.ClientSession
) -> None:
    async with FakeTwilio(account_sid=ACCOUNT, auth_token=TOKEN) as twilio:
        port = free_port()
        client = await hub(_hub_settings(settings, twilio, port), port=port)
        assert request_scoped(client.app) == set(ROUTES)  # this hub serves every one of them
        team = await dispatcher(client, name="Tiina Tiimi")
        partner = await dispatcher(client, role=Role.EXTERNAL, name=PARTNER)
        partner_id = str(partner.agent.id)
        team_feed = await feeds(team)
        partner_feed = await feeds(partner)

        # ---- the centre's work: requests that are not the partner's ------------------------
        await _voicemail(client, CALLER_QUEUED, media)
        queued = await _found(team, "the waiting voicemail", lambda d: bool(
            d["recordings"]) and d["contact"]["phones"] == [CALLER_QUEUED])
        await _voicemail(client, CALLER_FORMER, media)
        former = await _found(team, "the partner's voicemail", lambda d: bool(
            d["recordings"]) and d["contact"]["phones"] == [CALLER_FORMER])

        held_chat = await open_widget(passenger, team.base, ORIGIN)
        await held_chat.say("Hei, tarvitsen tila-auton lentokentälle.")
        await held_chat.next("ack")
        held = await _found(team, "the held chat", lambda d: "tila-auton" in (d["preview"] or ""))
        await _act(team, held["id"], "claim")
        await _act(team, held["id"], "replies", {"body": "Tila-auto on varattu.",
                                                 "client_key": str(uuid.uuid4())}, status=201)
        assert (await held_chat.next("message"))["text"] == "Tila-auto on varattu."
        await held_chat.send({"type": "typing", "on": True})
        await held_chat.say("Kiitos, kaksi isoa laukkua.")
        await held_chat.next("ack")

        await _text(client, TEXTER, "Taksi Kamppiin heti, kiitos")
        resolved = await _found(team, "the SMS", lambda d: d["contact"]["phones"] == [TEXTER])
        await _act(team, resolved["id"], "replies", {"body": "Auto tulossa 5 min.",
                                                     "client_key": str(uuid.uuid4())}, 201)
        await _act(team, resolved["id"], "resolve")

        # ---- requests transferred to the partner: they can read and act on them ------------
        mine_chat = await open_widget(passenger, team.base, ORIGIN)
        await mine_chat.say("Moi, onko autoa Espooseen?")
        await mine_chat.next("ack")
        mine = await _found(team, "the partner's chat", lambda d: "Espooseen" in (d["preview"]
                                                                                  or ""))
        for request in (mine, former):
            await _act(team, request["id"], "transfer", {"agent_id": partner_id})

        # The passenger whose SMS the team resolved texts again: a new request, given to the
        # partner. While it is open the passenger calls, and the call rings on it.
        await _text(client, TEXTER, "Taas minä: taksi Pasilaan kello 20")
        again = await _found(team, "the returning passenger's request", lambda d: d["contact"][
            "phones"] == [TEXTER] and d["status"] == "queued")
        await _act(team, again["id"], "transfer", {"agent_id": partner_id})
        await _twilio(client, "/webhooks/phone/twilio", [
            ("AccountSid", ACCOUNT), ("CallSid", "CA" + uuid.uuid4().hex),
            ("CallStatus", "ringing"), ("Direction", "inbound"), ("From", TEXTER),
            ("Caller", TEXTER), ("To", COMPANY), ("Called", COMPANY)])
        ringing = [await feed.event(lambda e: e["type"] == "call.ringing"
                                    and e["request"]["id"] == again["id"], "the call")
                   for feed in (team_feed, partner_feed)]
        # The centre's console sees whom it knows; the partner's, only the request of theirs.
        assert [(r["id"], r["reference"]) for r in ringing[0]["caller"]["previous_requests"]
                ] == [(resolved["id"], resolved["reference"])]
        assert ringing[1]["caller"]["previous_requests"] == []

        # Every route once on a request of theirs, as its probe says; those that let the
        # request go come after the rest.
        former_ids, mine_ids = _ids(former), _ids(mine)
        fetched, sent = media.fetches, len(twilio.received)
        exercised: dict[Route, dict[str, Any] | None] = {}

        async def own(route: Route, ids: Ids) -> Answer:
            method, template = route
            [path] = ids.paths(template)
            body = ROUTES[route].body(ids, partner_id)
            answer = await _call(partner, method, path, body)
            assert answer.status == ROUTES[route].own, (method, path, answer)
            exercised[route] = body
            return answer

        for route, probe in ROUTES.items():
            if not probe.lets_go:
                answer = await own(route, former_ids)
                if route == READ:
                    assert answer.json["request"]["id"] == former["id"]
                elif route[1].endswith("/audio"):
                    assert answer.body == AUDIO
        assert media.fetches == fetched + 1  # the partner played the voicemail
        assert len(twilio.received) == sent + 1  # and answered the caller by SMS
        assert twilio.received[-1].data["To"] == CALLER_FORMER
        await own(RELEASE, former_ids)

        # The partner works the chat: the passenger sees them type and gets their answer.
        await mine_chat.send({"type": "typing", "on": True})
        async with partner.http.post(f"{partner.base}/api/v1/requests/{mine['id']}/typing",
                                     json={"on": True}) as resp:
            assert resp.status == 204
        assert (await mine_chat.next("typing"))["name"] == PARTNER
        await _act(partner, mine["id"], "replies", {"body": "Auto lähtee nyt Espooseen.",
                                                    "client_key": str(uuid.uuid4())}, 201)
        line = await mine_chat.next("message")
        assert (line["text"], line["agent"]) == ("Auto lähtee nyt Espooseen.", PARTNER)

        # After the partner let the voicemail go, its caller texts and the team takes it.
        await _text(client, CALLER_FORMER, "Soittakaa takaisin, olen Pasilassa")
        await team_feed.event(lambda e: e["type"] == "request.message"
                              and e["request"]["id"] == former["id"], "the caller's text")
        await _act(team, former["id"], "claim")
        await _act(team, former["id"], "notes", {"text": "Soitettu takaisin."})
        async with team.http.put(f"{team.base}/api/v1/me/presence",
                                 json={"state": "busy"}) as resp:
            assert resp.status == 200, await resp.text()
        async with team.http.put(f"{team.base}/api/v1/requests/{held['id']}/viewers/me",
                                 json={"typing": True}) as resp:
            assert resp.status == 200, await resp.text()

        hidden = {name: _ids(await team.request(r["id"])) for name, r in (
            ("the waiting request", queued), ("the colleague's request", held),
            ("the resolved request", resolved), ("the request the partner let go", former))}
        assert sum(len(ids.recordings) for ids in hidden.values()) == 2

        # The team's console heard all of it, presence included (holding the chat).
        for kind, request in (("request.queued", queued), ("call.recording", queued),
                              ("request.claim", held), ("request.reply", held),
                              ("chat.typing", held), ("request.message", held),
                              ("message.delivery", resolved), ("request.resolve", resolved),
                              ("request.release", former), ("request.claim", former)):
            await team_feed.event(lambda e, k=kind, i=request["id"]: e["type"] == k
                                  and e["request"]["id"] == i, f"{kind} of {request['id']}")
        await team_feed.event(lambda e: e["type"] == "request.note"
                              and e["request"]["id"] == former["id"]
                              and e["handling"]["agent"]["id"] == str(team.agent.id),
                              "the team's note on the request the partner let go")

        def presence(done: Callable[[dict[str, Any]], bool]
                     ) -> Callable[[], Awaitable[dict[str, Any] | None]]:
            async def probe() -> dict[str, Any] | None:
                return next((f["event"] for f in team_feed.frames
                             if f["type"] == "presence" and done(f["event"])), None)
            return probe
        busy = await eventually(presence(lambda e: e.get("state") == "busy"),
                                what="the colleague's presence frame")
        assert held["reference"] in json.dumps(busy)  # what they hold: not for partners
        await eventually(presence(lambda e: e["type"] == "request.viewers"
                                  and e["request_id"] == held["id"]),
                         what="who is viewing the colleague's request")

        # ---- every request-scoped route, on every request not theirs ------------------------
        before = {name: await team.request(ids.request) for name, ids in hidden.items()}
        fetched, sent = media.fetches, len(twilio.received)
        nowhere = Ids(str(uuid.uuid4()), str(uuid.uuid4()), (str(uuid.uuid4()),))
        probed: set[Route] = set()
        wrong: list[str] = []  # every route that fails, not just the first
        for (method, template), probe in ROUTES.items():
            [absent] = nowhere.paths(template)
            for name, ids in hidden.items():
                for path in ids.paths(template):
                    got = await _call(partner, method, path, probe.body(ids, partner_id))
                    want = await _call(partner, method, absent, probe.body(nowhere, partner_id))
                    probed.add((method, template))
                    if got.status not in (403, 404):
                        wrong.append(f"{method} {template} on {name}: {got}")
                    elif got != want:
                        wrong.append(f"{method} {template} on {name} answers {got}, on a "
                                     f"request that does not exist {want}")
        assert not wrong, "\n".join(wrong)
        assert probed == set(ROUTES)

        # The composer's resend of the reply the partner sent while the voicemail was theirs
        # (the same key) finds nothing now, as for any request not theirs.
        resend = exercised[REPLIES]
        stale = await _call(partner, "POST", f"/api/v1/requests/{former['id']}/replies",
                            resend)
        assert stale.status == 404, stale
        assert stale == await _call(partner, "POST",
                                    f"/api/v1/requests/{nowhere.request}/replies",
                                    {**(resend or {}), "client_key": str(uuid.uuid4())})

        # Nothing moved: no state, note, reply, listen, typing or SMS came of any of it.
        for name, ids in hidden.items():
            assert await team.request(ids.request) == before[name], name
        assert (media.fetches, len(twilio.received)) == (fetched, sent)
        async with team.http.post(f"{team.base}/api/v1/requests/{held['id']}/typing",
                                  json={"on": True}) as resp:
            assert resp.status == 204
        assert (await held_chat.next("typing"))["name"] == "Tiina Tiimi"  # the first since

        # ---- every parameterless GET: nothing about those requests, whatever the query -----
        secrets = {v for ids in hidden.values() for v in (ids.request, ids.contact,
                                                          *ids.recordings)}
        secrets |= {f'"{before[name]["reference"]}"' for name in hidden}  # short numbers
        secrets |= {CALLER_QUEUED, CALLER_FORMER, "tila-auton", "Pasilassa", "Kamppiin"}
        secrets -= {again["contact"]["id"]}  # the returning passenger's: theirs now too
        listed = False
        for path in parameterless_gets(client.app):
            for query in QUERIES:
                answer = await _call(partner, "GET", path + query)
                text = answer.body.decode("utf-8", "replace")
                leaked = sorted(s for s in secrets if s in text and s not in unquote_plus(query))
                assert not leaked, (f"GET {path}{query} tells an external user {leaked}",
                                    answer.status)
                if path == "/api/v1/requests" and answer.status == 200:
                    assert {r["id"] for r in answer.json["requests"]} <= {mine["id"],
                                                                          again["id"]}
                    listed = listed or bool(answer.json["requests"])
        assert listed  # their own request is listed: the list was not simply empty

        # Routes naming other things (accounts, lanes, canned replies, notices) are not for
        # external users either.
        for route in client.app.router.routes():
            params = _params(route)
            if params and not params & REQUEST_SCOPED_PARAMS and route.method != "HEAD":
                assert route.resource is not None
                path = re.sub(r"\{[^}]+\}", str(uuid.uuid4()), route.resource.canonical)
                answer = await _call(partner, route.method, path, {})
                assert answer.status in (403, 404), (route.method, path, answer)

        # ---- the console socket: only events about their own requests, no presence --------
        last_seen = _order(team_feed.events()[-1])
        await _act(partner, mine["id"], "notes", {"text": "Kuljettaja perillä."})
        sentinel = await partner_feed.event(
            lambda e: e["type"] == "request.note" and e["request"]["id"] == mine["id"],
            "the partner's own note")
        assert _order(sentinel) > last_seen  # after all the team's console heard
        live = [e for e in partner_feed.events() if _order(e) <= _order(sentinel)]
        _only_theirs(live, partner_id, allowed={mine["id"], former["id"], again["id"]})
        # Nor does any event of theirs carry a trace of the others (a caller's profile once
        # listed the passenger's other requests).
        others = {v for name, ids in hidden.items() if ids.request != former["id"]
                  for v in (ids.request, *ids.recordings, f'"{before[name]["reference"]}"')}
        assert not sorted(s for s in others if s in json.dumps(partner_feed.frames))
        assert not [f for f in partner_feed.frames[1:] if f["type"] != "events"]  # no presence
        kinds = {(e["type"], e["request"]["id"]) for e in live}
        assert {("request.transfer", mine["id"]), ("request.transfer", former["id"]),
                ("request.reply", former["id"]), ("request.reply", mine["id"]),
                ("chat.typing", mine["id"]), ("request.note", former["id"])} <= kinds, kinds

        # Resumed from before all of it, the socket replays exactly what it showed live.
        resumed = await feeds(partner, last_event_id=partner_feed.hello["last_event_id"])
        await resumed.event(lambda e: e["id"] == sentinel["id"], "the replayed note")
        replayed = [e for e in resumed.events() if _order(e) <= _order(sentinel)]
        assert [e["id"] for e in replayed] == [e["id"] for e in live]
        assert not [f for f in resumed.frames[1:] if f["type"] != "events"]
        assert not sorted(s for s in others if s in json.dumps(resumed.frames))

        # And the request of theirs they can close.
        await own(RESOLVE, mine_ids)
        assert set(exercised) == set(ROUTES)
        await held_chat.close()
        await mine_chat.close()


def _only_theirs(events: list[dict[str, Any]], partner_id: str, allowed: set[str]) -> None:
    for event in events:
        request = event.get("request") or {}
        assert request.get("id") in allowed, event
        assert (request.get("assigned_agent") or {}).get("id") == partner_id, event

