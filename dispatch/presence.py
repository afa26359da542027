"""Which dispatchers have a live console, across every hub process.

Each open console keeps an entry in one Redis sorted set, scored by when it lapses; the
console refreshes it while the socket lives and removes it when the socket closes, and a
process that dies leaves entries that simply lapse. The chat widget asks this before
promising a passenger a live answer. (Set presence states — available, busy, away — come
with the dispatching issue.)
"""

from __future__ import annotations

import time
import uuid

from redis.asyncio import Redis

from hub.keys import Keys

LAPSE_S = 45.0  # a console not heard from this long counts as gone


class ConsolePresence:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._key = keys.consoles_online

    async def beat(self, agent_id: uuid.UUID, connection: str) -> None:
        await self._redis.zadd(self._key, {f"{agent_id}:{connection}": time.time() + LAPSE_S})

    async def leave(self, agent_id: uuid.UUID, connection: str) -> None:
        await self._redis.zrem(self._key, f"{agent_id}:{connection}")

    async def dispatchers_online(self) -> int:
        """How many different dispatchers (not external users) have a live console."""
        now = time.time()
        await self._redis.zremrangebyscore(self._key, "-inf", now)
        members = await self._redis.zrangebyscore(self._key, now, "+inf")
        return len({_text(m).partition(":")[0] for m in members})


def _text(member: bytes | str) -> str:
    return member.decode() if isinstance(member, bytes) else member
