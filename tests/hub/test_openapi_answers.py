"""Every JSON answer the OpenAPI document promises has a schema, and the features' real
answers fit theirs: lanes and routing rules, an offer declined, who views a request, staff
groups and a message to one (through a local server speaking Twilio's API), automatic answer
templates, channel alerts and a passenger's erasure, each driven over HTTP as a console and
an admin page drive them."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from hub import openapi_bodies
from hub.channel_alerts import AlertsSettings, QuietWindow
from hub.model import Role
from hub.settings import (
    ChannelsSettings,
    HttpSettings,
    OutboundSettings,
    Secret,
    Settings,
    SmsSettings,
    TwilioSettings,
)
from tests.conftest import DispatcherFactory, HubFactory, free_port
from tests.gateways import FakeTwilio
from tests.helpers import WAIT_S, Dispatcher, eventually, submit
from tests.hub.test_openapi_bodies import check_answer

METHODS = {"get", "post", "put", "patch", "delete"}
TOKEN = "twilio-openapi-token"
ACCOUNT = "AC" + "2" * 32
REF = "#/components/schemas/"


async def _document(client: TestClient[Any, Any]) -> dict[str, Any]:
    async with client.get("/api/openapi.json") as resp:
        assert resp.status == 200
        spec: dict[str, Any] = await resp.json()
        return spec


@pytest.mark.store_independent
async def test_every_success_body_is_documented_and_every_json_one_has_a_schema(
    hub: HubFactory
) -> None:
    spec = await _document(await hub())
    bare, without_success, with_body = [], [], []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method not in METHODS:
                continue
            answers = operation["responses"]
            if not any(code[0] in "123" for code in answers):
                without_success.append((method, path))
            for code, answer in answers.items():
                if code == "204" and "content" in answer:
                    with_body.append((method, path))
                if code[0] == "2" and code != "204" and not answer.get("content"):
                    bare.append((method, path, code))
                for media, content in answer.get("content", {}).items():
                    if "json" in media and not content.get("schema"):
                        bare.append((method, path, code))
    assert bare == [], "answers with a body documented in words only"
    assert without_success == []
    assert with_body == [], "a 204 has no body"


@dataclasses.dataclass
class Documented:
    """Calls the API and checks each answer against the served document."""

    spec: dict[str, Any]
    seen: set[tuple[str, str]] = dataclasses.field(default_factory=set)

    async def call(self, agent: Dispatcher, method: str, path: str, status: int = 200,
                   body: dict[str, Any] | None = None, **ids: str) -> Any:
        """`path` as the document names it; `ids` fill its parameters."""
        url = path.format(**ids)
        async with agent.http.request(method, agent.base + url, json=body) as resp:
            if status == 204:
                assert (resp.status, await resp.read()) == (204, b""), url
                found: Any = None
            else:
                found = await resp.json()
                assert resp.status == status, (method, url, resp.status, found)
        answer = self.spec["paths"][path][method.lower()]["responses"][str(status)]
        if status == 204:
            assert "content" not in answer
        else:
            check_answer(self.spec, path, method.lower(), status, found)
        self.seen.add((method.lower(), path))
        return found


def _hub_settings(settings: Settings, twilio: FakeTwilio, port: int) -> Settings:
    """SMS through the fake Twilio, offers checked often, and an SMS channel that raises its
    quiet alert as soon as the watcher looks."""
    return dataclasses.replace(
        settings,
        channels=ChannelsSettings(enabled=("webform", "twilio_sms")),
        http=HttpSettings(public_url=f"http://127.0.0.1:{port}"),
        sms=SmsSettings(twilio=TwilioSettings(
            auth_token=Secret(TOKEN), account_sid=ACCOUNT, from_number="+358451234567",
            api_url=twilio.url)),
        outbound=OutboundSettings(backoff_base_s=0.05, backoff_max_s=0.2, poll_s=0.05,
                                  send_timeout_s=5, max_attempts=2),
        queue=dataclasses.replace(settings.queue, offer_check_s=0.1),
        alerts=AlertsSettings(check_s=0.2, quiet=(
            QuietWindow(adapter="twilio_sms", after_min=0.01),)))


ALWAYS = {"timezone": "Europe/Helsinki", "closed_dates": ["2099-12-24"],
          "week": {day: [["00:00", "24:00"]]
                   for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}}
LANE = {"key": "offers", "name_fi": "Tarjoukset", "name_en": "Offers", "strategy": "offer",
        "offer_timeout_s": 60, "target_wait_s": 60, "opening_hours": ALWAYS}


async def _lanes(api: Documented, admin: Dispatcher, anna: Dispatcher) -> None:
    await api.call(admin, "POST", "/api/v1/admin/lanes", 201, LANE)
    lane = await api.call(admin, "PUT", "/api/v1/admin/lanes/{key}", 200,
                          {**LANE, "priority": 5}, key="offers")
    assert lane["lane"]["opening_hours"]["closed_dates"] == ["2099-12-24"]
    await api.call(admin, "POST", "/api/v1/admin/lanes", 201,
                   {**LANE, "key": "spare", "strategy": "manual"})
    rule = (await api.call(admin, "POST", "/api/v1/admin/routing-rules", 201,
                           {"lane": "spare", "keywords": ["varaus"]}))["rule"]
    await api.call(admin, "PUT", "/api/v1/admin/routing-rules/{rule_id}", 200,
                   {"lane": "offers", "channel": "webform", "keywords": ["tarjous"]},
                   rule_id=rule["id"])
    await api.call(admin, "POST", "/api/v1/admin/routing-rules", 201,
                   {"lane": "spare", "keywords": ["varaus"]})
    both = await api.call(admin, "GET", "/api/v1/admin/lanes")
    assert {lane["key"] for lane in both["lanes"]} >= {"offers", "spare"}
    spare_rule = next(r["id"] for r in both["rules"] if r["lane"] == "spare")
    await api.call(admin, "GET", "/api/v1/admin/routing-rules")
    await api.call(admin, "DELETE", "/api/v1/admin/routing-rules/{rule_id}", 204,
                   rule_id=spare_rule)
    await api.call(admin, "DELETE", "/api/v1/admin/lanes/{key}", 204, key="spare")
    tabs = await api.call(anna, "GET", "/api/v1/lanes")
    assert [lane["key"] for lane in tabs["lanes"]].count("offers") == 1


async def _offer_declined_and_viewed(api: Documented, admin: Dispatcher,
                                     anna: Dispatcher) -> None:
    console = await anna.console()
    receipt = await submit(admin.http, admin.base, "doc-offer-1", phone="040 555 0102",
                           message="Tarjous: taksi lentoasemalle")
    await console.until(lambda e: e["type"] == "request.offer"
                        and e["request"]["id"] == receipt["id"], 2 * WAIT_S)
    await api.call(anna, "POST", "/api/v1/requests/{request_id}/decline",
                   request_id=receipt["id"])
    await api.call(anna, "PUT", "/api/v1/requests/{request_id}/viewers/me", 200,
                   {"typing": True}, request_id=receipt["id"])
    gone = await api.call(anna, "DELETE", "/api/v1/requests/{request_id}/viewers/me",
                          request_id=receipt["id"])
    assert gone["viewers"] == []


async def _groups(api: Documented, admin: Dispatcher, anna: Dispatcher) -> None:
    group = (await api.call(admin, "POST", "/api/v1/admin/groups", 201,
                            {"name": "Yövuoro"}))["group"]
    one = {"group_id": group["id"]}
    await api.call(admin, "POST", "/api/v1/admin/groups/{group_id}/members/import", 200, {
        "csv": "nimi;puhelin;sähköposti\nKuljettaja 1;040 100 0001;\n"
               "Kuljettaja 2;040 100 0002;k2@taxi.example"}, **one)
    member = (await api.call(admin, "POST", "/api/v1/admin/groups/{group_id}/members", 201,
                             {"name": "Päivystäjä", "email": "paivys@taxi.example"},
                             **one))["member"]
    mine = {**one, "member_id": member["id"]}
    await api.call(admin, "PATCH", "/api/v1/admin/groups/{group_id}/members/{member_id}",
                   200, {"name": "Päivystäjä Virtanen"}, **mine)
    await api.call(admin, "PATCH", "/api/v1/admin/groups/{group_id}", 200,
                   {"name": "Yövuoro B"}, **one)
    await api.call(admin, "GET", "/api/v1/admin/groups")
    await api.call(anna, "GET", "/api/v1/groups")

    send = {"body": "Lumimyrsky: vapaat autot asemalle.", "channels": ["sms"],
            "client_key": "doc-storm-1"}
    path = "/api/v1/groups/{group_id}/messages"
    sent = await api.call(anna, "POST", path, 201, send, **one)
    assert sent["group_message"]["recipients"] == 2
    await api.call(anna, "POST", path, 200, send, **one)

    async def settled() -> dict[str, Any] | None:
        found: dict[str, Any] = await api.call(anna, "GET", path, **one)
        return found if found["messages"][0]["counts"]["queued"] == 0 else None
    messages = (await eventually(settled, what="both deliveries settled"))["messages"]
    assert [f["name"] for f in messages[0]["failures"]] != []  # the refused number

    await api.call(admin, "DELETE", "/api/v1/admin/groups/{group_id}/members/{member_id}",
                   **mine)
    found = await api.call(admin, "GET", "/api/v1/admin/groups/{group_id}", **one)
    assert len(found["group"]["member_list"]) == 2
    await api.call(admin, "DELETE", "/api/v1/admin/groups/{group_id}", **one)


async def _answer_templates(api: Documented, admin: Dispatcher) -> None:
    base = "/api/v1/admin/answer-templates"
    text = {"kind": "acknowledgement", "language": "fi",
            "body": "Kiitos, {name}. Viite {reference}, odotus {wait}."}
    added = (await api.call(admin, "POST", base, 201, text))["answer_template"]
    clash = await api.call(admin, "POST", base, 409, text)
    assert clash["existing"] == added["id"]
    one = base + "/{template_id}"
    await api.call(admin, "PUT", one, 200, {**text, "lane": "offers"}, template_id=added["id"])
    listed = await api.call(admin, "GET", base)
    assert [t["lane"] for t in listed["answer_templates"]] == ["offers"]
    await api.call(admin, "DELETE", one, template_id=added["id"])


async def test_the_features_real_answers_fit_their_documented_schemas(
    hub: HubFactory, settings: Settings, dispatcher: DispatcherFactory
) -> None:
    # The first send is refused as Twilio refuses a bad number (21211): a failure to show.
    async with FakeTwilio(account_sid=ACCOUNT, auth_token=TOKEN, script=[400]) as twilio:
        port = free_port()
        client = await hub(_hub_settings(settings, twilio, port), port=port)
        api = Documented(await _document(client))
        admin = await dispatcher(client, Role.ADMIN, name="Ylläpitäjä")
        anna = await dispatcher(client, Role.TEAM, name="Anna")

        await _lanes(api, admin, anna)
        await _offer_declined_and_viewed(api, admin, anna)
        await _groups(api, admin, anna)
        await _answer_templates(api, admin)

        async def raised() -> dict[str, Any] | None:
            found: dict[str, Any] = await api.call(admin, "GET", "/api/v1/alerts")
            return found if found["alerts"] else None
        alerts = (await eventually(raised, what="the quiet SMS channel's alert"))["alerts"]
        assert [(a["adapter"], a["kind"]) for a in alerts] == [("twilio_sms", "quiet")]

        await submit(admin.http, admin.base, "doc-erase-1", phone="040 555 0103")
        erased = await api.call(admin, "POST", "/api/v1/admin/subject/erase", 200,
                                {"phone": "040 555 0103"})
        assert erased["erased"]["requests"] == 1

    # Every operation whose answer is one of the features' typed bodies was checked here.
    typed = {REF + body.__name__ for body in openapi_bodies.BODIES}
    promised = {(method, path)
                for path, operations in api.spec["paths"].items()
                for method, operation in operations.items() if method in METHODS
                for code, answer in operation["responses"].items() if code[0] == "2"
                for content in answer.get("content", {}).values()
                if content.get("schema", {}).get("$ref") in typed}
    assert promised - api.seen == set()
