"""One client address cannot flood the public doors (issue 13, items 8 and 16): past its
allowance the form and the chat widget answer 429 with Retry-After at once, in the
passenger's language for the form; another address and this machine are not held back.
Behind a trusted proxy the address is the one the proxy names."""

from __future__ import annotations

import dataclasses
from typing import Any

import aiohttp
import pytest

from hub.settings import HttpSettings, IngestSettings, Settings
from tests.chat_site import ORIGIN, chat_settings
from tests.conftest import HubFactory, server_url
from tests.helpers import http_session, order


def _proxied(settings: Settings, **ingest: Any) -> Settings:
    return dataclasses.replace(settings, http=HttpSettings(trusted_proxies=("127.0.0.1",)),
                               ingest=IngestSettings(**ingest))


async def test_form_posts_past_the_allowance_get_429(hub: HubFactory, settings: Settings) -> None:
    client = await hub(_proxied(settings, form_posts_per_address_per_minute=3))
    flood = {"X-Forwarded-For": "203.0.113.7"}
    for n in range(3):
        response = await client.post("/api/v1/contact-requests",
                                     json=order(f"tok-flood-{n:04d}"), headers=flood)
        assert response.status == 201
    refused = await client.post("/api/v1/contact-requests", json=order("tok-flood-0003"),
                                headers=flood)
    assert refused.status == 429 and int(refused.headers["Retry-After"]) >= 1
    page = await client.post("/form?lang=fi", data={**order("tok-flood-0004"),
                                                    "language": "fi"}, headers=flood)
    assert page.status == 429 and "Liian monta tilausta" in await page.text()
    other = await client.post("/api/v1/contact-requests", json=order("tok-other-0001"),
                              headers={"X-Forwarded-For": "198.51.100.4"})
    assert other.status == 201
    local = await client.post("/api/v1/contact-requests", json=order("tok-local-0001"))
    assert local.status == 201  # the proxy's own machine: not counted


@pytest.mark.parametrize("handshakes", [4])
async def test_chat_handshakes_past_the_allowance_get_429_not_503(
    hub: HubFactory, settings: Settings, handshakes: int
) -> None:
    configured = chat_settings(settings, handshakes_per_address_per_minute=handshakes)
    client = await hub(dataclasses.replace(configured, http=HttpSettings(
        trusted_proxies=("127.0.0.1",))))
    base = server_url(client)
    statuses = []
    async with http_session() as http:
        for _ in range(handshakes + 3):
            try:
                ws = await http.ws_connect(f"{base}/chat/ws", origin=ORIGIN,
                                           headers={"X-Forwarded-For": "203.0.113.8"})
            except aiohttp.WSServerHandshakeError as exc:
                statuses.append(exc.status)
            else:
                statuses.append(101)
                await ws.close()
    assert statuses == [101] * handshakes + [429] * 3
