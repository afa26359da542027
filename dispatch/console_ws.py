"""The console websocket `/api/v1/console/ws`: every request event, live, resumable by id.

Frames from the hub (JSON): `hello` {last_event_id}, `events` {events: [...]}, and
`resync` when the console must reload its list (it fell too far behind, or asked for events
no longer kept). A console resumes with `?last_event_id=ID`. A dispatcher's console that
opens with the subprotocol `taxiconnect.presence` also gets `presence` {event} frames: each
colleague's `presence.changed` (see dispatch/presence.py). The socket keeps its dispatcher's
console live for presence while it is open.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import re
import time
import uuid

from aiohttp import WSCloseCode, WSMsgType, web
from prometheus_client import Histogram
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from dispatch.appkeys import FEED, PRESENCE_FANOUT, SESSION_CHECK
from dispatch.feed import Batch, Event, EventFeed, Subscriber, frame, hello, parse_id
from dispatch.presence import PresenceBoard
from dispatch.presence_api import board
from hub.agent_auth import current_agent, origin_allowed
from hub.appkeys import METRICS, SETTINGS, WEBSOCKETS
from hub.console_presence import LAPSE_S, ConsolePresence
from hub.error_codes import ErrorCode, answer
from hub.events import ConsoleFrameType
from hub.model import Role
from hub.sessions import COOKIE_NAME

log = logging.getLogger(__name__)

EVENT_ID = re.compile(r"^\d{1,20}-\d{1,20}$")
HEARTBEAT_S = 20.0
MAX_CLIENT_FRAME = 4096
REPLAY_FRAME_EVENTS = 500
CLOSE_SESSION_ENDED = 4401  # private-use close code: log in again
PRESENCE_PROTOCOL = "taxiconnect.presence"  # subprotocol: send me colleagues' presence too
# A console's socket holding more unsent bytes than this is slow: its batches wait in its
# queue (and past SUBSCRIBER_BACKLOG it is told to resync) instead of piling up in memory.
WRITE_BUFFER_LIMIT = 64 * 1024


async def console_ws(request: web.Request) -> web.WebSocketResponse:
    agent = await current_agent(request)
    if not origin_allowed(request):
        raise web.HTTPForbidden(text=json.dumps(answer(ErrorCode.ORIGIN_NOT_ALLOWED.of())),
                                content_type="application/json")
    last_event_id = request.query.get("last_event_id")
    if last_event_id is not None and not EVENT_ID.match(last_event_id):
        raise web.HTTPBadRequest(text=json.dumps({"error": "last_event_id is not an event id"}),
                                 content_type="application/json")
    # No per-message deflate: compressing every frame once per console cost more CPU than
    # the whole rest of the fan-out, for frames of a few kilobytes on the centre's network.
    ws = web.WebSocketResponse(heartbeat=HEARTBEAT_S, max_msg_size=MAX_CLIENT_FRAME,
                               compress=False, protocols=(PRESENCE_PROTOCOL,))
    await ws.prepare(request)
    feed = request.app[FEED]
    sockets = request.app[WEBSOCKETS]
    sockets.add(ws)
    # An external user's console hears only of the requests assigned to them.
    subscriber = feed.subscribe(str(agent.id) if agent.role is Role.EXTERNAL else None)
    presence = board(request.app)
    connection = uuid.uuid4().hex
    if agent.role is not Role.EXTERNAL:
        # Live before the hello goes out: whoever the console tells next (a chat passenger
        # asking whether anyone answers) already counts this dispatcher.
        with contextlib.suppress(RedisError, OSError):
            await presence.presence.beat(agent.id, connection)
    sender = asyncio.create_task(_send_events(ws, request.transport, feed, subscriber,
                                              last_event_id, request.app[METRICS].fanout))
    # Colleagues' presence, as `presence` frames, only to a console that asks for it with
    # the websocket subprotocol (as the console page does): other clients of this socket
    # expect `events` frames only.
    fanout = request.app[PRESENCE_FANOUT]
    if ws.ws_protocol == PRESENCE_PROTOCOL and agent.role is not Role.EXTERNAL:
        fanout.add(ws)
    # Closing is done by this handler's own task: aiohttp drops the connection at once when
    # another task closes a socket this one is reading, and the console, whose close frame
    # finds no connection left to answer on, would see 1006 instead of the code.
    close_wanted: asyncio.Future[tuple[int, bytes]] = asyncio.get_running_loop().create_future()
    sender.add_done_callback(lambda _: _want_close(close_wanted, WSCloseCode.INTERNAL_ERROR,
                                                   b"feed interrupted; resume"))
    watcher = asyncio.create_task(_end_with_session(request, agent.role, close_wanted))
    closing = asyncio.Event()
    beats = (asyncio.create_task(_keep_present(ws, presence, agent.id, connection, closing))
             if agent.role is not Role.EXTERNAL else None)
    reading = asyncio.create_task(_answer_pings(ws))
    try:
        await asyncio.wait((reading, close_wanted), return_when=asyncio.FIRST_COMPLETED)
        if not reading.done():
            reading.cancel()
            await asyncio.wait((reading,))
            code, message = close_wanted.result()
            await ws.close(code=code, message=message)
    finally:
        feed.unsubscribe(subscriber)
        fanout.discard(ws)
        closing.set()
        tasks = [t for t in (reading, sender, watcher, beats) if t is not None]
        for task in tasks:
            task.cancel()
        sockets.discard(ws)
        # aiohttp may cancel this handler once the peer is gone: the clean-up must still
        # take the console off the live set, or it would count as live until it lapses.
        ending = asyncio.ensure_future(_ended(tasks, presence if beats else None, agent.id,
                                              connection))
        _ENDING.add(ending)
        ending.add_done_callback(_ENDING.discard)
        await asyncio.shield(ending)
    return ws


_ENDING: set[asyncio.Future[None]] = set()


async def _ended(tasks: list[asyncio.Task[None]], presence: PresenceBoard | None,
                 agent_id: uuid.UUID, connection: str) -> None:
    if presence is not None:
        # Off the live set at once, whatever the tasks are still finishing; and again after
        # them, in case a beat in flight landed after the first removal.
        with contextlib.suppress(RedisError, OSError):
            await presence.presence.leave(agent_id, connection)
    results = await asyncio.gather(*tasks, return_exceptions=True)
    if presence is not None:
        with contextlib.suppress(RedisError, OSError, SQLAlchemyError):
            await presence.presence.leave(agent_id, connection)
            # Colleagues see the console go now; the hand-back waits for the grace period.
            if await presence.presence.mark_gone([str(agent_id)]):
                await presence.announce(agent_id)
    for result in results:
        if isinstance(result, Exception):
            log.warning("console feed ended: %s", result)


async def _keep_present(ws: web.WebSocketResponse, board: PresenceBoard,
                        agent_id: uuid.UUID, connection: str, closing: asyncio.Event) -> None:
    """Beat while the socket lives; the first beat brings an absent dispatcher online.

    It stops on `closing` as well as on cancellation: a Redis command in flight may finish
    (and swallow the cancellation) after the socket has gone.
    """
    presence: ConsolePresence = board.presence
    first = True
    while not ws.closed and not closing.is_set():
        with contextlib.suppress(RedisError, OSError, SQLAlchemyError):
            await presence.beat(agent_id, connection)
            if closing.is_set():
                return
            if first and await presence.connected(agent_id, connection):
                await board.announce(agent_id)
            first = False
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(closing.wait(), LAPSE_S / 3)


async def _answer_pings(ws: web.WebSocketResponse) -> None:
    async for message in ws:
        if message.type == WSMsgType.TEXT and message.data == '{"type":"ping"}':
            await ws.send_str('{"type":"pong"}')


def _want_close(wanted: asyncio.Future[tuple[int, bytes]], code: int, message: bytes) -> None:
    """Ask the handler to close the socket (the first reason wins). A console that no longer
    gets events must not look live: closed, it reconnects and resumes from its last id."""
    if not wanted.done():
        wanted.set_result((code, message))


async def _end_with_session(request: web.Request, role: Role,
                            close_wanted: asyncio.Future[tuple[int, bytes]]) -> None:
    """Ask for the socket to close once its session ends: logout, expiry, a disabled
    account, or a changed role (the feed was filtered for the old one)."""
    check = request.app[SESSION_CHECK]
    token = request.cookies.get(COOKIE_NAME, "")
    every_s = request.app[SETTINGS].console.session_check_s
    while not close_wanted.done():
        await asyncio.sleep(every_s)
        agent = await check.agent(token)
        if agent is None or not agent.active or agent.role is not role:
            _want_close(close_wanted, CLOSE_SESSION_ENDED, b"session ended")
            return


async def _send_events(ws: web.WebSocketResponse, transport: asyncio.Transport | None,
                       feed: EventFeed, subscriber: Subscriber, last_event_id: str | None,
                       fanout: Histogram) -> None:
    # Subscribed already: whatever the replay does not hold arrives through the subscription.
    cursor = await _start(ws, feed, subscriber, last_event_id)
    while not ws.closed:
        if subscriber.only_for is None and transport is not None and subscriber.batches.empty():
            # Up to date: the feed writes batches onto the socket itself until one is
            # queued (see dispatch.feed.Subscriber); then this task takes over again.
            direct = _DirectSocket(ws, transport, fanout, cursor)
            subscriber.direct = direct.write
            try:
                batch = await subscriber.batches.get()
            finally:
                subscriber.direct = None
            cursor = direct.cursor
        else:
            batch = await subscriber.batches.get()
        if batch is None:
            return
        if subscriber.overflowed:
            subscriber.overflowed = False
            while not subscriber.batches.empty():
                subscriber.batches.get_nowait()
            cursor = await _resync(ws, feed)
            continue
        if subscriber.only_for is None and batch.events[0].order > cursor:
            # The frame built and encoded once for all consoles.
            await ws.send_frame(batch.frame, WSMsgType.TEXT)
            _observe(fanout, batch.events[0])
            cursor = batch.events[-1].order
            continue
        fresh = _visible(subscriber, [e for e in batch.events if e.order > cursor])
        if fresh:
            await ws.send_str(frame(fresh))
            _observe(fanout, fresh[0])
        cursor = max(cursor, batch.events[-1].order)


class _DirectSocket:
    """A console's socket as the feed writes to it directly: the batch's ready-made frame,
    while the socket keeps up (its send buffer under WRITE_BUFFER_LIMIT)."""

    def __init__(self, ws: web.WebSocketResponse, transport: asyncio.Transport,
                 fanout: Histogram, cursor: tuple[int, int]) -> None:
        self._ws = ws
        self._transport = transport
        self._fanout = fanout
        self.cursor = cursor

    def write(self, batch: Batch) -> bool:
        if (self._ws.closed or self._transport.is_closing()
                or self._transport.get_write_buffer_size() > WRITE_BUFFER_LIMIT
                or batch.events[0].order <= self.cursor):
            return False  # the sender task sees to it, as it does to every queued batch
        self._transport.write(batch.wire)
        _observe(self._fanout, batch.events[0])
        self.cursor = batch.events[-1].order
        return True


def _observe(fanout: Histogram, oldest: Event) -> None:
    """The frame's oldest event, from its stream entry (the entry id is its time in ms)."""
    fanout.observe(max(0.0, time.time() - oldest.order[0] / 1000))


def _visible(subscriber: Subscriber, events: list[Event]) -> list[Event]:
    if subscriber.only_for is None:
        return events
    return [_without_history(e) for e in events if e.assigned_agent == subscriber.only_for]


def _without_history(event: Event) -> Event:
    """A call on an external user's request names the caller, but not the passenger's other
    requests nor the addresses they came from: those are the centre's, as passenger cards
    are (dispatch/passengers.py)."""
    if '"caller":' not in event.json:
        return event
    data = json.loads(event.json)
    caller = data.get("caller")
    if not isinstance(caller, dict):
        return event
    data["caller"] = {**caller, "known": False, "previous_requests": [], "pickup_addresses": []}
    return dataclasses.replace(event, json=json.dumps(data, separators=(",", ":")))


async def _start(ws: web.WebSocketResponse, feed: EventFeed, subscriber: Subscriber,
                 last_event_id: str | None) -> tuple[int, int]:
    if last_event_id is None:
        newest = await feed.newest_id()
        await ws.send_str(hello(newest))
        return parse_id(newest)
    missed = await feed.replay(last_event_id)
    if missed is None:
        return await _resync(ws, feed)
    await ws.send_str(hello(last_event_id))
    visible = _visible(subscriber, missed)
    for start in range(0, len(visible), REPLAY_FRAME_EVENTS):
        await ws.send_str(frame(visible[start:start + REPLAY_FRAME_EVENTS]))
    if missed:
        return missed[-1].order
    return parse_id(last_event_id)


async def _resync(ws: web.WebSocketResponse, feed: EventFeed) -> tuple[int, int]:
    newest = await feed.newest_id()
    await ws.send_str(json.dumps({"type": ConsoleFrameType.RESYNC, "last_event_id": newest}))
    return parse_id(newest)
