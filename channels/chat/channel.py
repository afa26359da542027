"""The chat channel: the passenger's widget on the company's website, live with dispatchers.

    GET  /widget/chat.js                     the widget; one script tag embeds it
    GET  /widget/words.json                  its words in one language (widget_words.py)
    GET  /chat/ws                            the widget's websocket (see session.py)
    POST /api/v1/requests/{id}/typing        a dispatcher is writing: {"on": bool}

The websocket is refused at the handshake (before the upgrade) when the page's Origin is not
one of `chat.allowed_origins` (403, origin_not_allowed) or its address opened too many in a
minute (429, chat_handshakes_too_many) or already has `connections_per_address` sockets open
(429, chat_connections_too_many): the hub's error body with its code, and Retry-After. A
reply is "sent" once every hub process has been told to show it; "delivered" once the widget
says it showed it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from typing import ClassVar
from urllib.parse import urlsplit

from aiohttp import web

from channels.base import HubServices
from channels.chat import widget_words
from channels.chat.context import ChatContext
from channels.chat.frames import CLOSES
from channels.chat.hours import parse_hours
from channels.chat.session import ChatSession
from hub.address_gate import AddressGate
from hub.agent_auth import current_agent
from hub.appkeys import TRUSTED_PROXIES, WEBSOCKETS
from hub.client_address import client_address
from hub.error_codes import ErrorCode, Reason, answer
from hub.errors import BadInput, Forbidden, NotFound, OperatorMustAct, RetryLater
from hub.model import Channel, DeliveryState, OutboundMessage, Role, SendReceipt
from hub.request_body import read_json_object
from hub.store_errors import REDIS_ERRORS, STORE_ERRORS
from web import ROOT as WEB_ROOT

log = logging.getLogger(__name__)

STOP_WAIT_S = 2.0

WIDGET = WEB_ROOT / "widget" / "chat.js"
HEARTBEAT_S = 20.0
READY_WAIT_S = 2.0  # a process still subscribing answers 503 rather than a deaf socket
SLOT_WAIT_S = 30  # Retry-After when the address has all its sockets open
# Bytes of one client frame: the longest message with every character escaped, and change.
FRAME_BYTES_PER_CHAR = 12
FRAME_OVERHEAD_BYTES = 4096


class ChatChannel:
    name: ClassVar[str] = "chat"
    channel: ClassVar[Channel] = Channel.CHAT
    max_body_chars: ClassVar[int] = 2000  # the default; chat.max_message_chars decides
    can_reply: ClassVar[bool] = True

    def __init__(self) -> None:
        self._ctx: ChatContext | None = None
        self._fanout_task: asyncio.Task[None] | None = None
        self._handshakes = AddressGate(0, 60.0)
        self.sockets = 0
        self.sent = 0

    def __repr__(self) -> str:
        fanout = self._ctx.fanout if self._ctx is not None else None
        return f"<ChatChannel sockets={self.sockets} sent={self.sent} fanout={fanout!r}>"

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/widget/chat.js", self.widget),
                *widget_words.routes(),
                web.get("/chat/ws", self.socket),
                web.post("/api/v1/requests/{request_id}/typing", self.dispatcher_typing)]

    async def start(self, services: HubServices) -> None:
        chat = services.settings.chat
        self._handshakes = AddressGate(chat.handshakes_per_address_per_minute, 60.0)
        if not chat.token_secret:
            raise OperatorMustAct("chat is enabled but chat.token_secret is not set")
        for origin in chat.allowed_origins:
            parts = urlsplit(origin)
            if parts.scheme not in ("http", "https") or not parts.netloc or parts.path:
                raise OperatorMustAct(f"chat.allowed_origins: {origin!r} is not "
                                      "scheme://host[:port]")
        if not chat.allowed_origins:
            log.warning("chat is enabled but chat.allowed_origins is empty: every widget "
                        "socket will be refused")
        hours = parse_hours(chat.opening_hours, services.settings.timezone)
        self._ctx = ChatContext(services, hours, adapter=self.name,
                                email_sender=_email_sender(services))
        self._fanout_task = asyncio.create_task(services.chat.fanout.run(), name="chat-fanout")

    async def stop(self) -> None:
        ctx, self._ctx = self._ctx, None
        if ctx is None:
            return
        ctx.fanout.stop()
        tasks = [t for t in (self._fanout_task, *ctx.background) if t is not None]
        if self._fanout_task is not None:
            await asyncio.wait({self._fanout_task}, timeout=2.0)
        for task in tasks:
            task.cancel()
        if tasks:
            # Bounded: a task blocked inside redis-py may not notice its cancellation, and
            # the hub's shutdown must not wait for it.
            _, stuck = await asyncio.wait(tasks, timeout=STOP_WAIT_S)
            if stuck:
                log.warning("chat: %d tasks did not stop in time", len(stuck))

    @property
    def ctx(self) -> ChatContext:
        if self._ctx is None:
            raise RetryLater(ErrorCode.HUB_STARTING)
        return self._ctx

    async def widget(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(WIDGET, headers={
            "Content-Type": "text/javascript; charset=utf-8",
            "Cache-Control": "no-cache",  # revalidated: an upgrade reaches every site at once
            "Cross-Origin-Resource-Policy": "cross-origin",
        })

    async def socket(self, request: web.Request) -> web.WebSocketResponse:
        ctx = self.ctx
        chat = ctx.services.settings.chat
        origin = request.headers.get("Origin", "").lower()
        if origin not in {allowed.lower() for allowed in chat.allowed_origins}:
            raise Forbidden(ErrorCode.ORIGIN_NOT_ALLOWED)
        address = client_address(request, request.app[TRUSTED_PROXIES])
        if wait_s := self._handshakes.wait_s(address):
            raise _too_many(ErrorCode.CHAT_HANDSHAKES_TOO_MANY.of(), wait_s)
        slots = ctx.live.slots
        slot = uuid.uuid4().hex
        try:
            if not await slots.take(address, slot):
                raise _too_many(ErrorCode.CHAT_CONNECTIONS_TOO_MANY.of(), SLOT_WAIT_S)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ctx.fanout.ready.wait(), READY_WAIT_S)
        except REDIS_ERRORS as exc:
            raise RetryLater(ErrorCode.CHAT_UNAVAILABLE, retry_after_s=5) from exc
        ws = web.WebSocketResponse(
            heartbeat=HEARTBEAT_S, compress=False,
            max_msg_size=chat.max_message_chars * FRAME_BYTES_PER_CHAR + FRAME_OVERHEAD_BYTES)
        sockets = request.app[WEBSOCKETS]
        try:
            if not ctx.fanout.ready.is_set():
                raise RetryLater(ErrorCode.CHAT_UNAVAILABLE, retry_after_s=5)
            await ws.prepare(request)
            sockets.add(ws)
            self.sockets += 1
            await ChatSession(ctx, ws, address, slot, slots).run()
        except STORE_ERRORS as exc:
            log.warning("chat socket ended: %s", type(exc).__name__)
            if ws.prepared and not ws.closed:
                reason = ErrorCode.CHAT_INTERRUPTED
                await ws.close(code=CLOSES[reason], message=reason.value.encode())
        finally:
            if ws.prepared:
                self.sockets -= 1
            sockets.discard(ws)
            with contextlib.suppress(*REDIS_ERRORS, OSError):
                await slots.release(address, slot)
        return ws

    async def dispatcher_typing(self, request: web.Request) -> web.Response:
        """Show "<name> is typing" in the widgets of the request's chat passengers."""
        agent = await current_agent(request)
        try:
            request_id = uuid.UUID(request.match_info["request_id"])
        except ValueError as exc:
            raise NotFound(ErrorCode.REQUEST_NOT_FOUND) from exc
        on = True
        if request.body_exists:
            body = await read_json_object(request)
            given = body.get("on", True)
            if not isinstance(given, bool):
                raise BadInput(ErrorCode.ON_NOT_BOOLEAN, {"on": "invalid"})
            on = given
        ctx = self.ctx
        exists, holder = await ctx.conversations.assignment(request_id)
        if not exists or (agent.role is Role.EXTERNAL and holder != agent.id):
            raise NotFound(ErrorCode.REQUEST_NOT_FOUND)
        visitors = await ctx.conversations.visitors_of(request_id)
        for visitor in visitors:
            await ctx.fanout.publish(visitor, {"kind": "typing", "on": on, "name": agent.name})
        return web.Response(status=204)

    async def send(self, message: OutboundMessage) -> SendReceipt:
        """Wake the visitor's widgets on every process; they read the reply from the
        database. Delivered already when the widget saw it (through the history) first."""
        ctx = self.ctx
        try:
            await ctx.fanout.publish(message.recipient)
            seen = await ctx.live.take_seen(message.delivery_id)
        except REDIS_ERRORS as exc:
            raise RetryLater(f"Redis: {exc}") from exc
        self.sent += 1
        state = DeliveryState.DELIVERED if seen else DeliveryState.SENT
        return SendReceipt(provider_id=str(message.delivery_id), state=state)


def _too_many(why: Reason, wait_s: int) -> web.HTTPTooManyRequests:
    """429 with the hub's error body (hub.error_codes) and when to try again."""
    return web.HTTPTooManyRequests(text=json.dumps(answer(why)), content_type="application/json",
                                   headers={"Retry-After": str(max(1, wait_s))})


def _email_sender(services: HubServices) -> str | None:
    from channels.registry import ADAPTERS  # the registry imports this module

    for name in services.settings.channels.enabled:
        adapter = ADAPTERS.get(name)
        if adapter is not None and adapter.channel is Channel.EMAIL and adapter.can_reply:
            return name
    return None
