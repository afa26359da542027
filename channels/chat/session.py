"""One widget's websocket after the handshake: hello and welcome, then the passenger's frames
in, and the conversation's new lines, typing and availability out (the frames: frames.py).

New lines reach the socket by a catch-up read after its cursor, whether a wake-up, the
periodic beat or a reconnect asked for it; what was sent is remembered by message id, so a
reply committed a moment late, with an earlier time, is still sent, and nothing twice.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from aiohttp import WSMsgType, web

from channels.chat.context import ChatContext
from channels.chat.cursor import Cursor
from channels.chat.frames import (
    CLOSES,
    ChatMessage,
    Close,
    Frame,
    FrameError,
    Hello,
    Ping,
    Prechat,
    Seen,
    Typing,
    parse_frame,
)
from channels.chat.inbound import chat_contact
from channels.chat.prechat import normalise_prechat
from channels.chat.token import issue, needs_renewal, new_visitor_id, verify
from hub.chat_fanout import VisitorNews
from hub.chat_limits import ConnectionSlots
from hub.chat_queue_place import QueuePlace
from hub.clock import utcnow
from hub.error_codes import ErrorCode
from hub.errors import AnnouncementOnly, BadInput, CodedError, RetryLater
from hub.events import ChatFrameType, EventType

log = logging.getLogger(__name__)
HELLO_TIMEOUT_S = 10.0
BEAT_S = 20.0  # slot refresh, availability check and a catch-up in case a wake-up was lost
TYPING_EVERY_S = 1.0  # passenger typing frames more often than this are dropped
FRAMES_PER_MINUTE = 300  # any frames; a widget sends far fewer
SEEN_MAX = 500  # seen reports one socket may ask for (a conversation is shorter)


class ChatSession:
    def __init__(self, ctx: ChatContext, ws: web.WebSocketResponse, address: str,
                 slot: str, slots: ConnectionSlots) -> None:
        self.ctx = ctx
        self.ws = ws
        self.address = address
        self.slot = slot
        self.slots = slots
        self.visitor = ""
        self.token = ""
        self.lang = "fi"
        self.available = True
        self.reason = "ok"
        self.cursor = Cursor()
        self.prechat: dict[str, str] = {}
        self.request_id: uuid.UUID | None = None
        self.queue: asyncio.Queue[VisitorNews] = asyncio.Queue()
        self._frames: list[float] = []
        self._typing_at = 0.0
        self._typing_on = False
        self._seen: set[uuid.UUID] = set()
        self._queue_place: QueuePlace | None = None

    async def run(self) -> None:
        hello = await self._hello()
        if hello is None:
            return
        self.ctx.fanout.join(self.visitor, self.queue.put_nowait)
        tasks: list[asyncio.Task[None]] = []
        try:
            await self._welcome(hello)
            tasks = [asyncio.create_task(self._guard(self._pump())),
                     asyncio.create_task(self._guard(self._beat())),
                     asyncio.create_task(self._guard(self._queue_updates()))]
            await self._read()
        finally:
            self.ctx.fanout.leave(self.visitor, self.queue.put_nowait)
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.wait(tasks, timeout=2.0)

    async def _guard(self, work: Any) -> None:
        """A live loop that fails closes the socket: a deaf widget would wait forever,
        a closed one reconnects and catches up."""
        try:
            await work
        except Exception as exc:
            log.warning("chat socket loop failed: %s", type(exc).__name__)
            await self.close(ErrorCode.CHAT_INTERRUPTED)

    async def close(self, reason: ErrorCode) -> None:
        """Close with the reason's close code and its code as the close reason: a stable word
        the widget says in the passenger's language, never English."""
        await self.ws.close(code=CLOSES[reason], message=reason.value.encode())

    async def send(self, frame: dict[str, Any]) -> None:
        if not self.ws.closed:
            await self.ws.send_str(json.dumps(frame, separators=(",", ":"), ensure_ascii=False))

    async def _hello(self) -> Hello | None:
        try:
            message = await asyncio.wait_for(self.ws.receive(), HELLO_TIMEOUT_S)
        except TimeoutError:
            await self.close(ErrorCode.CHAT_HELLO_LATE)
            return None
        frame = await self._parse(message)
        if frame is None:
            return None
        if not isinstance(frame, Hello):
            await self.close(ErrorCode.CHAT_HELLO_FIRST)
            return None
        settings = self.ctx.services.settings.chat
        secret, now = settings.token_secret.reveal(), time.time()
        visitor = verify(secret, frame.token, now=now)
        self.lang = frame.lang
        if visitor is None:
            self.visitor = new_visitor_id()
            self.token = issue(secret, self.visitor, now=now, days=settings.token_days)
            return Hello(None, None, frame.lang)  # a new conversation has nothing to resume
        self.visitor = visitor.id
        self.token = frame.token or ""
        if needs_renewal(visitor, now=now, days=settings.token_days):
            self.token = issue(secret, visitor.id, now=now, days=settings.token_days)
        return frame

    async def _welcome(self, hello: Hello) -> None:
        conversations = self.ctx.conversations
        self.cursor = Cursor(await self.ctx.live.closed_at(self.visitor))
        self.available, self.reason = await self.ctx.availability()
        seen = (await conversations.position(self.visitor, hello.last_seen)
                if hello.last_seen is not None else None)
        lines = await conversations.lines(self.visitor, since=self.cursor.resume(seen))
        await self.send({
            "type": "welcome", "token": self.token, "available": self.available,
            "reason": self.reason, "max_chars": self.ctx.services.settings.chat.max_message_chars,
            "messages": [line.json() for line in self.cursor.fresh(lines, seen)],
        })

    async def _read(self) -> None:
        async for message in self.ws:
            if not self._frame_allowed():
                await self.close(ErrorCode.CHAT_FRAMES_TOO_MANY)
                return
            frame = await self._parse(message)
            if frame is None:
                return
            if isinstance(frame, ChatMessage):
                await self._message(frame)
            elif isinstance(frame, Typing):
                await self._typing(frame.on)
            elif isinstance(frame, Prechat):
                await self._prechat(frame)
            elif isinstance(frame, Seen):
                if frame.message_id not in self._seen and len(self._seen) < SEEN_MAX:
                    self._seen.add(frame.message_id)
                    self.ctx.spawn(self.ctx.report_seen(self.visitor, frame.message_id))
            elif isinstance(frame, Close):
                await self._close_chat(frame.email)
            elif isinstance(frame, Ping):
                await self.send({"type": ChatFrameType.PONG})
            else:
                await self.close(ErrorCode.CHAT_HELLO_TWICE)
                return

    async def _parse(self, message: Any) -> Frame | None:
        """The frame, or None once the socket is closed (by the widget or for a bad frame)."""
        if message.type == WSMsgType.BINARY:
            await self.close(ErrorCode.CHAT_FRAME_NOT_TEXT)
            return None
        if message.type != WSMsgType.TEXT:
            return None
        try:
            return parse_frame(message.data,
                               max_chars=self.ctx.services.settings.chat.max_message_chars)
        except FrameError as exc:
            await self.close(exc.error)
            return None

    def _frame_allowed(self) -> bool:
        now = time.monotonic()
        self._frames = [at for at in self._frames if at > now - 60] + [now]
        return len(self._frames) <= FRAMES_PER_MINUTE

    async def _message(self, frame: ChatMessage) -> None:
        services, live = self.ctx.services, self.ctx.live
        settings = services.settings.chat
        per_address = settings.messages_per_minute * settings.connections_per_address
        if not (await live.within_rate("visitor", self.visitor, settings.messages_per_minute)
                and await live.within_rate("address", self.address, per_address)):
            await self.close(ErrorCode.CHAT_MESSAGES_TOO_MANY)
            return
        stored = await self.ctx.conversations.stored(self.visitor, frame.id)
        if stored is None:
            contact = await chat_contact(self.ctx.conversations, self.visitor, frame.id,
                                         frame.text, prechat=self.prechat, lang=self.lang,
                                         callback_due_at=None if self.available
                                         else self.ctx.callback_due(utcnow()))
            try:
                with services.ingestor.admission():
                    result = await services.ingest(contact)
            except RetryLater as exc:
                await self.send({"type": ChatFrameType.NACK, "id": frame.id,
                                 **_refusal(exc), "retry": True,
                                 "retry_after": exc.retry_after_s})
                return
            except AnnouncementOnly as exc:
                # Nothing was kept: the line fails with the notice as its reason.
                notice = exc.notice.text(self.lang)
                why = ErrorCode.ANNOUNCEMENT_ONLY.of(notice=notice)
                await self.send({"type": ChatFrameType.NACK, "id": frame.id, "retry": False,
                                 "code": why.code.value, "params": dict(why.params),
                                 "reason": notice, "announced": True})
                return
            except BadInput as exc:
                stored = await self.ctx.conversations.stored(self.visitor, frame.id)
                if stored is None:  # not a concurrent resend: the text itself is refused
                    await self.send({"type": ChatFrameType.NACK, "id": frame.id,
                                     **_refusal(exc), "retry": False})
                    return
            else:
                stored = (contact.received_at, result.message_id)
                self.request_id = result.request_id
        # The order's pickup belongs to this one message, however it came to be stored.
        self.prechat.pop("pickup_address", None)
        self.prechat.pop("pickup_time", None)
        at, message_id = stored
        self.cursor.remember(message_id, at)  # the widget has its own line
        await self.send({"type": ChatFrameType.ACK, "id": frame.id,
                         "message_id": str(message_id), "at": at.isoformat()})
        await self.ctx.fanout.publish(self.visitor)  # the visitor's other tabs
        await self._tell_queue_place()

    async def _typing(self, on: bool) -> None:
        now = time.monotonic()
        if (on and now - self._typing_at < TYPING_EVERY_S) or (not on and not self._typing_on):
            return
        self._typing_at, self._typing_on = (now if on else 0.0), on
        if self.request_id is None:
            self.request_id = await self.ctx.conversations.open_request(self.visitor)
        if self.request_id is not None:
            await self.ctx.live.console_event(EventType.CHAT_TYPING, self.request_id, typing=on)

    async def _prechat(self, frame: Prechat) -> None:
        settings = self.ctx.services.settings
        values, errors = normalise_prechat(frame.fields, default_region=settings.phone
                                           .default_region, timezone=settings.timezone,
                                           now=utcnow())
        self.prechat.update(values)
        refusal = {"code": ErrorCode.CHECK_FIELDS.value, "params": {}} if errors else {}
        await self.send({"type": ChatFrameType.PRECHAT, "ok": not errors, "fields": errors,
                         **refusal})

    async def _close_chat(self, email: str | None) -> None:
        lines = await self.ctx.conversations.lines(self.visitor, since=self.cursor.closed_at)
        outcome = await self.ctx.transcript(self.visitor, email, lines, self.lang)
        now = utcnow()
        await self.ctx.live.mark_closed(
            self.visitor, now, ttl_s=self.ctx.services.settings.chat.token_days * 86_400)
        self.cursor.close(now)
        if lines:
            await self.ctx.live.console_event(EventType.CHAT_CLOSED, lines[-1].request_id)
        await self.send({"type": ChatFrameType.CLOSED, "transcript": outcome})
        await self.ctx.fanout.publish(self.visitor, {"kind": "closed", "by": self.slot,
                                                      "at": now.timestamp()})

    async def _pump(self) -> None:
        """Live news for this visitor: typing and closes relayed, wake-ups coalesced into
        one catch-up from the database."""
        while True:
            news = [await self.queue.get()]
            while not self.queue.empty():
                news.append(self.queue.get_nowait())
            wake = False
            for item in news:
                kind = item.get("kind")
                if kind == "wake":
                    wake = True
                elif kind == "typing":
                    await self.send({"type": ChatFrameType.TYPING, "on": bool(item.get("on")),
                                     "name": str(item.get("name") or "")})
                elif kind == "closed" and item.get("by") != self.slot:
                    self.cursor.close(datetime.fromtimestamp(float(item["at"]), UTC))
                    await self.send({"type": ChatFrameType.CLOSED, "transcript": None})
            if wake:
                await self._catch_up()
                await self._tell_queue_place()  # a reply: most likely someone took it

    async def _catch_up(self) -> None:
        lines = await self.ctx.conversations.lines(self.visitor, since=self.cursor.since())
        for line in self.cursor.fresh(lines):
            await self.send({"type": ChatFrameType.MESSAGE, **line.json()})

    async def _queue_updates(self) -> None:
        while True:
            await asyncio.sleep(self.ctx.services.settings.chat.queue_update_s)
            await self._tell_queue_place()

    async def _tell_queue_place(self) -> None:
        """The passenger's place in the queue and the estimated wait, when it changed."""
        if self.request_id is None:
            self.request_id = await self.ctx.conversations.open_request(self.visitor)
            if self.request_id is None:
                return
        place = await self.ctx.live.queue_place(self.request_id)
        if place != self._queue_place:
            self._queue_place = place
            await self.send({"type": ChatFrameType.QUEUE, **_queue_frame(place)})

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(BEAT_S)
            await self.slots.refresh(self.address, self.slot)
            available, reason = await self.ctx.availability()
            if (available, reason) != (self.available, self.reason):
                self.available, self.reason = available, reason
                await self.send({"type": ChatFrameType.AVAILABILITY, "available": available,
                                 "reason": reason})
            self.queue.put_nowait({"kind": "wake"})


def _refusal(exc: CodedError) -> dict[str, Any]:
    """A refusal in a frame: its code and params (what the widget says in the passenger's
    language) beside the English reason (for API clients)."""
    return {"code": exc.code.value, "params": dict(exc.params), "reason": exc.reason}


def _queue_frame(place: QueuePlace) -> dict[str, Any]:
    if place.position is None:
        return {"position": None}
    return {"position": place.position, "wait_s": place.wait_s}
