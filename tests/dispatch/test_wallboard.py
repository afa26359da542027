"""The wallboard through GET /api/v1/wallboard: per lane the requests waiting now and the
longest wait, today's contacts, answered and service level, and the dispatchers available as
the presence list has them; external users refused. SQLite, and PostgreSQL when set."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hub.model import Role
from tests.conftest import DispatcherFactory, HubFactory
from tests.helpers import Dispatcher, submit


async def _json(agent: Dispatcher, path: str, method: str = "GET",
                body: dict[str, Any] | None = None) -> tuple[int, Any]:
    async with agent.http.request(method, f"{agent.base}{path}", json=body) as resp:
        return resp.status, await resp.json()


async def test_lanes_queue_wait_and_todays_service_level(
    hub: HubFactory, dispatcher: DispatcherFactory
) -> None:
    client = await hub()
    admin = await dispatcher(client, role=Role.ADMIN)
    busy = await dispatcher(client)
    assert (await _json(admin, "/api/v1/admin/lanes", "POST", {
        "key": "orders", "name_fi": "Tilaukset", "name_en": "Orders", "position": 9,
        "target_wait_s": 10}))[0] == 201
    assert (await _json(admin, "/api/v1/admin/routing-rules", "POST",
                        {"lane": "orders", "keywords": ["tilaus"]}))[0] == 201
    await admin.console()
    await busy.console()
    assert (await _json(busy, "/api/v1/me/presence", "PUT", {"state": "busy"}))[0] == 200

    ids = [(await submit(admin.http, admin.base, f"wallboard-{i:04d}", phone=f"040 555 02{i:02d}",
                         message=text))["id"]
           for i, text in enumerate(("Kysymys", "Toinen kysymys", "Tilaus Kamppiin"))]
    for request_id in ids:
        await admin.wait_for_status(request_id, "queued")
    async with admin.http.post(f"{admin.base}/api/v1/requests/{ids[0]}/claim") as resp:
        assert resp.status == 200
    waiting = {i: await admin.request(i) for i in ids[1:]}

    status, board = await _json(admin, "/api/v1/wallboard")
    assert status == 200, board
    at = datetime.fromisoformat(board["at"])
    lanes = {lane["key"]: lane for lane in board["lanes"]}
    assert [lane["key"] for lane in board["lanes"]][-1] == "orders"  # by position
    default, orders = waiting[ids[1]]["lane"], waiting[ids[2]]["lane"]
    assert orders == "orders" and default != "orders"
    for request_id, lane in ((ids[1], default), (ids[2], orders)):
        queued_at = datetime.fromisoformat(waiting[request_id]["timings"]["queued_at"])
        assert lanes[lane]["queued"] == 1
        assert lanes[lane]["longest_wait_s"] == round((at - queued_at).total_seconds(), 1)
    assert (lanes[default]["contacts_today"], lanes[default]["answered_today"],
            lanes[default]["service_level_pct"]) == (2, 1, 100.0)
    assert (lanes[orders]["contacts_today"], lanes[orders]["answered_today"],
            lanes[orders]["service_level_pct"], lanes[orders]["target_wait_s"]) \
        == (1, 0, None, 10)
    assert lanes["orders"]["name"] == {"fi": "Tilaukset", "en": "Orders"}

    status, people = await _json(admin, "/api/v1/presence")
    assert status == 200
    assert board["dispatchers"] == {
        "available": sum(p["state"] == "available" for p in people["agents"]),
        "online": sum(p["online"] for p in people["agents"])}
    assert board["dispatchers"]["online"] == 2 and board["dispatchers"]["available"] == 1

    outsider = await dispatcher(client, role=Role.EXTERNAL)
    assert (await _json(outsider, "/api/v1/wallboard"))[0] == 403
