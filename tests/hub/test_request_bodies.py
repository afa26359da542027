"""The API's JSON request bodies are read into typed models (hub.request_models): a body the
model refuses is answered 422 (or 400) with the field and the code the route always gave,
never a 500; and the OpenAPI's request schemas are the models' own, so a hand-written one
cannot come back unnoticed."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from hub.model import Role
from hub.request_models import MODELS
from tests.conftest import DispatcherFactory, HubFactory
from tests.helpers import submit

SOME_ID = str(uuid.uuid4())
REQ = "/api/v1/requests/{id}"
CONTACT = f"/api/v1/contacts/{SOME_ID}"
RENDER = f"{REQ}/canned-replies/{SOME_ID}/render"
PASSWORD = f"/api/v1/admin/agents/{SOME_ID}/password"
LANES = "/api/v1/admin/lanes"
RULES = "/api/v1/admin/routing-rules"
LANE = {"key": "airport", "name_fi": "Lentokenttä", "name_en": "Airport"}

# (method, path, body, status, code, fields); {id} is a real request's.
REFUSED: list[tuple[str, str, dict[str, Any], int, str, dict[str, str] | None]] = [
    # requests: transfer, notes, replies
    ("POST", f"{REQ}/transfer", {}, 422, "transfer_target_invalid", {"agent_id": "invalid"}),
    ("POST", f"{REQ}/transfer", {"agent_id": 7}, 422, "transfer_target_invalid",
     {"agent_id": "invalid"}),
    ("POST", f"{REQ}/transfer", {"agent_id": "nobody"}, 422, "transfer_target_invalid",
     {"agent_id": "invalid"}),
    ("POST", f"{REQ}/notes", {}, 422, "text_required", {"text": "required"}),
    ("POST", f"{REQ}/notes", {"text": ["a"]}, 422, "text_required", {"text": "required"}),
    ("POST", f"{REQ}/notes", {"text": "x" * 4001}, 422, "note_too_long", {"text": "too_long"}),
    ("POST", f"{REQ}/replies", {"client_key": "k"}, 422, "body_required", {"body": "required"}),
    ("POST", f"{REQ}/replies", {"body": "hei", "channel": "fax"}, 422, "channel_invalid",
     {"channel": "invalid"}),
    ("POST", f"{REQ}/replies", {"body": "hei", "subject": 5}, 422, "subject_not_text",
     {"subject": "invalid"}),
    ("POST", f"{REQ}/replies", {"body": "hei", "client_key": True}, 422,
     "client_key_not_text", {"client_key": "invalid"}),
    ("POST", f"{REQ}/replies", {"body": "hei", "attachments": "a.pdf"}, 422,
     "attachments_invalid", {"attachments": "invalid"}),
    ("POST", f"{REQ}/replies", {"body": "hei", "attachments": [1]}, 422,
     "attachments_invalid", {"attachments": "invalid"}),
    # callbacks, viewing, presence
    ("POST", f"{REQ}/callback-outcome", {"outcome": "maybe"}, 422, "outcome_invalid",
     {"outcome": "invalid"}),
    ("POST", f"{REQ}/callback-outcome", {}, 422, "outcome_invalid", {"outcome": "invalid"}),
    ("POST", f"{REQ}/callback-outcome", {"outcome": "reached", "note": 1}, 422,
     "note_not_text", {"note": "invalid"}),
    ("PUT", f"{REQ}/viewers/me", {"typing": "yes"}, 422, "typing_not_boolean",
     {"typing": "invalid"}),
    ("PUT", "/api/v1/me/presence", {"state": "sleeping"}, 422, "presence_state_invalid",
     {"state": "invalid"}),
    ("PUT", "/api/v1/me/presence", {}, 422, "presence_state_invalid", {"state": "invalid"}),
    # passengers
    ("PATCH", CONTACT, {}, 422, "name_required", {"name": "required"}),
    ("PATCH", CONTACT, {"name": 5}, 422, "name_not_text", {"name": "not_text"}),
    ("PATCH", CONTACT, {"name": "Aino", "phone": "1"}, 422, "passenger_only_name",
     {"phone": "unknown_field"}),
    ("POST", f"{CONTACT}/merge", {}, 422, "merge_target_invalid", {"into": "invalid"}),
    ("POST", f"{CONTACT}/merge", {"into": "x"}, 422, "merge_target_invalid",
     {"into": "invalid"}),
    # canned replies: these routes always answered 400 naming no field
    ("POST", RENDER, {"eta": 10}, 400, "eta_not_text", None),
    ("POST", RENDER, {"when": "now"}, 400, "render_unknown_fields", None),
    # a group message
    ("POST", f"/api/v1/groups/{SOME_ID}/messages", {"channels": ["sms"]}, 422,
     "body_required", {"body": "required"}),
    ("POST", f"/api/v1/groups/{SOME_ID}/messages", {"body": "x", "channels": []}, 422,
     "group_channels_required", {"channels": "required"}),
    ("POST", f"/api/v1/groups/{SOME_ID}/messages", {"body": "x", "channels": ["fax"]}, 422,
     "group_channels_invalid", {"channels": "invalid"}),
    # service notices
    ("POST", "/api/v1/notices", {"text_en": "b", "channels": ["sms"]}, 422,
     "notice_text_required", {"text_fi": "required"}),
    ("POST", "/api/v1/notices", {"text_fi": "a", "text_en": "b", "channels": []}, 422,
     "notice_channels_invalid", {"channels": "invalid"}),
    ("POST", "/api/v1/notices", {"text_fi": "a", "text_en": "b", "channels": ["fax"]}, 422,
     "notice_channels_invalid", {"channels": "invalid"}),
    ("POST", "/api/v1/notices", {"text_fi": "a", "text_en": "b", "channels": ["phone"],
                                 "announcement_only": "yes"}, 422,
     "announcement_only_not_boolean", {"announcement_only": "invalid"}),
    ("POST", "/api/v1/notices", {"text_fi": "a", "text_en": "b", "channels": ["sms"],
                                 "valid_from": 5}, 422, "time_invalid", {"valid_from": "invalid"}),
    # login
    ("POST", "/api/v1/auth/login", {"login": "aino"}, 422, "login_password_required",
     {"password": "required"}),
    ("POST", "/api/v1/auth/login", {"login": 5, "password": "x"}, 422,
     "login_password_required", {"login": "required"}),
]

# Admins only: an admin's session.
ADMIN_REFUSED: list[tuple[str, str, dict[str, Any], int, str, dict[str, str] | None]] = [
    ("POST", PASSWORD, {}, 422, "check_fields", {"password": "required"}),
    ("POST", PASSWORD, {"password": 123456789012}, 422, "check_fields",
     {"password": "required"}),
    ("POST", PASSWORD, {"password": "short"}, 422, "password_too_short",
     {"password": "too_short"}),
    # staff groups
    ("POST", "/api/v1/admin/groups", {}, 422, "group_name_required", {"name": "required"}),
    ("PATCH", f"/api/v1/admin/groups/{SOME_ID}", {"name": "A", "members": []}, 422,
     "group_only_name", {"members": "not_settable"}),
    ("POST", f"/api/v1/admin/groups/{SOME_ID}/members/import", {"csv": 1}, 422,
     "csv_required", {"csv": "required"}),
    ("POST", f"/api/v1/admin/groups/{SOME_ID}/members/import", {"csv": "", "replace": 1}, 422,
     "replace_not_boolean", {"replace": "invalid"}),
    # lanes and routing rules
    ("POST", LANES, {"name_fi": "A", "name_en": "A"}, 422, "field_required", {"key": "required"}),
    ("POST", LANES, {**LANE, "key": "Not A Key"}, 422, "lane_key_format", {"key": "invalid"}),
    ("POST", LANES, {**LANE, "strategy": "lottery"}, 422, "strategy_invalid",
     {"strategy": "invalid"}),
    ("POST", LANES, {**LANE, "capacity": -1}, 422, "field_not_in_range", {"capacity": "invalid"}),
    ("POST", LANES, {**LANE, "offer_timeout_s": "30"}, 422, "field_not_in_range",
     {"offer_timeout_s": "invalid"}),
    ("PUT", LANES + "/airport", {**LANE, "active": "no"}, 422, "field_not_boolean",
     {"active": "invalid"}),
    ("PUT", LANES + "/airport", {"name_fi": "A"}, 422, "field_required", {"name_en": "required"}),
    ("POST", RULES, {"lane": "airport", "channel": "fax"}, 422, "rule_channel_invalid",
     {"channel": "invalid"}),
    ("POST", RULES, {"lane": "airport", "keywords": ["x"] * 51}, 422, "keywords_invalid",
     {"keywords": "invalid"}),
    ("PUT", f"{RULES}/{SOME_ID}", {"lane": 5}, 422, "field_required", {"lane": "required"}),
]


async def test_bad_bodies_are_answered_with_the_field_and_the_routes_own_code(
    hub: HubFactory, dispatcher: DispatcherFactory
) -> None:
    client = await hub()
    agent = await dispatcher(client)
    admin = await dispatcher(client, role=Role.ADMIN)
    receipt = await submit(agent.http, agent.base, "bad-bodies-0001")
    for who, table in ((agent, REFUSED), (admin, ADMIN_REFUSED)):
        for method, path, body, status, code, fields in table:
            url = agent.base + path.format(id=receipt["id"])
            async with who.http.request(method, url, json=body) as response:
                answer = await response.json()
                assert (response.status, answer["code"], answer.get("fields")) == (
                    status, code, fields), (method, path, body, answer)
                assert answer["error"], answer  # the reason in English, from the catalogue

    # The reader keeps the rest of the body contract: content type, JSON, an object.
    url = f"{agent.base}/api/v1/requests/{receipt['id']}/notes"
    async with agent.http.post(url, data="text=hei",
                               headers={"Content-Type": "text/plain"}) as response:
        assert (response.status, (await response.json())["code"]) == (
            415, "unsupported_media_type")
    for raw, code in ((b'{"text": ', "json_malformed"), (b'["hei"]', "body_not_object")):
        async with agent.http.post(url, data=raw,
                                   headers={"Content-Type": "application/json"}) as response:
            assert (response.status, (await response.json())["code"]) == (400, code), raw
    # ... and a good body still passes, its unknown fields ignored as before.
    async with agent.http.post(url, json={"text": "Soitettu", "extra": 1}) as response:
        assert response.status == 200, await response.text()


# Operations whose JSON body is still checked by hand (not yet a model): this list may only
# shrink. Channel webhooks are the adapters' own wire formats, described by the gateways.
HAND_WRITTEN = {
    # channels' own (the web form's order, the gateways' and the chat's typing)
    ("/api/v1/contact-requests", "post"),
    ("/webhooks/sms/generic", "post"),
    ("/webhooks/sms/generic/status", "post"),
    ("/webhooks/phone/cti", "post"),
    ("/api/v1/requests/{request_id}/typing", "post"),
    # accounts: every wrong field is named at once, which a model's first error cannot do
    ("/api/v1/admin/agents", "post"),
    ("/api/v1/admin/agents/{agent_id}", "patch"),
    # not yet converted
    ("/api/v1/admin/canned-replies", "post"),
    ("/api/v1/admin/canned-replies/{canned_id}", "put"),
    ("/api/v1/admin/groups/{group_id}/members", "post"),
    ("/api/v1/admin/groups/{group_id}/members/{member_id}", "patch"),
    ("/api/v1/admin/subject/export", "post"),
    ("/api/v1/admin/subject/erase", "post"),
    ("/api/v1/admin/answer-templates", "post"),
    ("/api/v1/admin/answer-templates/{template_id}", "put"),
}


@pytest.mark.store_independent
async def test_every_json_request_body_is_a_generated_model(hub: HubFactory) -> None:
    client = await hub()
    async with client.get("/api/openapi.json") as resp:
        spec = await resp.json()
    schemas = spec["components"]["schemas"]
    models = {model.__name__ for model in MODELS}
    by_hand, generated = set(), set()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            schema = (operation.get("requestBody", {}).get("content", {})
                      .get("application/json", {}).get("schema"))
            if schema is None:
                continue
            name = schema.get("$ref", "").removeprefix("#/components/schemas/")
            if name in models:
                generated.add(name)
                assert schemas[name]["title"] == name  # msgspec's, not a hand-written one
            else:
                by_hand.add((path, method))
    assert generated == models, "a model no operation takes"
    assert by_hand <= HAND_WRITTEN, f"a JSON body described by hand: {by_hand - HAND_WRITTEN}"
