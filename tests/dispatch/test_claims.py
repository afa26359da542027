"""A claim is exclusive across hub processes: one winner, and every loser is told who holds it."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.conftest import DispatcherFactory, HubFactory, server_url
from tests.helpers import Dispatcher, submit

CLAIMANTS = 20


async def _claim(dispatcher: Dispatcher, base: str, request_id: str) -> tuple[int, Any]:
    async with dispatcher.http.post(f"{base}/api/v1/requests/{request_id}/claim") as resp:
        return resp.status, await resp.json()


async def test_twenty_concurrent_claims_on_two_processes_have_one_winner(
    hub: HubFactory, dispatcher: DispatcherFactory
) -> None:
    first, second = await hub(), await hub()
    bases = [server_url(first), server_url(second)]
    agents: list[Dispatcher] = [
        await dispatcher(first, name=f"Dispatcher {n:02d}") for n in range(CLAIMANTS)
    ]
    receipt = await submit(agents[0].http, bases[0], "tok-claim-race-01")
    request_id = receipt["id"]
    await agents[0].wait_for_status(request_id, "queued")

    answers = await asyncio.wait_for(asyncio.gather(*(
        _claim(agent, bases[n % 2], request_id) for n, agent in enumerate(agents)
    )), 30)

    statuses = sorted(status for status, _ in answers)
    assert statuses == [200] + [409] * (CLAIMANTS - 1), answers
    winner_index = next(n for n, (status, _) in enumerate(answers) if status == 200)
    winner = agents[winner_index].agent
    holder = {"id": str(winner.id), "name": winner.name}
    won = answers[winner_index][1]
    assert won["changed"] is True
    assert won["request"]["assigned_agent"] == holder
    for status, body in answers:
        if status == 409:
            assert body["held_by"] == holder, body
            assert body["status"] == "claimed"
            assert winner.name in body["error"]

    for base in bases:  # both processes tell the same story
        found = await agents[1].request(request_id, base)
        assert found["status"] == "claimed"
        assert found["assigned_agent"] == holder
        assert found["last_agent"] == holder
        claims = [h for h in found["history"] if h["action"] == "claim"]
        assert [h["agent"] for h in claims] == [holder]
        assert len(found["history"]) == 1


async def test_repeated_claim_by_the_holder_changes_nothing(
    hub: HubFactory, dispatcher: DispatcherFactory
) -> None:
    client = await hub()
    agent = await dispatcher(client)
    receipt = await submit(agent.http, agent.base, "tok-claim-again-01")
    first = await _claim(agent, agent.base, receipt["id"])
    again = await _claim(agent, agent.base, receipt["id"])
    assert (first[0], first[1]["changed"]) == (200, True)
    assert (again[0], again[1]["changed"]) == (200, False)
    found = await agent.request(receipt["id"])
    assert [h["action"] for h in found["history"]] == ["claim"]
