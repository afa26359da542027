"""The served OpenAPI is a valid 3.1 document, and real answers fit the schemas it documents
for them, so the document cannot drift from the code."""

from __future__ import annotations

from typing import Any

import jsonschema
from openapi_spec_validator import validate

from hub.settings import Settings
from tests.conftest import DispatcherFactory, HubFactory, server_url
from tests.helpers import http_session, order


def check_answer(spec: dict[str, Any], path: str, method: str, status: int, body: Any) -> None:
    """`body` fits the schema the document gives for this operation's `status` answer, its
    formats too (date-time, date, uuid, email)."""
    answer = spec["paths"][path][method]["responses"][str(status)]
    schema = answer["content"]["application/json"]["schema"]
    jsonschema.validate(body, {**schema, "components": spec["components"]},
                        cls=jsonschema.Draft202012Validator,
                        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


async def test_the_served_openapi_document_is_valid(hub: HubFactory) -> None:
    client = await hub()
    async with client.get("/api/openapi.json") as resp:
        assert resp.status == 200
        spec = await resp.json()
    validate(spec)
    async with client.get("/api/asyncapi.json") as resp:
        assert resp.status == 200
        assert (await resp.json())["asyncapi"] == "3.0.0"


async def test_real_answers_fit_their_documented_schemas(
    hub: HubFactory, settings: Settings, dispatcher: DispatcherFactory
) -> None:
    client = await hub()
    async with client.get("/api/openapi.json") as resp:
        spec = await resp.json()
    base = server_url(client)
    agent = await dispatcher(client)
    api = f"{base}/api/v1"
    async with http_session() as passenger:
        async with passenger.post(f"{api}/contact-requests", json=order("tok-doc-1")) as resp:
            assert resp.status == 201
            receipt = await resp.json()
        check_answer(spec, "/api/v1/contact-requests", "post", 201, receipt)
        async with passenger.post(f"{api}/contact-requests", json=order("tok-doc-1")) as resp:
            check_answer(spec, "/api/v1/contact-requests", "post", resp.status, await resp.json())
        async with passenger.post(f"{api}/contact-requests", json={"name": "x"}) as resp:
            check_answer(spec, "/api/v1/contact-requests", "post", resp.status, await resp.json())

    answers: list[tuple[str, str, str, dict[str, Any] | None]] = [
        ("/api/v1/me", "get", "/me", None),
        ("/api/v1/agents", "get", "/agents", None),
        ("/api/v1/presence", "get", "/presence", None),
        ("/api/v1/requests", "get", "/requests", None),
        ("/api/v1/requests/{request_id}", "get", f"/requests/{receipt['id']}", None),
        ("/api/v1/requests/{request_id}/claim", "post", f"/requests/{receipt['id']}/claim",
         None),
        ("/api/v1/requests/{request_id}/notes", "post", f"/requests/{receipt['id']}/notes",
         {"text": "Muistiinpano"}),
        ("/api/v1/requests/{request_id}/replies", "post",
         f"/requests/{receipt['id']}/replies", {"body": "Hei", "client_key": "doc-1"}),
        ("/api/v1/requests/{request_id}/viewers/me", "put",
         f"/requests/{receipt['id']}/viewers/me", None),
        ("/api/v1/notices", "post", "/notices",
         {"text_fi": "Myrsky", "text_en": "Storm", "channels": ["sms"]}),
        ("/api/v1/notices", "get", "/notices", None),
        ("/api/v1/me/presence", "put", "/me/presence", {"state": "busy"}),
        ("/api/v1/requests/{request_id}", "get", "/requests/00000000-0000-0000-0000-00000000"
         "0000", None),
        ("/api/v1/requests/{request_id}/transfer", "post",
         f"/requests/{receipt['id']}/transfer", {"agent_id": "nobody"}),
    ]
    seen: set[int] = set()
    for path, method, url, body in answers:
        async with agent.http.request(method, f"{api}{url}", json=body) as resp:
            found = await resp.json()
            seen.add(resp.status)
            check_answer(spec, path, method, resp.status, found)
    assert {200, 201, 404} <= seen
    # The detail really is a detail: messages and history came along.
    async with agent.http.get(f"{api}/requests/{receipt['id']}") as resp:
        detail = (await resp.json())["request"]
    assert detail["messages"] and detail["history"]
