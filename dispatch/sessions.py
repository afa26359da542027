"""Dispatcher sessions: a random token in an HttpOnly cookie, its hash kept in Redis.

Any hub process can check any session, and only a hash of the token is stored, so a copy of
Redis does not hand out logged-in sessions.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid

from redis.asyncio import Redis

from hub.keys import Keys

COOKIE_NAME = "tc_session"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Sessions:
    def __init__(self, redis: Redis, keys: Keys, ttl_s: int) -> None:
        self._redis = redis
        self._keys = keys
        self.ttl_s = ttl_s

    async def create(self, agent_id: uuid.UUID) -> str:
        token = secrets.token_urlsafe(32)
        await self._redis.set(self._keys.session(_hash(token)),
                              json.dumps({"agent_id": str(agent_id)}), ex=self.ttl_s)
        return token

    async def agent_of(self, token: str) -> uuid.UUID | None:
        if not token or len(token) > 100:
            return None
        data = await self._redis.get(self._keys.session(_hash(token)))
        if data is None:
            return None
        return uuid.UUID(json.loads(data)["agent_id"])

    async def end(self, token: str) -> None:
        await self._redis.delete(self._keys.session(_hash(token)))
