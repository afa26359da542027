"""Text no database can hold is refused at the door with a reason, never a 500; pages carry
a content security policy."""

from __future__ import annotations

from typing import Any

from tests.conftest import DispatcherFactory, HubFactory
from tests.helpers import submit


async def test_note_with_a_nul_is_refused_and_the_request_still_takes_notes(
    hub: HubFactory, dispatcher: DispatcherFactory
) -> None:
    client = await hub()
    agent = await dispatcher(client)
    receipt = await submit(agent.http, agent.base, "edge-note-0001")
    url = f"{agent.base}/api/v1/requests/{receipt['id']}/notes"
    async with agent.http.post(url, json={"text": "bad\u0000note"}) as response:
        assert response.status == 422
        body: dict[str, Any] = await response.json()
        assert body["fields"] == {"text": "invalid_characters"}
    async with agent.http.post(url, json={"text": "Soitettu takaisin"}) as response:
        assert response.status == 200
    history = (await agent.request(receipt["id"]))["history"]
    assert [event["note"] for event in history] == ["Soitettu takaisin"]


async def test_login_with_a_lone_surrogate_is_a_plain_401(
    hub: HubFactory, dispatcher: DispatcherFactory
) -> None:
    client = await hub()
    response = await client.post(
        "/api/v1/auth/login", data=b'{"login": "aino\\ud800", "password": "x"}',
        headers={"Content-Type": "application/json"})
    assert response.status == 401
    assert (await client.get("/readyz")).status == 200


async def test_console_and_form_pages_forbid_foreign_scripts(hub: HubFactory) -> None:
    client = await hub()
    for path in ("/console", "/form"):
        response = await client.get(path)
        assert response.status == 200
        policy = response.headers["Content-Security-Policy"]
        assert "default-src 'self'" in policy
        assert "object-src 'none'" in policy
    assert "frame-ancestors 'none'" in (await client.get("/console")).headers[
        "Content-Security-Policy"]
