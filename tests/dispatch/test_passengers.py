"""The passenger through the console's API: the card, one timeline across an SMS request
(posted and signed as Twilio does) and a web-form request, naming, searching and merging two
passengers into one, and who may do it."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any
from urllib.parse import urlencode

from aiohttp.test_utils import TestClient
from sqlalchemy import update

from channels.sms.twilio_signature import twilio_signature
from hub import schema
from hub.appkeys import DATABASE
from hub.model import Role
from hub.settings import (
    ChannelsSettings,
    HttpSettings,
    OutboundSettings,
    PhoneSettings,
    Secret,
    Settings,
    SmsSettings,
    TwilioSettings,
)
from tests.conftest import DispatcherFactory, HubFactory, free_port
from tests.gateways import FakeTwilio
from tests.helpers import Dispatcher, eventually, submit

TOKEN = "twilio-test-auth-token"
ACCOUNT = "AC" + "2" * 32
CTI_SECRET = "cti-shared-secret"
PASSENGER = "+358401112233"
OTHER = "+358505550101"
COMPANY_NUMBER = "+358451234567"


async def _hub(hub: HubFactory, settings: Settings, twilio_url: str = "http://127.0.0.1:9"
               ) -> TestClient[Any, Any]:
    port = free_port()
    return await hub(dataclasses.replace(
        settings,
        channels=ChannelsSettings(enabled=("webform", "twilio_sms", "phone_cti")),
        http=HttpSettings(public_url=f"http://127.0.0.1:{port}"),
        sms=SmsSettings(twilio=TwilioSettings(
            auth_token=Secret(TOKEN), account_sid=ACCOUNT, from_number="+358400000000",
            api_url=twilio_url)),
        phone=PhoneSettings(cti_secret=Secret(CTI_SECRET)),
        outbound=OutboundSettings(backoff_base_s=0.05, backoff_max_s=0.2, poll_s=0.05,
                                  send_timeout_s=5, max_attempts=4),
    ), port=port)


async def _text_in(client: TestClient[Any, Any], body: str, sender: str = PASSENGER) -> None:
    """An SMS as Twilio posts it, signed with the hub's public URL."""
    params = [("MessageSid", "SM" + uuid.uuid4().hex), ("AccountSid", ACCOUNT),
              ("From", sender), ("To", COMPANY_NUMBER), ("Body", body), ("NumMedia", "0")]
    url = str(client.make_url("/webhooks/sms/twilio"))
    response = await client.post("/webhooks/sms/twilio", data=urlencode(params), headers={
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": twilio_signature(TOKEN, url, params),
    })
    assert response.status == 200, await response.text()


async def _call(agent: Dispatcher, method: str, path: str, **kwargs: Any
                ) -> tuple[int, dict[str, Any]]:
    async with agent.http.request(method, agent.base + path, **kwargs) as resp:
        return resp.status, await resp.json()


async def _get(agent: Dispatcher, path: str) -> dict[str, Any]:
    status, answer = await _call(agent, "GET", path)
    assert status == 200, answer
    return answer


async def _act(agent: Dispatcher, request_id: str, action: str, **body: Any) -> None:
    status, answer = await _call(agent, "POST", f"/api/v1/requests/{request_id}/{action}",
                                 json=body or None)
    assert status == 200, answer


async def _open_request(agent: Dispatcher, channel: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        found = [r for r in await agent.open_requests() if r["channel"] == channel]
        return found[0] if found else None
    return await eventually(probe, what=f"an open {channel} request")


async def _whole_timeline(agent: Dispatcher, contact_id: str, limit: int
                          ) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    before = ""
    while True:
        query = f"?limit={limit}" + (f"&before={before}" if before else "")
        page = await _get(agent, f"/api/v1/contacts/{contact_id}/timeline{query}")
        assert len(page["items"]) <= limit
        items += page["items"]
        if page["next_before"] is None:
            return items
        before = page["next_before"]


async def test_card_and_one_timeline_across_a_web_form_and_an_sms_request(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    async with FakeTwilio(account_sid=ACCOUNT, auth_token=TOKEN) as twilio:
        client = await _hub(hub, settings, twilio.url)
        agent = await dispatcher(client, name="Aino Välittäjä")
        form = await submit(agent.http, agent.base, "passenger-form-0001",
                            name="Ville Matkustaja", phone="040 111 2233",
                            message="Taksi lentokentälle", pickup_address="Kampinkuja 2")
        await _act(agent, form["id"], "claim")
        await _act(agent, form["id"], "notes", text="Soitti perään: iso matkalaukku")
        await _act(agent, form["id"], "resolve")
        await _text_in(client, "Taksi Pasilaan nyt")
        sms = await _open_request(agent, "sms")
        status, answer = await agent.reply(sms["id"], "Taksi tulee 5 min", "reply-0001")
        assert status == 201, answer
        await agent.wait_for_reply(sms["id"], "sent")
        contact_id = sms["contact"]["id"]

        card = (await _get(agent, f"/api/v1/contacts/{contact_id}"))["contact"]
        assert card["id"] == contact_id
        assert card["name"] == "Ville Matkustaja"
        assert (card["phones"], card["emails"], card["chat_identities"]) == (
            [PASSENGER], [], 0)
        assert card["requests_total"] == 2
        assert [(r["reference"], r["channel"], r["status"]) for r in card["requests"]] == [
            (sms["reference"], "sms", "claimed"), (form["reference"], "webform", "resolved")]
        assert [r["last_agent"]["name"] for r in card["requests"]] == ["Aino Välittäjä"] * 2
        assert [a["address"] for a in card["pickup_addresses"]] == ["Kampinkuja 2"]
        assert card["pickup_addresses"][0]["reference"] == form["reference"]

        items = await _whole_timeline(agent, contact_id, limit=50)
        assert [_shown(item) for item in items] == [
            ("message", sms["reference"], "sms", "outbound"),
            ("message", sms["reference"], "sms", "inbound"),
            ("event", form["reference"], "webform", "resolve"),
            ("event", form["reference"], "webform", "note"),
            ("event", form["reference"], "webform", "claim"),
            ("message", form["reference"], "webform", "inbound"),
        ]
        assert [item["at"] for item in items] == sorted(
            (item["at"] for item in items), reverse=True)
        reply = items[0]["message"]
        assert reply["body"] == "Taksi tulee 5 min"
        assert reply["agent"]["name"] == "Aino Välittäjä"
        assert [d["state"] for d in reply["deliveries"]] == ["sent"]
        assert items[3]["event"]["note"] == "Soitti perään: iso matkalaukku"
        assert items[1]["request"] == {"id": sms["id"], "reference": sms["reference"],
                                       "channel": "sms", "status": "claimed"}
        # Page by page, the same items: none skipped or repeated at a page's edge.
        assert [i["id"] for i in await _whole_timeline(agent, contact_id, limit=1)] \
            == [i["id"] for i in items]
        assert [i["id"] for i in await _whole_timeline(agent, contact_id, limit=4)] \
            == [i["id"] for i in items]
        # An ISO time: everything before it.
        before = items[2]["at"].replace("+", "%2B")
        older = await _get(agent, f"/api/v1/contacts/{contact_id}/timeline?before={before}")
        assert [i["id"] for i in older["items"]] == [i["id"] for i in items[3:]]


def _shown(item: dict[str, Any]) -> tuple[str, str, str, str]:
    what = item["message"]["direction"] if item["kind"] == "message" else (
        item["event"]["action"] if item["kind"] == "event" else item["call"]["state"])
    return item["kind"], item["request"]["reference"], item["channel"], what


async def test_a_call_is_on_the_timeline_once_with_its_outcome(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    client = await _hub(hub, settings)
    agent = await dispatcher(client)
    await _text_in(client, "Soitan kohta")
    sms = await _open_request(agent, "sms")
    call = {"callId": "1700000000.555", "from": "040 111 2233", "to": "0912345678",
            "direction": "in"}
    headers = {"X-CTI-Token": CTI_SECRET}
    for event in ({"event": "newCall"}, {"event": "hangup", "cause": "cancel"}):
        async with client.post("/webhooks/phone/cti", json={**call, **event},
                               headers=headers) as resp:
            assert resp.status == 200, await resp.text()

    async def called() -> list[dict[str, Any]] | None:
        page = await _get(agent, f"/api/v1/contacts/{sms['contact']['id']}/timeline")
        return page["items"] if page["items"][0]["kind"] == "call" else None
    items = await eventually(called, what="the call on the timeline")
    kinds = [(item["kind"], item["channel"]) for item in items]
    assert kinds.count(("call", "phone")) == 1
    assert ("message", "phone") not in kinds  # the call's own contact message is the call
    assert items[0]["call"]["state"] == "ended"
    assert items[0]["call"]["caller"] == PASSENGER
    assert items[0]["call"]["recordings"] == []
    assert items[-1]["message"]["body"] == "Soitan kohta"


async def test_merging_moves_requests_and_identities_and_a_new_sms_finds_the_survivor(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    client = await _hub(hub, settings)
    agent = await dispatcher(client, name="Aino Välittäjä")
    admin = await dispatcher(client, role=Role.ADMIN)
    await _text_in(client, "Taksi Kamppiin")
    sms = await _open_request(agent, "sms")
    form = await submit(agent.http, agent.base, "passenger-form-0002", phone="",
                        name="Emma Smith", email="emma@example.org",
                        message="Taxi to the airport")
    survivor = (await agent.request(form["id"]))["contact"]["id"]
    merged = sms["contact"]["id"]
    console = await agent.console()

    status, answer = await _call(agent, "POST", f"/api/v1/contacts/{merged}/merge",
                                 json={"into": survivor})
    assert status == 200, answer
    assert answer["merged"] == {"id": merged, "into": survivor, "identities": 1,
                                "requests": 1, "announced": [sms["id"], form["id"]]}
    card = answer["contact"]
    assert card["id"] == survivor and card["name"] == "Emma Smith"
    assert (card["phones"], card["emails"]) == ([PASSENGER], ["emma@example.org"])
    assert sorted(r["reference"] for r in card["requests"]) == sorted(
        [sms["reference"], form["reference"]])

    # Every console hears of both open requests, now of one passenger.
    events = await console.until(lambda e: e["type"] == "request.passenger_merged"
                                 and e["request"]["id"] == form["id"])
    merges = {e["request"]["id"]: e for e in events if e["type"] == "request.passenger_merged"}
    assert set(merges) == {sms["id"], form["id"]}
    for event in merges.values():
        assert event["request"]["contact"]["id"] == survivor
        assert event["request"]["contact"]["phones"] == [PASSENGER]
        assert event["passenger"]["merged"] == merged
    assert (await agent.request(sms["id"]))["contact"]["name"] == "Emma Smith"

    # The merged id leads to the survivor: a 308 that clients follow.
    async with agent.http.get(f"{agent.base}/api/v1/contacts/{merged}",
                              allow_redirects=False) as resp:
        assert resp.status == 308
        assert resp.headers["Location"] == f"/api/v1/contacts/{survivor}"
        assert (await resp.json())["merged_into"] == survivor
    assert (await _get(agent, f"/api/v1/contacts/{merged}"))["contact"]["id"] == survivor
    page = await _get(agent, f"/api/v1/contacts/{merged}/timeline?limit=1")
    assert page["contact_id"] == survivor and len(page["items"]) == 1

    # The audit trail says who merged what, by ids, never a number or a name.
    entries = (await _get(admin, "/api/v1/admin/audit?action=contact."))["entries"]
    assert [(e["action"], e["agent_id"], e["subject"], e["detail"]) for e in entries] == [
        ("contact.merge", str(agent.agent.id), merged,
         {"into": survivor, "identities": 1, "requests": 1})]
    assert PASSENGER not in str(entries) and "Emma" not in str(entries)

    # A new SMS from the merged passenger's number lands on the survivor.
    for request_id in (sms["id"], form["id"]):
        await _act(agent, request_id, "resolve")
    await _text_in(client, "Taksi taas Kamppiin")
    fresh = await _open_request(agent, "sms")
    assert fresh["id"] not in (sms["id"], form["id"])
    assert fresh["contact"]["id"] == survivor
    assert (await _get(agent, f"/api/v1/contacts/{survivor}"))["contact"]["requests_total"] == 3


async def test_a_message_read_as_the_merged_passengers_lands_on_the_survivor(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    """On PostgreSQL ingest may read an identity's owner just before a merge commits; after
    taking the passenger's lock it follows the merge. Shown here by an identity left on the
    merged passenger, as such a read would have seen it."""
    client = await _hub(hub, settings)
    agent = await dispatcher(client)
    await _text_in(client, "Eka", sender=PASSENGER)
    await _text_in(client, "Toka", sender=OTHER)
    requests = {r["contact"]["phones"][0]: r for r in await agent.open_requests()}
    merged, survivor = (requests[n]["contact"]["id"] for n in (PASSENGER, OTHER))
    status, answer = await _call(agent, "POST", f"/api/v1/contacts/{merged}/merge",
                                 json={"into": survivor})
    assert status == 200, answer
    i = schema.contact_identities
    async with client.app[DATABASE].write() as conn:
        await conn.execute(update(i).where(i.c.value == PASSENGER)
                           .values(contact_id=uuid.UUID(merged)))
    for request in requests.values():
        await _act(agent, request["id"], "resolve")
    await _text_in(client, "Kolmas", sender=PASSENGER)
    fresh = await _open_request(agent, "sms")
    assert fresh["contact"]["id"] == survivor


async def test_naming_a_passenger_is_audited_and_reaches_the_consoles(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    client = await _hub(hub, settings)
    agent = await dispatcher(client)
    admin = await dispatcher(client, role=Role.ADMIN)
    await _text_in(client, "Taksi Kamppiin")
    sms = await _open_request(agent, "sms")
    contact_id = sms["contact"]["id"]
    console = await agent.console()
    path = f"/api/v1/contacts/{contact_id}"

    status, answer = await _call(agent, "PATCH", path, json={"name": "  Ville   Vieras "})
    assert status == 200, answer
    assert answer["contact"]["name"] == "Ville Vieras"
    # Earlier events (the SMS being queued, when the router was slower) may come first.
    event = (await console.until(lambda e: e["type"] == "request.passenger_renamed"))[-1]
    assert event["request"]["id"] == sms["id"]
    assert event["request"]["contact"]["name"] == "Ville Vieras"
    assert event["request"]["version"] > sms["version"]
    entries = (await _get(admin, "/api/v1/admin/audit?action=contact."))["entries"]
    assert [(e["action"], e["subject"], e["detail"]) for e in entries] == [
        ("contact.rename", contact_id, {"named": True})]
    assert "Ville" not in str(entries)

    for body, field in (({"name": 5}, "name"), ({"name": "x" * 201}, "name"),
                        ({"name": "a\x00b"}, "name"), ({"phone": "1"}, "phone"), ({}, "name")):
        status, answer = await _call(agent, "PATCH", path, json=body)
        assert status == 422 and field in answer["fields"], (body, answer)
    status, answer = await _call(agent, "PATCH", path, json={"name": None})
    assert status == 200 and answer["contact"]["name"] is None


async def test_search_by_number_email_and_name_never_finds_a_merged_passenger(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    client = await _hub(hub, settings)
    agent = await dispatcher(client)
    await submit(agent.http, agent.base, "passenger-form-0003", name="Aino Virtanen",
                 phone="040 111 2233")
    await submit(agent.http, agent.base, "passenger-form-0004", name="Emma Smith", phone="",
                 email="emma.smith@example.org")

    async def names(q: str) -> list[str | None]:
        found = (await _get(agent, f"/api/v1/contacts?{urlencode({'q': q})}"))["contacts"]
        return [c["name"] for c in found]

    assert await names("040 111 2233") == ["Aino Virtanen"]
    assert await names("+358401112") == ["Aino Virtanen"]
    assert await names("SMITH@EXAMPLE") == ["Emma Smith"]
    assert await names("virtanen") == ["Aino Virtanen"]
    assert await names("zzz") == []
    assert await names("100%") == []  # a wildcard is a character, not a pattern
    for q in ("", "ab", "  a "):
        status, answer = await _call(agent, "GET", f"/api/v1/contacts?{urlencode({'q': q})}")
        assert status == 422 and answer["fields"] == {"q": "too_short"}

    [aino] = (await _get(agent, "/api/v1/contacts?q=Aino"))["contacts"]
    [emma] = (await _get(agent, "/api/v1/contacts?q=Emma"))["contacts"]
    assert aino["phones"] == [PASSENGER] and aino["requests_total"] == 1
    status, answer = await _call(agent, "POST", f"/api/v1/contacts/{aino['id']}/merge",
                                 json={"into": emma["id"]})
    assert status == 200, answer
    assert await names("Aino") == []
    assert await names("040 111 2233") == ["Emma Smith"]


async def test_bad_merges_get_a_clear_4xx_and_change_nothing(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    client = await _hub(hub, settings)
    agent = await dispatcher(client)
    for token, number in (("bad-merge-0001", "040 111 2233"), ("bad-merge-0002", "050 555 0101"),
                          ("bad-merge-0003", "045 123 4567")):
        await submit(agent.http, agent.base, token, phone=number)
    a, b, c = (r["contact"]["id"] for r in sorted(
        await agent.open_requests(), key=lambda r: r["reference"]))
    unknown = str(uuid.uuid4())

    async def merge(source: str, body: Any) -> tuple[int, dict[str, Any]]:
        return await _call(agent, "POST", f"/api/v1/contacts/{source}/merge", json=body)

    assert await merge(a, {"into": a}) == (422, {
        "error": "a passenger cannot be merged into themselves", "fields": {"into": "same"},
        "code": "merge_into_self", "params": {}})
    assert (await merge(a, {"into": unknown}))[0] == 422
    assert (await merge(a, {"into": "not-an-id"}))[1]["fields"] == {"into": "invalid"}
    assert (await merge(a, {}))[1]["fields"] == {"into": "invalid"}
    assert (await merge(unknown, {"into": a}))[0] == 404
    assert (await merge("not-an-id", {"into": a}))[0] == 404
    assert (await merge(a, {"into": b}))[0] == 200
    status, answer = await merge(c, {"into": a})
    assert status == 409 and answer["merged_into"] == b
    status, answer = await merge(a, {"into": c})
    assert status == 409 and answer["merged_into"] == b
    status, answer = await _call(agent, "PATCH", f"/api/v1/contacts/{a}", json={"name": "X"})
    assert status == 409 and answer["merged_into"] == b
    assert (await _call(agent, "GET", f"/api/v1/contacts/{unknown}"))[0] == 404
    assert (await _call(agent, "GET", f"/api/v1/contacts/{unknown}/timeline"))[0] == 404
    status, answer = await _call(agent, "GET", f"/api/v1/contacts/{b}/timeline?before=yesterday")
    assert status == 422 and answer["fields"] == {"before": "invalid"}
    status, answer = await _call(agent, "GET", f"/api/v1/contacts/{b}/timeline?limit=0")
    assert status == 422 and answer["fields"] == {"limit": "invalid"}
    card = (await _get(agent, f"/api/v1/contacts/{c}"))["contact"]
    assert card["requests_total"] == 1 and card["phones"] == ["+358451234567"]


async def test_external_users_get_403_on_every_passenger_route(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    client = await _hub(hub, settings)
    team = await dispatcher(client)
    external = await dispatcher(client, role=Role.EXTERNAL)
    await submit(team.http, team.base, "external-0001")
    await submit(team.http, team.base, "external-0002", phone="050 555 0101")
    first, second = (r["contact"]["id"] for r in await team.open_requests())
    for method, path, body in (
        ("GET", "/api/v1/contacts?q=Aino", None),
        ("GET", f"/api/v1/contacts/{first}", None),
        ("GET", f"/api/v1/contacts/{first}/timeline", None),
        ("PATCH", f"/api/v1/contacts/{first}", {"name": "Ei saa"}),
        ("POST", f"/api/v1/contacts/{first}/merge", {"into": second}),
        ("GET", "/api/v1/contacts/not-an-id", None),
    ):
        status, answer = await _call(external, method, path, json=body)
        assert status == 403, (method, path, answer)
    assert (await _get(team, f"/api/v1/contacts/{first}"))["contact"]["name"] == "Aino Virtanen"
    status, _ = await _call(team, "POST", "/api/v1/auth/logout")
    assert status == 200
    assert (await _call(team, "GET", f"/api/v1/contacts/{first}"))[0] == 401
