"""Disabling a dispatcher (admin API) hands every request they hold back to the queue, the
one they claimed in the console and the one they took by answering a call (generic CTI)
alike, each with a release in its history and a console event, as hand-back does."""

from __future__ import annotations

import dataclasses
from typing import Any

from dispatch.handback import NOTE_DISABLED
from hub.model import Role
from hub.settings import ChannelsSettings, PhoneSettings, Secret, Settings
from tests.conftest import DispatcherFactory, HubFactory
from tests.helpers import submit

SECRET = "cti-disable-secret"
CALL = {"from": "0401234999", "to": "0912345678", "direction": "in", "callId": "dis-1"}


async def test_disabling_an_agent_puts_their_requests_back_in_the_queue(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    client = await hub(dataclasses.replace(
        settings, channels=ChannelsSettings(enabled=("webform", "phone_cti")),
        phone=PhoneSettings(cti_secret=Secret(SECRET))))
    admin = await dispatcher(client, role=Role.ADMIN, name="Pääkäyttäjä")
    anna = await dispatcher(client, name="Anna Ajaja")
    account = f"{admin.base}/api/v1/admin/agents/{anna.agent.id}"
    async with admin.http.patch(account, json={"phone_login": "201"}) as resp:
        assert resp.status == 200, await resp.text()
    console = await admin.console()

    order = await submit(anna.http, anna.base, "disable-order-0001", phone="040 111 3333")
    async with anna.http.post(f"{anna.base}/api/v1/requests/{order['id']}/claim") as resp:
        assert resp.status == 200, await resp.text()
    for event, extra in (("newCall", {}), ("answer", {"answeringNumber": "201"})):
        async with client.post("/webhooks/phone/cti", json={"event": event, **CALL, **extra},
                               headers={"X-CTI-Token": SECRET}) as resp:
            assert resp.status == 200, await resp.text()
    held = [r for r in await admin.open_requests() if r["status"] == "claimed"]
    assert len(held) == 2
    assert {r["assigned_agent"]["id"] for r in held} == {str(anna.agent.id)}

    async with admin.http.patch(account, json={"active": False}) as resp:
        assert resp.status == 200, await resp.text()

    wanted = {r["id"] for r in held}
    seen: set[str] = set()

    def both_released(event: dict[str, Any]) -> bool:
        if event["type"] == "request.release":
            seen.add(event["request"]["id"])
            assert event["handling"]["note"] == NOTE_DISABLED
        return seen >= wanted
    await console.until(both_released)
    for request in held:
        detail: dict[str, Any] = await admin.request(request["id"])
        assert (detail["status"], detail["assigned_agent"]) == ("queued", None)
        assert detail["last_agent"]["id"] == str(anna.agent.id)
        last = detail["history"][-1]
        assert (last["action"], last["agent"]["id"], last["note"]) \
            == ("release", str(anna.agent.id), NOTE_DISABLED)
