"""An external user's console hears only of requests assigned to them, live and on resume."""

from __future__ import annotations

from hub.model import Role
from tests.conftest import DispatcherFactory, HubFactory
from tests.helpers import submit


async def test_external_console_gets_only_its_own_requests(
    hub: HubFactory, dispatcher: DispatcherFactory
) -> None:
    client = await hub()
    team = await dispatcher(client)
    partner = await dispatcher(client, role=Role.EXTERNAL, name="Partner Taxi")
    watching = await partner.console()
    team_console = await team.console()

    hidden = await submit(team.http, team.base, "ext-feed-hidden", phone="+358401110001")
    shown = await submit(team.http, team.base, "ext-feed-shown", phone="+358401110002")
    async with team.http.post(f"{team.base}/api/v1/requests/{shown['id']}/transfer",
                              json={"agent_id": str(partner.agent.id)}) as response:
        assert response.status == 200
    await team_console.until(lambda e: e["type"] == "request.transfer")

    events = await watching.until(lambda e: e["type"] == "request.transfer")
    assert {e["request"]["id"] for e in events} == {shown["id"]}
    assert all(hidden["reference"] not in str(e) for e in events)

    # Resuming from before any of it replays the same view: nothing of the hidden request.
    resumed = await partner.console(last_event_id=watching.hello["last_event_id"])
    replayed = await resumed.events()
    assert {e["request"]["id"] for e in replayed} == {shown["id"]}

    async with partner.http.get(f"{partner.base}/api/v1/agents") as response:
        assert response.status == 403
