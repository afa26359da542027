"""Dispatcher presence, across every hub process: live consoles and chosen states.

Each open console keeps an entry in one Redis sorted set, scored by when it lapses; the
console refreshes it while the socket lives and removes it when the socket closes, and a
process that dies leaves entries that simply lapse. That set alone decides who is *online*.

Each dispatcher also has a presence hash: the state they chose (available, busy, away,
offline), whether their console was last seen live (`online`, the flag the transitions below
flip once, atomically, so one process announces each change), since when, and when their
last console went (`gone_at`). A console connecting to a dispatcher who had none makes an
"offline" (or never set) state "available"; a state chosen otherwise is kept.

The chat widget asks `dispatchers_online` before promising a passenger a live answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from aiohttp import web
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import select

from hub import schema
from hub.database import Database
from hub.keys import Keys
from hub.model import RequestStatus, Role

log = logging.getLogger(__name__)

LAPSE_S = 45.0  # a console not heard from this long counts as gone
FANOUT_READ_S = 1.0  # also how long a stop waits for the fan-out to notice
FANOUT_RETRY_S = 1.0


class PresenceState(StrEnum):
    AVAILABLE = "available"
    BUSY = "busy"
    AWAY = "away"
    OFFLINE = "offline"


ATTENDING = (PresenceState.AVAILABLE.value, PresenceState.BUSY.value)

# KEYS: presence hash, agents set, consoles set. ARGV: agent id, now, this console's member.
# Returns 1 when the dispatcher came online by this console: no other of theirs is live (a
# console closed a moment ago may not have been marked gone yet).
CONNECTED = """
redis.call('SADD', KEYS[2], ARGV[1])
local changed = 0
local alone = true
local prefix = ARGV[1] .. ':'
for _, member in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], ARGV[2], '+inf')) do
  if member ~= ARGV[3] and string.sub(member, 1, string.len(prefix)) == prefix then
    alone = false
  end
end
if alone or redis.call('HGET', KEYS[1], 'online') ~= '1' then
  local state = redis.call('HGET', KEYS[1], 'state')
  if (not state) or state == 'offline' then
    redis.call('HSET', KEYS[1], 'state', 'available')
  end
  redis.call('HSET', KEYS[1], 'online', '1')
  redis.call('HDEL', KEYS[1], 'gone_at')
  changed = 1
end
if changed == 1 then redis.call('HSET', KEYS[1], 'since', ARGV[2]) end
return changed
"""

# KEYS: presence hash, agents set. ARGV: agent id, now, state.
CHOSEN = """
redis.call('SADD', KEYS[2], ARGV[1])
if redis.call('HGET', KEYS[1], 'state') == ARGV[3] then return 0 end
redis.call('HSET', KEYS[1], 'state', ARGV[3], 'since', ARGV[2])
return 1
"""

# KEYS: presence hash, consoles set. ARGV: agent id, now. Marks the dispatcher gone when the
# hash says online and no console of theirs is live, in one step: a console connecting at
# the same moment cannot be overwritten.
GONE = """
if redis.call('HGET', KEYS[1], 'online') ~= '1' then return 0 end
local prefix = ARGV[1] .. ':'
for _, member in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], ARGV[2], '+inf')) do
  if string.sub(member, 1, string.len(prefix)) == prefix then return 0 end
end
redis.call('HSET', KEYS[1], 'online', '0', 'gone_at', ARGV[2], 'since', ARGV[2])
return 1
"""


@dataclass(frozen=True, slots=True)
class Presence:
    """One dispatcher's presence as Redis has it."""

    agent_id: str
    chosen: PresenceState
    online: bool  # a console of theirs is live now
    since: float | None  # unix seconds of the last change of state or of being online
    gone_at: float | None  # when their last console went, while they have none

    @property
    def state(self) -> PresenceState:
        """What colleagues see: the chosen state while a console is live, else offline."""
        return self.chosen if self.online else PresenceState.OFFLINE


class ConsolePresence:
    """Live consoles and chosen states in Redis."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys
        self._key = keys.consoles_online

    async def beat(self, agent_id: uuid.UUID, connection: str) -> None:
        """Keep one console live for LAPSE_S more seconds."""
        await self._redis.zadd(self._key, {f"{agent_id}:{connection}": time.time() + LAPSE_S})

    async def leave(self, agent_id: uuid.UUID, connection: str) -> None:
        """One console closed."""
        await self._redis.zrem(self._key, f"{agent_id}:{connection}")

    async def connected(self, agent_id: uuid.UUID, connection: str) -> bool:
        """A console of the agent's is live (call after its first beat); True when the
        dispatcher came online by it."""
        agent = str(agent_id)
        return bool(await self._redis.eval(
            CONNECTED, 3, self._keys.presence(agent), self._keys.presence_agents, self._key,
            agent, repr(time.time()), f"{agent}:{connection}"))

    async def choose(self, agent_id: uuid.UUID, state: PresenceState) -> bool:
        """The dispatcher chose a state; True when it differs from the one they had."""
        agent = str(agent_id)
        return bool(await self._redis.eval(
            CHOSEN, 2, self._keys.presence(agent), self._keys.presence_agents,
            agent, repr(time.time()), state.value))

    async def mark_gone(self, agent_ids: Iterable[str]) -> list[str]:
        """Of these agents, the ones just found to have no live console left (each found by
        exactly one caller, on whichever process)."""
        agents = list(agent_ids)
        if not agents:
            return []
        now = repr(time.time())
        # Queued, not awaited: awaiting a queued command of a cluster pipeline empties it.
        async with self._redis.pipeline(transaction=False) as pipe:
            for agent in agents:
                pipe.eval(GONE, 2, self._keys.presence(agent), self._key, agent, now)
            results = await pipe.execute()
        return [agent for agent, gone in zip(agents, results, strict=True) if gone]

    async def live_agents(self) -> set[str]:
        """Ids of the agents with a live console."""
        members = await self._redis.zrangebyscore(self._key, time.time(), "+inf")
        return {_text(m).partition(":")[0] for m in members}

    async def known_agents(self) -> list[str]:
        """Ids of every agent with a presence hash."""
        return sorted(_text(m) for m in await self._redis.smembers(self._keys.presence_agents))

    async def of(self, agent_ids: Iterable[str]) -> dict[str, Presence]:
        """The presence of each of these agents (offline for one never seen)."""
        agents = list(agent_ids)
        live = await self.live_agents()
        async with self._redis.pipeline(transaction=False) as pipe:
            for agent in agents:
                pipe.hgetall(self._keys.presence(agent))
            hashes = await pipe.execute()
        return {agent: _presence(agent, fields, agent in live)
                for agent, fields in zip(agents, hashes, strict=True)}

    async def dispatchers_online(self) -> int:
        """How many different dispatchers (not external users) have a live console and are
        available or busy (not away, not offline)."""
        now = time.time()
        await self._redis.zremrangebyscore(self._key, "-inf", now)
        found = await self.of(await self.live_agents())
        return sum(1 for p in found.values() if p.state.value in ATTENDING)


def _presence(agent: str, fields: dict[Any, Any], online: bool) -> Presence:
    values = {_text(k): _text(v) for k, v in fields.items()}
    try:
        chosen = PresenceState(values.get("state", "available"))
    except ValueError:
        chosen = PresenceState.AVAILABLE
    return Presence(agent, chosen, online, _float(values.get("since")),
                    None if online else _float(values.get("gone_at")))


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _text(member: bytes | str) -> str:
    return member.decode() if isinstance(member, bytes) else member


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
        data = json.dumps({"type": "presence.changed", **entries[0]}, separators=(",", ":"))
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
