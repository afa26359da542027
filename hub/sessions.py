"""Dispatcher sessions: a random token in an HttpOnly cookie, its hash kept in Redis.

Any hub process can check any session, and only a hash of the token is stored, so a copy of
Redis does not hand out logged-in sessions. Each agent's session hashes are also kept in a set,
so that disabling an account or resetting its password ends every session it has at once.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid

from redis.asyncio import Redis

from hub.keys import Keys

COOKIE_NAME = "tc_session"


MAX_TOKEN_CHARS = 100  # ours are 43; a longer cookie is not one of them


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _may_be_ours(token: str) -> bool:
    """Tokens are URL-safe base64 (secrets.token_urlsafe): a cookie of other bytes, such as
    ones that are not UTF-8 at all, is no session, not an error."""
    return bool(token) and len(token) <= MAX_TOKEN_CHARS and token.isascii()


class Sessions:
    def __init__(self, redis: Redis, keys: Keys, ttl_s: int) -> None:
        self._redis = redis
        self._keys = keys
        self.ttl_s = ttl_s

    def _of_agent(self, agent_id: uuid.UUID) -> str:
        # Named beside the session keys: the hashes of one agent's sessions. It may hold
        # hashes of sessions already expired; deleting those is harmless.
        return f"{self._keys.prefix}agent-sessions:{agent_id}"

    async def create(self, agent_id: uuid.UUID) -> str:
        token = secrets.token_urlsafe(32)
        token_hash = _hash(token)
        of_agent = self._of_agent(agent_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(self._keys.session(token_hash), json.dumps({"agent_id": str(agent_id)}),
                     ex=self.ttl_s)
            pipe.sadd(of_agent, token_hash)
            pipe.expire(of_agent, self.ttl_s)  # outlives every session in it
            await pipe.execute()
        return token

    async def agent_of(self, token: str) -> uuid.UUID | None:
        if not _may_be_ours(token):
            return None
        data = await self._redis.get(self._keys.session(_hash(token)))
        if data is None:
            return None
        return uuid.UUID(json.loads(data)["agent_id"])

    async def agents_of(self, tokens: list[str]) -> list[uuid.UUID | None]:
        """The agent of each session, None where it has ended; one round trip for all."""
        valid = [token for token in tokens if _may_be_ours(token)]
        found: dict[str, uuid.UUID] = {}
        if valid:
            values = await self._redis.mget([self._keys.session(_hash(t)) for t in valid])
            found = {token: uuid.UUID(json.loads(data)["agent_id"])
                     for token, data in zip(valid, values, strict=True) if data is not None}
        return [found.get(token) for token in tokens]

    async def end(self, token: str) -> None:
        if not _may_be_ours(token):
            return
        await self._redis.delete(self._keys.session(_hash(token)))

    async def end_all(self, agent_id: uuid.UUID, *, keep: str | None = None) -> int:
        """End every session of the agent but `keep` (a token); returns how many ended.

        The agent's next API call gets 401 and their open consoles close at their next
        session check, on every hub process.
        """
        of_agent = self._of_agent(agent_id)
        kept = _hash(keep) if keep and _may_be_ours(keep) else None
        hashes = [str(h) for h in await self._redis.smembers(of_agent) if h != kept]
        if not hashes:
            return 0
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(*(self._keys.session(h) for h in hashes))
            pipe.srem(of_agent, *hashes)
            ended, _ = await pipe.execute()
        return int(ended)
