"""What the chat channel may do to the hub's stores, and nothing more: the live fan-out to
widgets, the stored conversations, the limits every process shares, the closed and seen
marks, the queue place, transcripts and the ephemeral console events. The composition root
builds one and lends it to the chat channel, which holds no database or Redis handle."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from redis.asyncio import Redis

from hub.chat_conversations import Conversations, Line
from hub.chat_fanout import ChatFanout
from hub.chat_limits import ConnectionSlots, within_rate
from hub.chat_queue_place import QueuePlace, queue_place
from hub.chat_transcripts import Compose, queue_transcript
from hub.console_presence import ConsolePresence
from hub.database import Database
from hub.events import EventType
from hub.keys import Keys
from hub.outbox import OutboxRelay
from hub.read_models import summaries_by_id


class ChatLive:
    def __init__(self, db: Database, redis: Redis, keys: Keys, relay: OutboxRelay, *,
                 events_maxlen: int, connections_per_address: int) -> None:
        self._db = db
        self._redis = redis
        self._keys = keys
        self._relay = relay
        self._events_maxlen = events_maxlen
        self._presence = ConsolePresence(redis, keys)
        self.fanout = ChatFanout(redis, keys)
        self.conversations = Conversations(db)
        self.slots = ConnectionSlots(redis, keys, connections_per_address)

    def __repr__(self) -> str:
        return f"<ChatLive {self.fanout!r}>"

    async def within_rate(self, scope: str, who: str, limit: int) -> bool:
        """Count one message of `who` (a visitor or an address: `scope`); False, and not
        counted, when `limit` were sent within the last minute."""
        return await within_rate(self._redis, self._keys, scope, who, limit)

    async def closed_at(self, visitor: str) -> datetime | None:
        """When the visitor last closed their chat: their history starts after it."""
        closed = await self._redis.get(self._keys.chat_closed(visitor))
        return datetime.fromtimestamp(float(closed), UTC) if closed else None

    async def mark_closed(self, visitor: str, at: datetime, *, ttl_s: int) -> None:
        await self._redis.set(self._keys.chat_closed(visitor), at.timestamp(), ex=ttl_s)

    async def mark_seen(self, delivery_id: uuid.UUID, *, ttl_s: int) -> None:
        """The widget showed a reply whose sender has not reported it sent yet."""
        await self._redis.set(self._keys.chat_seen(str(delivery_id)), "1", ex=ttl_s)

    async def take_seen(self, delivery_id: uuid.UUID) -> bool:
        """Whether the widget showed the reply already (the mark goes)."""
        return bool(await self._redis.delete(self._keys.chat_seen(str(delivery_id))))

    async def dispatchers_online(self) -> int:
        return await self._presence.dispatchers_online()

    async def console_event(self, kind: EventType, request_id: uuid.UUID, *,
                            typing: bool | None = None) -> None:
        """An ephemeral console event (typing, a closed chat): straight onto the events
        stream, not through the outbox, as it means nothing a minute later."""
        async with self._db.read() as conn:
            summary = (await summaries_by_id(conn, [request_id])).get(str(request_id))
        if summary is None:
            return
        event: dict[str, object] = {"type": kind, "request": summary}
        if typing is not None:
            event["typing"] = typing
        data = json.dumps(event, separators=(",", ":"))
        await self._redis.xadd(self._keys.events, {"data": data},
                               maxlen=self._events_maxlen, approximate=True)

    async def queue_place(self, request_id: uuid.UUID) -> QueuePlace:
        return await queue_place(self._db, request_id)

    async def queue_transcript(self, *, adapter: str, email: str, visitor: str,
                               lines: Sequence[Line], compose: Compose) -> None:
        """Queue the conversation's transcript by email through `adapter`, on the request of
        its last line (once per conversation and address)."""
        await queue_transcript(self._db, self._relay, adapter=adapter, email=email,
                               visitor=visitor, request_id=lines[-1].request_id,
                               last_line_id=lines[-1].id, compose=compose)
