"""Webhook events a hub process held when it stopped, or died, are taken over by a process
that was already running within seconds, not after `reclaim_idle_ms`: real hubs (an app in
the test's process, and a `serve` process killed with SIGKILL) sharing the test's Redis and
database, a local receiver over HTTP, the admins' delivery log, and the endpoint's consumer
group read as an operator's redis-cli would."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
from redis.asyncio import Redis

from hub.model import Role
from hub.settings import Settings
from tests.conftest import DispatcherFactory, HubFactory, free_port
from tests.helpers import Dispatcher, eventually
from tests.hub.test_webhooks import (
    SECRET,
    SETTLE_S,
    Receiver,
    deliveries,
    form_post,
    hooked,
    receiver,  # noqa: F401  (the fixture)
)
from tests.hub_process import kill_leftovers, start_hub

GROUP = "webhooks:dispatch"
RECLAIM_IDLE_MS = 120_000  # far longer than the tests wait: no event may wait to look abandoned


async def test_a_running_hub_takes_over_at_once_the_event_a_stopped_hub_was_retrying(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings,
    receiver: Callable[..., Awaitable[Receiver]], raw_redis: Redis,  # noqa: F811
) -> None:
    stream = f"{settings.redis.prefix}stream:events"
    sink = await receiver([503] * 10_000)  # failing until its script is cleared
    hooked_settings = hooked(settings, sink.url, events=("request.created",),
                             reclaim_idle_ms=RECLAIM_IDLE_MS)
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
    admin_second = await dispatcher(second, role=Role.ADMIN)
    before, row = await taken_over_and_delivered(admin_second, sink)

    assert row["event_id"] == failing["event_id"]
    assert row["attempts"] > failing["attempts"]  # its attempts went on from the log's
    assert len(sink.arrivals) == before + 1  # sent once since, not to be de-duplicated
    assert {a.event["id"] for a in sink.arrivals} == {failing["event_id"]}
    assert (await raw_redis.xpending(stream, GROUP))["pending"] == 0


async def taken_over_and_delivered(admin: Dispatcher, sink: Receiver
                                   ) -> tuple[int, dict[str, Any]]:
    """Once the running hub has tried the one event the other left (its attempts grew in
    the log), the receiver answers 200; the arrivals before that, and the event's row."""
    async def row() -> dict[str, Any]:
        _status, answer = await deliveries(admin)
        found: dict[str, Any] = answer["deliveries"][0]
        return found
    left_at = (await row())["attempts"]

    async def retried() -> bool | None:
        return True if (await row())["attempts"] > left_at else None
    await eventually(retried, what="the event tried again by the running hub")
    before = len(sink.arrivals)
    sink.script.clear()  # an arrival is answered as a whole: before this, 503; after, 200

    async def delivered() -> dict[str, Any] | None:
        found = await row()
        return found if found["state"] == "delivered" else None
    delivered_row = await eventually(delivered, what="the event delivered by the running hub")
    await asyncio.sleep(SETTLE_S)  # a repeat would show
    return before, delivered_row


def webhooks_config(folder: Path, url: str) -> Path:
    """The `[webhooks]` of `hooked`, as an operator writes them for `serve`."""
    config = folder / "webhooks.toml"
    config.write_text(
        "[webhooks]\nmax_attempts = 50\nbackoff_base_s = 0.05\nbackoff_max_s = 0.3\n"
        f"timeout_s = 5.0\nreclaim_idle_ms = {RECLAIM_IDLE_MS}\n"
        f'[[webhooks.endpoints]]\nname = "dispatch"\nurl = "{url}"\nsecret = "{SECRET}"\n'
        'events = ["request.created"]\n')
    return config


async def test_a_running_hub_takes_over_within_seconds_the_event_a_killed_hub_was_retrying(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings, tmp_path: Path,
    receiver: Callable[..., Awaitable[Receiver]], raw_redis: Redis,  # noqa: F811
) -> None:
    stream = f"{settings.redis.prefix}stream:events"
    sink = await receiver([503] * 10_000)  # failing until its script is cleared
    doomed = start_hub(settings, tmp_path, free_port(), env_settings={
        "TAXICONNECT_CONFIG": str(webhooks_config(tmp_path, sink.url)),
        "TAXICONNECT_REDIS_URL": settings.redis.url.reveal(),
        "TAXICONNECT_REDIS_PREFIX": settings.redis.prefix})
    try:
        await doomed.ready()
        async with aiohttp.ClientSession() as http, http.post(f"{doomed.base}/form", data={
                "name": "Aino Virtanen", "phone": "040 765 4321", "message": "Taksi Kamppiin",
                "submission_token": "takeover-killed-1"}) as answer:
            assert answer.status == 201, await answer.text()
        await eventually(lambda: _some(len(sink.arrivals) >= 2),
                         what="the event failing in the hub to be killed")
        running = await hub(hooked(settings, sink.url, events=("request.created",),
                                   reclaim_idle_ms=RECLAIM_IDLE_MS))
        await asyncio.sleep(SETTLE_S)  # past its start, where it first looks for events

        kill_leftovers([doomed], set())  # SIGKILL: no clean stop, nothing handed back
        admin = await dispatcher(running, role=Role.ADMIN)
        before, row = await taken_over_and_delivered(admin, sink)
    finally:
        kill_leftovers([doomed], set())

    assert row["attempts"] >= 3  # its attempts went on from the log's
    assert len(sink.arrivals) == before + 1
    assert {a.event["id"] for a in sink.arrivals} == {row["event_id"]}
    assert (await raw_redis.xpending(stream, GROUP))["pending"] == 0


async def _some(condition: bool) -> bool | None:
    return True if condition else None
