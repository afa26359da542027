"""Dispatcher presence, across every hub process: live consoles and chosen states.

In the core because both sides read it: dispatch (offers, the presence list, the console
socket) and the chat channel, which asks `dispatchers_online` before promising a live answer.
The list and its events are dispatch's (dispatch.presence).

Each open console keeps an entry in one Redis sorted set, scored by when it lapses; the
console refreshes it while the socket lives and removes it when the socket closes, and a
process that dies leaves entries that simply lapse. That set alone decides who is *online*.

Each dispatcher also has a presence hash: the state they chose (available, busy, away,
offline), whether their console was last seen live (`online`, the flag the transitions below
flip once, atomically, so one process announces each change), since when, and when their
last console went (`gone_at`). A console connecting to a dispatcher who had none makes an
"offline" (or never set) state "available"; a state chosen otherwise is kept.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, cast

from redis.asyncio import Redis

from hub.keys import Keys

LAPSE_S = 45.0  # a console not heard from this long counts as gone


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
        return {_text(cast(str, m)).partition(":")[0] for m in members}

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
