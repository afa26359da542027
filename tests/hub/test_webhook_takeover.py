"""Webhook events a hub process held when it stopped are taken over at once by a process
that was already running, not after `reclaim_idle_ms`: real hub apps sharing the test's
Redis and database, a local receiver over HTTP, the admins' delivery log, and the endpoint's
consumer group read as an operator's redis-cli would."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis

from hub.model import Role
from hub.settings import Settings
from tests.conftest import DispatcherFactory, HubFactory
from tests.helpers import eventually
from tests.hub.test_webhooks import (
    SETTLE_S,
    Receiver,
    deliveries,
    form_post,
    hooked,
    receiver,  # noqa: F401  (the fixture)
)

GROUP = "webhooks:dispatch"


async def test_a_running_hub_takes_over_at_once_the_event_a_stopped_hub_was_retrying(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings,
    receiver: Callable[..., Awaitable[Receiver]], raw_redis: Redis,  # noqa: F811
) -> None:
    stream = f"{settings.redis.prefix}stream:events"
    sink = await receiver([503] * 10_000)  # failing until its script is cleared
    # Far longer than the test waits: the event must not wait to look abandoned.
    hooked_settings = hooked(settings, sink.url, events=("request.created",),
                             reclaim_idle_ms=120_000)
    first = await hub(hooked_settings)
    admin = await dispatcher(first, role=Role.ADMIN)
    await form_post(first, "takeover-1")  # only the first hub runs: it takes the event

    async def retried() -> list[dict[str, Any]] | None:
        _status, answer = await deliveries(admin, state="pending")
        return [r for r in answer["deliveries"] if r["attempts"] >= 2] or None
    [failing] = await eventually(retried, what="the event failing in the first hub")

    second = await hub(hooked_settings)
    # Past its start, where a hub first looks for events to take over (the second look
    # comes reclaim_idle_ms / 2 later).
    await asyncio.sleep(SETTLE_S)

    await first.close()  # it stops with the event in hand
    before = len(sink.arrivals)
    sink.script.clear()  # the receiver answers 200 from now on
    admin_second = await dispatcher(second, role=Role.ADMIN)

    async def delivered() -> dict[str, Any] | None:
        _status, answer = await deliveries(admin_second, state="delivered")
        return next(iter(answer["deliveries"]), None)
    row = await eventually(delivered, what="the event delivered by the running hub")
    await asyncio.sleep(SETTLE_S)  # a repeat would show

    assert row["event_id"] == failing["event_id"]
    assert row["attempts"] > failing["attempts"]  # its attempts went on from the log's
    assert len(sink.arrivals) == before + 1  # sent once since, not to be de-duplicated
    assert {a.event["id"] for a in sink.arrivals} == {failing["event_id"]}
    assert (await raw_redis.xpending(stream, GROUP))["pending"] == 0
