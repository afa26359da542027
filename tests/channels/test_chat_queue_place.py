"""A waiting chat passenger is told their place in the lane's queue and the estimated wait,
and the widget hears it change as dispatchers take requests ahead of them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from hub.settings import Settings
from tests.chat_site import ORIGIN, chat_settings, open_widget
from tests.conftest import DispatcherFactory, HubFactory, server_url
from tests.helpers import eventually, http_session


@pytest.fixture
async def passengers() -> AsyncIterator[tuple[aiohttp.ClientSession, aiohttp.ClientSession]]:
    async with http_session() as first, http_session() as second:
        yield first, second


async def test_place_in_queue_is_told_and_moves_up_when_the_one_ahead_is_taken(
    hub: HubFactory, settings: Settings, dispatcher: DispatcherFactory,
    passengers: tuple[aiohttp.ClientSession, aiohttp.ClientSession]
) -> None:
    client = await hub(chat_settings(settings, queue_update_s=0.2))
    anna = await dispatcher(client, name="Anna")
    await anna.console()
    base = server_url(client)
    ahead = await open_widget(passengers[0], base, ORIGIN)
    await ahead.say("Taksi Kamppiin")
    await ahead.next("ack")
    assert (await ahead.next("queue"))["position"] == 1

    behind = await open_widget(passengers[1], base, ORIGIN, lang="en")
    await behind.say("A taxi to the airport please")
    await behind.next("ack")
    told = await behind.next("queue")
    assert told["position"] == 2 and told["wait_s"] is None  # nothing taken yet to go by

    async def first_request() -> str | None:
        found = sorted(await anna.open_requests(), key=lambda r: r["reference"])
        return found[0]["id"] if len(found) == 2 else None
    async with anna.http.post(
            f"{base}/api/v1/requests/{await eventually(first_request)}/claim") as resp:
        assert resp.status == 200
    # An update already on its way may still say 2 (the place is told again whenever the
    # wait estimate changes); the first one after the claim is seen says 1.
    moved = await behind.next("queue", wait_s=5)
    for _ in range(10):
        if moved["position"] != 2:
            break
        moved = await behind.next("queue", wait_s=5)
    assert moved["position"] == 1 and moved["wait_s"] is not None
    assert (await ahead.next("queue", wait_s=5)) == {"type": "queue", "position": None}
