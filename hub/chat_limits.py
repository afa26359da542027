"""Limits shared by every hub process, kept in Redis: open widget sockets per client
address, and messages per minute per visitor and per address (a sliding window, so a
burst cannot hide across a minute boundary)."""

from __future__ import annotations

import time
import uuid

from redis.asyncio import Redis

from hub.keys import Keys

# A socket of a process that died stops counting after this long; live sockets refresh
# their slot well within it.
SLOT_LAPSE_S = 60.0
WINDOW_S = 60.0

# KEYS: the address's set. ARGV: now, lapse time of the new slot, limit, member, key ttl.
TAKE_SLOT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""

# KEYS: the log. ARGV: now, window start, limit, member, key ttl.
COUNT_IN_WINDOW = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""


class ConnectionSlots:
    """One slot per open widget socket, at most `limit` per client address."""

    def __init__(self, redis: Redis, keys: Keys, limit: int) -> None:
        self._redis = redis
        self._keys = keys
        self._limit = limit

    async def take(self, address: str, slot: str) -> bool:
        now = time.time()
        taken = await self._redis.eval(
            TAKE_SLOT, 1, self._keys.chat_connections(address), now, now + SLOT_LAPSE_S,
            self._limit, slot, int(SLOT_LAPSE_S * 2))
        return bool(taken)

    async def refresh(self, address: str, slot: str) -> None:
        await self._redis.zadd(self._keys.chat_connections(address),
                               {slot: time.time() + SLOT_LAPSE_S}, xx=True)

    async def release(self, address: str, slot: str) -> None:
        await self._redis.zrem(self._keys.chat_connections(address), slot)


async def within_rate(redis: Redis, keys: Keys, scope: str, who: str, limit: int) -> bool:
    """Count one message of `who`; False (and not counted) when `limit` were sent within
    the last minute."""
    now = time.time()
    allowed = await redis.eval(
        COUNT_IN_WINDOW, 1, keys.chat_rate(scope, who), now, now - WINDOW_S, limit,
        uuid.uuid4().hex, int(WINDOW_S) + 1)
    return bool(allowed)
