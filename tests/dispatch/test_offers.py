"""Offers: in a lane with the offer strategy a new request goes to the longest-idle available
dispatcher, moves on to the next when the offer times out or is declined, and a returning
passenger's request goes first to the dispatcher who handled their last one."""

from __future__ import annotations

import dataclasses
from typing import Any

from aiohttp.test_utils import TestClient

from hub.model import Role
from hub.settings import QueueSettings, Settings
from tests.conftest import DispatcherFactory, HubFactory
from tests.helpers import WAIT_S, Console, Dispatcher, eventually, submit

ORDERS: dict[str, Any] = {
    "key": "orders", "name_fi": "Tilaukset", "name_en": "Orders", "strategy": "offer",
    "offer_timeout_s": 5, "target_wait_s": 60,
}


async def _hub(hub: HubFactory, settings: Settings) -> TestClient[Any, Any]:
    return await hub(dataclasses.replace(settings, queue=QueueSettings(offer_check_s=0.1)))


async def _lane(admin: Dispatcher, lane: dict[str, Any], **rule: Any) -> None:
    async with admin.http.post(f"{admin.base}/api/v1/admin/lanes", json=lane) as resp:
        assert resp.status == 201, await resp.text()
    async with admin.http.post(f"{admin.base}/api/v1/admin/routing-rules",
                               json={"lane": lane["key"], **rule}) as resp:
        assert resp.status == 201, await resp.text()


async def _offer_to(console: Console, request_id: str, name: str) -> dict[str, Any]:
    """The console's next offer event for the request; it must be to `name`."""
    events = await console.until(
        lambda e: e["type"] == "request.offer" and e["request"]["id"] == request_id, 2 * WAIT_S)
    offer = events[-1]["request"]["offer"]
    assert offer["agent"]["name"] == name, offer
    return events[-1]


async def _act(agent: Dispatcher, request_id: str, action: str) -> tuple[int, Any]:
    async with agent.http.post(f"{agent.base}/api/v1/requests/{request_id}/{action}") as resp:
        return resp.status, await resp.json()


async def test_unanswered_offer_moves_to_the_next_available_dispatcher(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    client = await _hub(hub, settings)
    admin = await dispatcher(client, role=Role.ADMIN, name="Admin")
    await _lane(admin, {**ORDERS, "offer_timeout_s": 5}, channel="webform")
    anna = await dispatcher(client, name="Anna")
    ben = await dispatcher(client, name="Ben")
    anna_console = await anna.console()  # Anna is online first: idle the longest
    await _online(admin, anna)
    ben_console = await ben.console()

    receipt = await submit(admin.http, admin.base, "offer-moves-1", phone="040 555 0001")
    request_id = receipt["id"]
    first = await _offer_to(ben_console, request_id, "Anna")
    assert first["request"]["lane"] == "orders"
    status, body = await _act(ben, request_id, "claim")
    assert status == 409 and "offered to Anna" in body["error"], body

    await _offer_to(anna_console, request_id, "Anna")
    await _offer_to(anna_console, request_id, "Ben")  # Anna let it lapse
    status, body = await _act(ben, request_id, "claim")
    assert status == 200, body
    assert body["request"]["assigned_agent"]["id"] == str(ben.agent.id)
    assert body["request"]["offer"] is None

    history = [(h["action"], h["agent"]["name"]) for h in (await ben.request(request_id))
               ["history"]]
    assert history == [("offer", "Anna"), ("offer_timeout", "Anna"), ("offer", "Ben"),
                       ("claim", "Ben")]


async def test_declined_offer_moves_on_and_is_not_offered_back(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    client = await _hub(hub, settings)
    admin = await dispatcher(client, role=Role.ADMIN, name="Admin")
    # A keyword stem: "tilau" finds tilaus, tilauksen.
    await _lane(admin, {**ORDERS, "offer_timeout_s": 60}, keywords=["tilau"])
    anna = await dispatcher(client, name="Anna")
    ben = await dispatcher(client, name="Ben")
    anna_console = await anna.console()
    await _online(admin, anna)
    await ben.console()

    receipt = await submit(admin.http, admin.base, "offer-decline-1", phone="040 555 0002",
                           message="Tilauksen muutos: kaksi matkustajaa")
    request_id = receipt["id"]
    await _offer_to(anna_console, request_id, "Anna")
    assert (await _act(anna, request_id, "decline"))[0] == 200
    await _offer_to(anna_console, request_id, "Ben")
    assert (await _act(ben, request_id, "decline"))[0] == 200

    async def unoffered() -> dict[str, Any] | None:
        found = await anna.request(request_id)
        return found if found["offer"] is None and len(found["history"]) == 4 else None
    settled = await eventually(unoffered, what="the request left unoffered in the queue")
    assert [h["action"] for h in settled["history"]] == ["offer", "decline", "offer", "decline"]
    assert settled["status"] == "queued"
    status, body = await _act(anna, request_id, "decline")
    assert status == 409, body
    assert (await _act(anna, request_id, "claim"))[0] == 200  # the shared queue still works


async def test_returning_passenger_goes_first_to_their_last_dispatcher(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    client = await _hub(hub, settings)
    admin = await dispatcher(client, role=Role.ADMIN, name="Admin")
    await _lane(admin, {**ORDERS, "strategy": "manual", "last_agent_window_s": 3600},
                channel="webform")
    anna = await dispatcher(client, name="Anna")
    ben = await dispatcher(client, name="Ben")
    anna_console = await anna.console()
    ben_console = await ben.console()

    first = await submit(admin.http, admin.base, "offer-last-1", phone="040 555 0003")
    await ben.wait_for_status(first["id"], "queued")
    assert (await _act(ben, first["id"], "claim"))[0] == 200
    assert (await _act(ben, first["id"], "resolve"))[0] == 200

    stranger = await submit(admin.http, admin.base, "offer-last-2", phone="040 555 0004")
    again = await submit(admin.http, admin.base, "offer-last-3", phone="040 555 0003")
    assert again["id"] != first["id"]
    await _offer_to(anna_console, again["id"], "Ben")
    assert (await _act(ben, again["id"], "claim"))[0] == 200
    # A manual lane offers only to the last dispatcher: a new passenger just waits.
    assert (await anna.request(stranger["id"]))["offer"] is None
    await ben_console.close()


async def test_no_offer_to_the_away_or_to_a_dispatcher_at_capacity(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    client = await _hub(hub, settings)
    admin = await dispatcher(client, role=Role.ADMIN, name="Admin")
    await _lane(admin, {**ORDERS, "capacity": 1, "offer_timeout_s": 60}, channel="webform")
    anna = await dispatcher(client, name="Anna")
    ben = await dispatcher(client, name="Ben")
    anna_console = await anna.console()
    await ben.console()
    async with ben.http.put(f"{ben.base}/api/v1/me/presence", json={"state": "away"}) as resp:
        assert resp.status == 200

    one = await submit(admin.http, admin.base, "offer-cap-1", phone="040 555 0005")
    await _offer_to(anna_console, one["id"], "Anna")
    assert (await _act(anna, one["id"], "claim"))[0] == 200

    two = await submit(admin.http, admin.base, "offer-cap-2", phone="040 555 0006")
    await anna.wait_for_status(two["id"], "queued")
    status, body = await _act(anna, two["id"], "claim")  # the lane allows one at a time
    assert status == 409 and "allows 1" in body["error"], body
    async with ben.http.put(f"{ben.base}/api/v1/me/presence",
                            json={"state": "available"}) as resp:
        assert resp.status == 200
    await _offer_to(anna_console, two["id"], "Ben")  # Ben is back; Anna is at capacity
    history = (await anna.request(two["id"]))["history"]
    assert [h["agent"]["name"] for h in history if h["action"] == "offer"] == ["Ben"]


async def _online(watcher: Dispatcher, who: Dispatcher) -> None:
    """Wait until `who` is online: a console's first beat, which makes its dispatcher
    available since that moment, runs in a task of its own after the hello. Whoever must be
    idle the longest is waited for before the next console connects."""
    async def online() -> bool | None:
        async with watcher.http.get(f"{watcher.base}/api/v1/presence") as resp:
            assert resp.status == 200, await resp.text()
            entries = (await resp.json())["agents"]
        return any(e["agent"]["id"] == str(who.agent.id) and e["online"]
                   for e in entries) or None

    await eventually(online, what=f"{who.agent.name} online")
