"""Beyond capacity a contact gets a fast 503 with Retry-After; every accepted one is stored."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from hub.settings import IngestSettings, Settings
from tests.conftest import DispatcherFactory, HubFactory
from tests.helpers import order


async def test_overload_is_refused_fast_and_accepted_contacts_all_arrive(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    tight = dataclasses.replace(settings, ingest=IngestSettings(batch_max=4, max_pending=4))
    client = await hub(tight)
    agent = await dispatcher(client)

    async def post(n: int) -> tuple[int, dict[str, Any], str | None]:
        response = await client.post("/api/v1/contact-requests", json=order(
            f"capacity-{n:04d}", phone=f"+35840{n:07d}"))
        return response.status, await response.json(), response.headers.get("Retry-After")

    answers = await asyncio.gather(*(post(n) for n in range(60)))
    accepted = [body for status, body, _ in answers if status == 201]
    refused = [(body, retry) for status, body, retry in answers if status == 503]
    assert len(accepted) + len(refused) == 60, [status for status, _, _ in answers]
    assert refused, "60 contacts at once into a queue of 4 must see some refused"
    assert all(retry == "1" and "capacity" in body["error"] for body, retry in refused)

    stored = {r["reference"] for r in await agent.open_requests()}
    assert {body["reference"] for body in accepted} <= stored
    assert len(stored) == len(accepted)
