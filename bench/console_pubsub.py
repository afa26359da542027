"""The event-delivery baseline of bench/console.py: plain Redis pub/sub to as many subscribers
as the bench has consoles, through the hub's own Redis, at the same rate.

Each subscriber is a connection of its own and all of them read in one asyncio loop, as the
bench's consoles read their websockets in one process. A message's latency runs from just
before its PUBLISH is sent to its arrival at a subscriber: the floor that any fan-out over
this Redis, on this machine, starts from.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid

import redis.asyncio as aioredis

SUBSCRIBE_TIMEOUT_S = 30.0
DRAIN_TIMEOUT_S = 30.0


def client(redis_url: str, socket_path: str) -> aioredis.Redis:
    if redis_url:
        return aioredis.Redis.from_url(redis_url)
    return aioredis.Redis(unix_socket_path=socket_path)


async def round_trips(redis_url: str, socket_path: str, subscribers: int, count: int,
                      rate: float) -> tuple[list[float], list[float]]:
    """Seconds from publish to arrival, per subscriber x message; and per message, to its
    first subscriber."""
    channel = f"bench:console:{uuid.uuid4().hex}"
    published: dict[int, float] = {}
    arrivals: list[dict[int, float]] = [{} for _ in range(subscribers)]
    clients = [client(redis_url, socket_path) for _ in range(subscribers + 1)]
    readers: list[asyncio.Task[None]] = []
    try:
        pubsubs = [c.pubsub(ignore_subscribe_messages=True) for c in clients[1:]]
        async with asyncio.timeout(SUBSCRIBE_TIMEOUT_S):
            await asyncio.gather(*(p.subscribe(channel) for p in pubsubs))
        readers = [asyncio.create_task(_read(p, seen, count))
                   for p, seen in zip(pubsubs, arrivals, strict=True)]
        publisher = clients[0]
        began = time.monotonic()
        for i in range(count):
            delay = began + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            published[i] = time.monotonic()
            await publisher.publish(channel, str(i))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(DRAIN_TIMEOUT_S):
                await asyncio.gather(*readers)
        for p in pubsubs:
            await p.aclose()
    finally:
        for task in readers:
            task.cancel()
        for c in clients:
            await c.aclose()
    pairs = [at - published[i] for seen in arrivals for i, at in seen.items()]
    first = [min(seen[i] for seen in arrivals if i in seen) - published[i]
             for i in published if any(i in seen for seen in arrivals)]
    return pairs, first


async def _read(pubsub: aioredis.client.PubSub, seen: dict[int, float], count: int) -> None:
    while len(seen) < count:
        message = await pubsub.get_message(timeout=None)
        if message is not None and message["type"] == "message":
            seen.setdefault(int(message["data"]), time.monotonic())
