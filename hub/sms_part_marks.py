"""Parts of long SMS that are in a stored message already. A gateway resends a webhook it
thinks unanswered, for up to a day; a part it resends after its message is stored must be
dropped, since held again it would become a phantom message of its own."""

from __future__ import annotations

from collections.abc import Iterable

from redis.asyncio import Redis

from hub.keys import Keys

PART_DONE_TTL_S = 24 * 3600


class SmsPartMarks:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys

    async def is_done(self, gateway: str, part_id: str) -> bool:
        return bool(await self._redis.exists(self._keys.sms_part_done(gateway, part_id)))

    async def mark_done(self, gateway: str, part_ids: Iterable[str]) -> None:
        """Remember these parts for a day: call it after their message is stored and
        before they are let go."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for part_id in part_ids:
                pipe.set(self._keys.sms_part_done(gateway, part_id), "1", ex=PART_DONE_TTL_S)
            await pipe.execute()
