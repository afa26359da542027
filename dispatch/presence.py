"""The presence list and its live events: who is on and what they hold, announced to the
consoles that asked (the presence store itself is `hub.console_presence`)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
import weakref
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import select

from hub import schema
from hub.console_presence import ConsolePresence, Presence
from hub.database import Database
from hub.events import EventType
from hub.keys import Keys
from hub.model import RequestStatus, Role

log = logging.getLogger(__name__)

FANOUT_READ_S = 0.25  # also how long a stop waits for the fan-out to notice
FANOUT_RETRY_S = 1.0


class PresenceBoard:
    """Who is on and what they hold: the presence list and its `presence.changed` events.

    Presence events are published on one Redis pub/sub channel, not the request event
    stream: they describe the moment and are worth nothing replayed (a console reloads the
    list whenever its socket says hello), and the stream's readers expect every event to be
    about a request. Each process's PresenceFanout passes them to its consoles that asked.
    """

    def __init__(self, db: Database, redis: Redis, keys: Keys) -> None:
        self._db = db
        self._redis = redis
        self._keys = keys
        self.presence = ConsolePresence(redis, keys)

    async def entries(self, agent_ids: Iterable[uuid.UUID] | None = None
                      ) -> list[dict[str, Any]]:
        """Active dispatchers and admins (or just these ones), by name, with their presence
        and the requests they hold."""
        a, r = schema.agents, schema.contact_requests
        query = select(a.c.id, a.c.name).where(a.c.active, a.c.role != Role.EXTERNAL.value)
        if agent_ids is not None:
            query = query.where(a.c.id.in_(list(agent_ids)))
        async with self._db.read() as conn:
            agents = (await conn.execute(query.order_by(a.c.name))).all()
            holding: dict[str, list[str]] = {}
            if agents:
                held = await conn.execute(
                    select(r.c.assigned_agent_id, r.c.reference)
                    .where(r.c.status == RequestStatus.CLAIMED.value,
                           r.c.assigned_agent_id.in_([i for i, _ in agents]))
                    .order_by(r.c.case_started_at))
                for holder, reference in held:
                    holding.setdefault(str(holder), []).append(reference)
        found = await self.presence.of(str(i) for i, _ in agents)
        return [_entry(str(i), name, found[str(i)], holding.get(str(i), []))
                for i, name in agents]

    async def announce(self, agent_id: uuid.UUID) -> None:
        """Tell every console of the agent's presence now."""
        entries = await self.entries([agent_id])
        if not entries:
            return
        data = json.dumps({"type": EventType.PRESENCE_CHANGED, **entries[0]}, separators=(",", ":"))
        await self._redis.publish(self._keys.presence_changes, data)


def _entry(agent_id: str, name: str, presence: Presence,
           references: list[str]) -> dict[str, Any]:
    since = presence.since
    return {
        "agent": {"id": agent_id, "name": name},
        "state": presence.state.value,
        "chosen_state": presence.chosen.value,
        "online": presence.online,
        "since": datetime.fromtimestamp(since, UTC).isoformat() if since is not None else None,
        "holding": {"count": len(references), "references": references},
    }


class PresenceFanout:
    """One subscription per process to presence changes, sent to this process's consoles
    that asked for them as `{"type": "presence", "event": {...}}` frames."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._channel = keys.presence_changes
        self._sockets: weakref.WeakSet[web.WebSocketResponse] = weakref.WeakSet()
        self._sending: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()
        self.received = 0

    def __repr__(self) -> str:
        return f"<PresenceFanout consoles={len(self._sockets)} received={self.received}>"

    def add(self, ws: web.WebSocketResponse) -> None:
        self._sockets.add(ws)

    def discard(self, ws: web.WebSocketResponse) -> None:
        self._sockets.discard(ws)

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        while not self._stopping.is_set():
            pubsub = self._redis.pubsub()
            try:
                await pubsub.subscribe(self._channel)
                while not self._stopping.is_set():
                    message = await pubsub.get_message(ignore_subscribe_messages=True,
                                                       timeout=FANOUT_READ_S)
                    if message is not None and message["type"] == "message":
                        self._send(_text(message["data"]))
            except (RedisError, OSError) as exc:
                log.warning("presence fan-out lost its subscription: %s; resubscribing", exc)
                await asyncio.sleep(FANOUT_RETRY_S)
            finally:
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()

    def _send(self, data: str) -> None:
        self.received += 1
        frame = '{"type":"presence","event":' + data + "}"
        for ws in list(self._sockets):
            if ws.closed:
                continue
            task = asyncio.ensure_future(_send_quietly(ws, frame))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)


async def _send_quietly(ws: web.WebSocketResponse, frame: str) -> None:
    with contextlib.suppress(ConnectionError, RuntimeError):
        await ws.send_str(frame)


def _text(member: bytes | str) -> str:
    return member.decode() if isinstance(member, bytes) else member
