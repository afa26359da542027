"""What every chat socket of one hub process shares: the hub's services, the fan-out, the
stored conversations, and the few actions that reach beyond the socket (availability,
console events, delivery reports, transcripts)."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from channels.base import HubServices
from channels.chat.conversation import Conversations, Line
from channels.chat.fanout import ChatFanout
from channels.chat.hours import OpeningHours
from channels.chat.transcript import queue_transcript, valid_email
from hub.clock import utcnow
from hub.console_presence import ConsolePresence
from hub.events import EventType
from hub.model import DeliveryState, DeliveryUpdate
from hub.read_models import summaries_by_id

log = logging.getLogger(__name__)

# A reply the widget saw before its sender reported it sent waits for that report, so the
# delivery ends "delivered" rather than being set back to "sent" by the sender.
SEEN_WAITS_S = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 3.0)
SEEN_MARK_TTL_S = 24 * 3600


@dataclass(slots=True)
class ChatContext:
    services: HubServices
    fanout: ChatFanout
    conversations: Conversations
    hours: OpeningHours
    adapter: str  # the chat adapter's name, on its deliveries
    email_sender: str | None  # the enabled adapter that sends email, for transcripts
    background: set[asyncio.Task[None]] = field(default_factory=set)

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` beyond the socket that asked for it (it is short)."""
        task = asyncio.create_task(work)
        self.background.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self.background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # The type only: a database error's text quotes the statement's parameters.
            log.warning("chat background work failed: %s", type(task.exception()).__name__)

    def callback_due(self, at: datetime) -> datetime:
        """When a chat nobody can answer live should be called back, by the phone's rule:
        at the chat's next opening when it is closed, else within
        `phone.callback_due_minutes`."""
        opens = None if self.hours.is_open(at) else self.hours.next_opening(at)
        return opens or at + timedelta(minutes=self.services.settings.phone.callback_due_minutes)

    async def availability(self) -> tuple[bool, str]:
        """Whether a passenger can expect a live answer now, and why not."""
        if not self.hours.is_open(utcnow()):
            return False, "closed_hours"
        presence = ConsolePresence(self.services.redis, self.services.keys)
        if await presence.dispatchers_online() == 0:
            return False, "no_dispatcher"
        return True, "ok"

    async def console_event(self, kind: EventType, request_id: uuid.UUID, **fields: Any) -> None:
        """An ephemeral console event (typing, a closed chat): straight onto the events
        stream, not through the outbox, as it means nothing a minute later."""
        async with self.services.db.read() as conn:
            summary = (await summaries_by_id(conn, [request_id])).get(str(request_id))
        if summary is None:
            return
        data = json.dumps({"type": kind, "request": summary, **fields}, separators=(",", ":"))
        await self.services.redis.xadd(self.services.keys.events, {"data": data},
                                       maxlen=self.services.settings.queue.events_maxlen,
                                       approximate=True)

    async def report_seen(self, visitor: str, message_id: uuid.UUID) -> None:
        """The widget showed a reply: its delivery becomes delivered."""
        try:
            found = await self.conversations.delivery(visitor, message_id, self.adapter)
            if found is None:
                return  # not a reply to this visitor
            delivery_id, state = found
            for wait in SEEN_WAITS_S:
                if state != DeliveryState.QUEUED.value:
                    break
                await self.services.redis.set(self.services.keys.chat_seen(str(delivery_id)),
                                              "1", ex=SEEN_MARK_TTL_S)
                await asyncio.sleep(wait)
                state = await self.conversations.delivery_state(delivery_id) or state
            await self.services.deliveries.report(self.adapter, DeliveryUpdate(
                provider_id=str(delivery_id), state=DeliveryState.DELIVERED, at=utcnow()))
        except (RedisError, SQLAlchemyError, OSError) as exc:
            log.warning("chat: a seen report was lost: %s", type(exc).__name__)

    async def transcript(self, visitor: str, email: str | None, lines: Sequence[Line],
                         lang: str) -> str:
        """Queue the transcript by email: "queued", or why not ("none": not asked)."""
        if email is None:
            return "none"
        if not valid_email(email):
            return "invalid"
        if self.email_sender is None:
            return "unavailable"
        if not lines:
            return "empty"
        await queue_transcript(self.services.db, self.services.relay,
                               adapter=self.email_sender, email=email.lower(), visitor=visitor,
                               lines=lines, lang=lang, timezone=self.services.settings.timezone)
        return "queued"
