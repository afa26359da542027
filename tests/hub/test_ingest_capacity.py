"""Beyond capacity a contact gets a fast 503 with Retry-After; every accepted one is stored."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest

from hub.settings import IngestSettings, Settings
from tests.conftest import DispatcherFactory, HubFactory
from tests.helpers import order


@pytest.mark.parametrize("limits", [
    IngestSettings(batch_max=4, max_pending=4),  # the commit queue is full
    IngestSettings(max_in_flight=5),  # too many contacts being handled at once
], ids=["queue", "in-flight"])
async def test_overload_is_refused_fast_and_accepted_contacts_all_arrive(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings, limits: IngestSettings
) -> None:
    tight = dataclasses.replace(settings, ingest=limits)
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
    assert refused, "60 contacts at once against a limit of 4 or 5 must see some refused"
    assert all(retry == "1" and "capacity" in body["error"] for body, retry in refused)

    stored = {r["reference"] for r in await agent.open_requests()}
    assert {body["reference"] for body in accepted} <= stored
    assert len(stored) == len(accepted)


async def test_a_refused_form_gets_a_short_page_telling_the_passenger_to_go_back(
    hub: HubFactory, settings: Settings
) -> None:
    client = await hub(dataclasses.replace(settings, ingest=IngestSettings(max_in_flight=2)))

    async def post(n: int) -> tuple[int, str, str | None]:
        response = await client.post("/form?lang=en", data={
            "phone": f"+35841{n:07d}", "message": "Taxi please",
            "submission_token": f"form-busy-{n:04d}"})
        return response.status, await response.text(), response.headers.get("Retry-After")

    answers = await asyncio.gather(*(post(n) for n in range(40)))
    busy = [(text, retry) for status, text, retry in answers if status == 503]
    assert busy and any(status == 201 for status, _, _ in answers)
    assert all(retry == "1" and "Back button" in text for text, retry in busy)


async def test_clients_trickling_their_bodies_do_not_hold_passengers_places(
    hub: HubFactory, settings: Settings
) -> None:
    client = await hub(dataclasses.replace(settings, ingest=IngestSettings(max_in_flight=2)))
    host, port = client.server.host, client.server.port
    trickling = []
    for path in ("/api/v1/contact-requests", "/form", "/api/v1/contact-requests", "/form"):
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(f"POST {path} HTTP/1.1\r\nHost: {host}\r\n"
                     "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{".encode())
        await writer.drain()
        trickling.append((reader, writer))
    try:
        response = await client.post("/api/v1/contact-requests", json=order("trickle-0001"))
        assert response.status == 201, await response.text()
    finally:
        for _, writer in trickling:
            writer.close()
