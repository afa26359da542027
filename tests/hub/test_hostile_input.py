"""Input nobody should send gets a 4xx with a reason, never a 500 (issue 13, items 5-7 and
16): cookies that are not UTF-8, broken multipart forms, objects and arrays where the API
takes text, and the security headers on answers aiohttp itself raises."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest

from hub.model import Role
from hub.settings import HttpSettings, Secret, Settings
from tests.conftest import DispatcherFactory, HubFactory, server_url
from tests.helpers import order


async def _raw(base: str, request: bytes) -> tuple[int, bytes]:
    """One HTTP/1.1 exchange with bytes a client library would refuse to send."""
    url = urlsplit(base)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    try:
        writer.write(request)
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    finally:
        writer.close()
    return int(head.split(b" ", 2)[1]), head


@pytest.mark.parametrize("path", ["/api/v1/me", "/api/v1/requests", "/console"])
async def test_a_cookie_that_is_not_utf8_is_not_logged_in(hub: HubFactory, path: str) -> None:
    client = await hub()
    status, _ = await _raw(server_url(client), (
        f"GET {path} HTTP/1.1\r\nHost: hub\r\nConnection: close\r\n".encode()
        + b"Cookie: tc_session=\xff\xfe\xc3\x28abc\r\n\r\n"))
    assert status in (200, 302, 401)  # the console page itself is public


async def test_multipart_forms_without_a_boundary_or_with_a_broken_part_are_refused(
    hub: HubFactory
) -> None:
    client = await hub()
    no_boundary = await client.post("/form", data=b"--x\r\n\r\nhello\r\n--x--\r\n",
                                    headers={"Content-Type": "multipart/form-data"})
    assert no_boundary.status in (400, 422), await no_boundary.text()
    broken = await client.post(
        "/form", data=b"--B\r\nContent-Disposition: form-data\r\n\r\nno name, no end",
        headers={"Content-Type": "multipart/form-data; boundary=B"})
    assert broken.status in (400, 422), await broken.text()
    form = aiohttp.MultipartWriter("form-data")
    for name, value in {**order("tok-multipart-ok-01"), "pickup_address": "Kamppi",
                        "language": "fi"}.items():
        form.append(value).set_content_disposition("form-data", name=name)
    fine = await client.post("/form", data=form)
    assert fine.status == 201, await fine.text()


WRONG_SHAPES: list[Any] = [{"a": 1}, ["a"], [{"a": 1}], [["a"]], 12, True]


async def _each_field_wrong(send: Any, body: dict[str, Any]) -> list[tuple[str, Any, int]]:
    """Sends `body` with each field replaced by each wrong shape; the answers that were 5xx."""
    failures = []
    for field in body:
        for wrong in WRONG_SHAPES:
            status = await send({**body, field: wrong})
            if status >= 500:
                failures.append((field, wrong, status))
    return failures


async def test_lanes_rules_and_notices_refuse_objects_where_text_belongs(
    hub: HubFactory, dispatcher: DispatcherFactory
) -> None:
    client = await hub()
    admin = await dispatcher(client, role=Role.ADMIN)

    def sender(method: str, path: str) -> Any:
        async def send(body: dict[str, Any]) -> int:
            async with admin.http.request(method, admin.base + path, json=body) as response:
                return response.status
        return send

    lane = {"key": "airport", "name_fi": "Lentokenttä", "name_en": "Airport", "position": 1,
            "priority": 0, "strategy": "manual", "offer_timeout_s": 30,
            "last_agent_window_s": 0, "capacity": 0, "target_wait_s": 120,
            "opening_hours": None, "active": True}
    rule = {"lane": "default", "channel": "sms", "keywords": ["lento"], "to": "+358401234567",
            "form": "tilaus", "position": 1}
    notice = {"text_fi": "Ruuhkaa", "text_en": "Busy", "channels": ["sms", "phone"],
              "lanes": ["default"], "announcement_only": False, "valid_from": None,
              "valid_until": None}
    failures = [
        *await _each_field_wrong(sender("POST", "/api/v1/admin/lanes"), lane),
        *await _each_field_wrong(sender("PUT", "/api/v1/admin/lanes/default"),
                                 {**lane, "key": "default"}),
        *await _each_field_wrong(sender("POST", "/api/v1/admin/routing-rules"), rule),
        *await _each_field_wrong(sender("POST", "/api/v1/notices"), notice),
    ]
    assert failures == []


@pytest.mark.parametrize("path", ["/no/such/page", "/api/v1/requests", "/api/v1/me"])
async def test_answers_aiohttp_raises_carry_the_security_headers(
    hub: HubFactory, path: str
) -> None:
    client = await hub()
    response = await client.get(path)
    assert response.status in (401, 404)
    assert response.headers.get("X-Content-Type-Options") == "nosniff"


async def test_the_form_is_framed_only_by_the_sites_allowed_to_embed(hub: HubFactory) -> None:
    client = await hub()
    policy = (await client.get("/form")).headers["Content-Security-Policy"]
    assert "frame-ancestors 'self'" in policy


async def test_metrics_need_the_token_when_one_is_set(hub: HubFactory, settings: Settings) -> None:
    client = await hub(dataclasses.replace(settings, http=HttpSettings(
        metrics_token=Secret("scrape-s3cret"))))
    assert (await client.get("/metrics")).status == 401
    wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status == 401
    right = await client.get("/metrics", headers={"Authorization": "Bearer scrape-s3cret"})
    assert right.status == 200 and "taxiconnect_ingest_committed_total" in await right.text()


async def test_without_a_token_metrics_answer_only_this_machine(
    hub: HubFactory, settings: Settings
) -> None:
    client = await hub(dataclasses.replace(settings, http=HttpSettings(
        trusted_proxies=("127.0.0.1",))))
    assert (await client.get("/metrics")).status == 200  # the proxy's own host, no header
    forwarded = await client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.5"})
    assert forwarded.status == 403
    assert "metrics_token" in (await forwarded.json())["error"]


async def test_every_page_has_an_icon_and_favicon_ico_is_not_a_404(hub: HubFactory) -> None:
    client = await hub()
    icon = await client.get("/favicon.ico")
    assert icon.status == 200 and icon.content_type == "image/svg+xml"
    assert (await icon.text()).startswith("<svg")
    for page in ("/console", "/admin", "/form"):
        text = await (await client.get(page)).text()
        assert '<link rel="icon" href="/static/favicon.svg"' in text, page
    assert (await client.get("/static/favicon.svg")).status == 200
