"""/api/openapi.json documents every route the hub serves, with its method, and no other."""

from __future__ import annotations

import dataclasses

from aiohttp import web

from channels.registry import ADAPTERS
from hub.settings import (
    AmiSettings,
    ChannelsSettings,
    ChatSettings,
    EmailSettings,
    GenericSmsSettings,
    PhoneSettings,
    Secret,
    Settings,
    SmsSettings,
    SmtpListenerSettings,
    TwilioSettings,
)
from tests.conftest import HubFactory, free_port

METHODS = {"get", "post", "put", "patch", "delete"}


async def test_openapi_documents_exactly_the_registered_routes(
    hub: HubFactory, settings: Settings
) -> None:
    every_channel = dataclasses.replace(
        settings, channels=ChannelsSettings(enabled=tuple(ADAPTERS)),
        sms=SmsSettings(twilio=TwilioSettings(auth_token=Secret("token")),
                        generic=GenericSmsSettings(signing_secret=Secret("secret"))),
        email=EmailSettings(address="taksi@taxi.example", reply_token_secret=Secret("s"),
                            smtp=SmtpListenerSettings(port=0, domains=("taxi.example",))),
        chat=ChatSettings(token_secret=Secret("chat-secret"),
                          allowed_origins=("https://www.taxi.example",)))
    every_channel = dataclasses.replace(every_channel, phone=PhoneSettings(
        cti_secret=Secret("cti-secret"),
        ami=AmiSettings(host="127.0.0.1", port=free_port(), user="hub", secret=Secret("s"))))
    client = await hub(every_channel)
    async with client.get("/api/openapi.json") as resp:
        assert resp.status == 200
        spec = await resp.json()
    assert spec["openapi"].startswith("3.")

    registered = {
        (route.resource.canonical, route.method.lower())
        for route in client.app.router.routes()
        if route.resource is not None
        and not isinstance(route.resource, web.StaticResource)
        and route.method != "HEAD"  # added beside each GET by aiohttp
    }
    documented = {
        (path, method)
        for path, operations in spec["paths"].items()
        for method in operations if method in METHODS
    }
    assert registered, "the app has no routes?"
    assert registered - documented == set(), "served but not documented"
    assert documented - registered == set(), "documented but not served"


async def test_openapi_references_resolve(hub: HubFactory) -> None:
    client = await hub()
    async with client.get("/api/openapi.json") as resp:
        spec = await resp.json()
    schemas = spec["components"]["schemas"]

    def refs(node: object) -> list[str]:
        if isinstance(node, dict):
            found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
            return found + [r for value in node.values() for r in refs(value)]
        if isinstance(node, list):
            return [r for value in node for r in refs(value)]
        return []

    all_refs = refs(spec)
    assert all_refs
    prefix = "#/components/schemas/"
    assert [r for r in all_refs if not r.startswith(prefix) or r[len(prefix):] not in schemas] \
        == []
