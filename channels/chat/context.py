"""What every chat socket of one hub process shares: the hub's services, its chat side
(hub.chat_live: the fan-out, the stored conversations, limits and marks), and the few
actions that reach beyond the socket (availability, delivery reports, transcripts)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from channels.base import HubServices
from channels.chat.hours import OpeningHours
from channels.chat.transcript import transcript_email, valid_email
from hub.chat_conversations import Conversations, Line
from hub.chat_fanout import ChatFanout
from hub.chat_live import ChatLive
from hub.clock import utcnow
from hub.model import DeliveryState, DeliveryUpdate
from hub.store_errors import STORE_ERRORS

log = logging.getLogger(__name__)

# A reply the widget saw before its sender reported it sent waits for that report, so the
# delivery ends "delivered" rather than being set back to "sent" by the sender.
SEEN_WAITS_S = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 3.0)
SEEN_MARK_TTL_S = 24 * 3600


@dataclass(slots=True)
class ChatContext:
    services: HubServices
    hours: OpeningHours
    adapter: str  # the chat adapter's name, on its deliveries
    email_sender: str | None  # the enabled adapter that sends email, for transcripts
    background: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def live(self) -> ChatLive:
        return self.services.chat

    @property
    def fanout(self) -> ChatFanout:
        return self.services.chat.fanout

    @property
    def conversations(self) -> Conversations:
        return self.services.chat.conversations

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
        if await self.live.dispatchers_online() == 0:
            return False, "no_dispatcher"
        return True, "ok"

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
                await self.live.mark_seen(delivery_id, ttl_s=SEEN_MARK_TTL_S)
                await asyncio.sleep(wait)
                state = await self.conversations.delivery_state(delivery_id) or state
            await self.services.deliveries.report(self.adapter, DeliveryUpdate(
                provider_id=str(delivery_id), state=DeliveryState.DELIVERED, at=utcnow()))
        except STORE_ERRORS as exc:
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
        await self.live.queue_transcript(
            adapter=self.email_sender, email=email.lower(), visitor=visitor, lines=lines,
            compose=transcript_email(lines, lang=lang,
                                     timezone=self.services.settings.timezone))
        return "queued"
