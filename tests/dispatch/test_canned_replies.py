"""Canned replies through the API: admins manage them (each change in the audit trail, without
the text), dispatchers list them and render one for a request with its placeholders filled;
team and external users cannot manage them, external users cannot use them, and a reply
naming an unknown placeholder is refused when it is saved, naming it."""

from __future__ import annotations

import json
from typing import Any

from dispatch.canned_demo import DEMO_REPLIES, seed_canned_replies
from dispatch.lanes_demo import seed_lanes
from hub.appkeys import DATABASE
from hub.model import Role
from tests.conftest import DispatcherFactory, HubFactory
from tests.helpers import Dispatcher, submit

ADMIN = "/api/v1/admin/canned-replies"
PICKER = "/api/v1/canned-replies"
ORDERED = "Taksi on tilattu, viite {reference}, arvioitu saapumisaika {eta}."


async def _call(who: Dispatcher, method: str, path: str,
                body: dict[str, Any] | None = None) -> tuple[int, Any]:
    async with who.http.request(method, who.base + path, json=body) as resp:
        answer = await resp.json() if resp.content_type == "application/json" else None
        return resp.status, answer


async def _add(admin: Dispatcher, **fields: Any) -> dict[str, Any]:
    status, answer = await _call(admin, "POST", ADMIN, {
        "title": "Tilaus vahvistettu", "language": "fi", "body": ORDERED, **fields})
    assert status == 201, answer
    added: dict[str, Any] = answer["canned_reply"]
    return added


async def _render(who: Dispatcher, request_id: str, canned_id: str,
                  body: dict[str, Any] | None = None) -> tuple[int, Any]:
    return await _call(who, "POST",
                       f"/api/v1/requests/{request_id}/canned-replies/{canned_id}/render", body)


async def test_an_admin_adds_changes_and_deletes_canned_replies(
    hub: HubFactory, dispatcher: DispatcherFactory
) -> None:
    client = await hub()
    admin = await dispatcher(client, role=Role.ADMIN, name="Pää Käyttäjä")
    fi = await _add(admin)
    en = await _add(admin, title="Order confirmed", language="en",
                    body="Your taxi is booked, reference {reference}, arriving in {eta}.")
    assert (fi["title"], fi["language"], fi["body"], fi["lane"]) == (
        "Tilaus vahvistettu", "fi", ORDERED, None)
    assert fi["updated_by"] == {"id": str(admin.agent.id), "name": "Pää Käyttäjä"}
    assert en["position"] > fi["position"]  # a new one goes last

    status, listed = await _call(admin, "GET", ADMIN)
    assert status == 200
    assert [r["id"] for r in listed["canned_replies"]] == [fi["id"], en["id"]]
    assert listed["placeholders"] == ["reference", "name", "eta", "agent"]

    status, answer = await _call(admin, "PUT", f"{ADMIN}/{en['id']}", {
        "title": "Taxi booked", "language": "en", "position": 0,
        "body": "  Hello {name}, your taxi is booked: {reference}. {agent}  "})
    assert status == 200, answer
    changed = answer["canned_reply"]
    assert (changed["title"], changed["position"]) == ("Taxi booked", 0)
    assert changed["body"] == "Hello {name}, your taxi is booked: {reference}. {agent}"
    _, listed = await _call(admin, "GET", ADMIN)
    assert [r["id"] for r in listed["canned_replies"]] == [en["id"], fi["id"]]

    assert (await _call(admin, "DELETE", f"{ADMIN}/{fi['id']}"))[0] == 200
    assert (await _call(admin, "DELETE", f"{ADMIN}/{fi['id']}"))[0] == 404
    assert (await _call(admin, "PUT", f"{ADMIN}/{fi['id']}", {
        "title": "x", "language": "fi", "body": "x"}))[0] == 404
    assert (await _call(admin, "DELETE", f"{ADMIN}/not-an-id"))[0] == 404
    _, listed = await _call(admin, "GET", ADMIN)
    assert [r["id"] for r in listed["canned_replies"]] == [en["id"]]

    # Every change is in the audit trail, by whom and which reply, never the text.
    status, trail = await _call(admin, "GET", "/api/v1/admin/audit?action=canned.")
    assert status == 200
    entries = trail["entries"]
    assert [(e["action"], e["subject"]) for e in entries] == [
        ("canned.delete", fi["id"]), ("canned.change", en["id"]),
        ("canned.add", en["id"]), ("canned.add", fi["id"])]
    assert {e["agent_id"] for e in entries} == {str(admin.agent.id)}
    assert entries[1]["detail"]["changed"] == ["body", "position", "title"]
    assert "saapumisaika" not in json.dumps(entries) and "Hello" not in json.dumps(entries)


async def test_only_admins_manage_and_external_users_cannot_use_them(
    hub: HubFactory, dispatcher: DispatcherFactory
) -> None:
    client = await hub()
    admin = await dispatcher(client, role=Role.ADMIN)
    team = await dispatcher(client, role=Role.TEAM)
    external = await dispatcher(client, role=Role.EXTERNAL)
    added = await _add(admin)
    receipt = await submit(team.http, team.base, "canned-roles-0001")
    one = f"{ADMIN}/{added['id']}"
    for who in (team, external):
        assert (await _call(who, "GET", ADMIN))[0] == 403
        assert (await _call(who, "POST", ADMIN, {
            "title": "x", "language": "fi", "body": "x"}))[0] == 403
        assert (await _call(who, "PUT", one, {"title": "x", "language": "fi",
                                              "body": "x"}))[0] == 403
        assert (await _call(who, "DELETE", one))[0] == 403
    async with client.get(ADMIN) as anonymous:
        assert anonymous.status == 401

    # A dispatcher lists them and renders one; an external user does neither.
    status, listed = await _call(team, "GET", PICKER)
    assert status == 200 and [r["id"] for r in listed["canned_replies"]] == [added["id"]]
    assert (await _render(team, receipt["id"], added["id"], {"eta": "5 min"}))[0] == 200
    assert (await _call(external, "GET", PICKER))[0] == 403
    assert (await _render(external, receipt["id"], added["id"], {"eta": "5 min"}))[0] == 403
    _, listed = await _call(admin, "GET", ADMIN)
    assert [r["title"] for r in listed["canned_replies"]] == ["Tilaus vahvistettu"]


async def test_fields_are_checked_and_unknown_placeholders_refused_by_name(
    hub: HubFactory, dispatcher: DispatcherFactory
) -> None:
    client = await hub()
    admin = await dispatcher(client, role=Role.ADMIN)
    good = {"title": "Auto matkalla", "language": "fi", "body": "Hei {name}!"}
    for change, reason in [
        ({"body": "Hei {nimi}, auto tulee {eta} ja {Reference}."},
         "unknown placeholders in body: {nimi}, {Reference}; known: {reference}, {name}, "
         "{eta}, {agent}"),
        ({"title": "  "}, "title is required"),
        ({"title": "x" * 101}, "title is at most 100 characters (now 101)"),
        ({"title": "kaksi\nriviä"}, "title contains characters that cannot be stored"),
        ({"language": "de"}, "language must be one of fi, sv, en"),
        ({"body": ""}, "body is required"),
        ({"body": 42}, "body must be text"),
        ({"body": "x" * 4001}, "body is at most 4000 characters (now 4001)"),
        ({"lane": "nowhere"}, "no lane 'nowhere': choose an existing lane, or none for every "
                              "lane"),
        ({"position": -1}, "position must be a whole number from 0 to 100000"),
        ({"position": True}, "position must be a whole number from 0 to 100000"),
        ({"colour": "red"}, "unknown fields: colour (a canned reply has title, language, "
                            "body, lane, position)"),
    ]:
        status, answer = await _call(admin, "POST", ADMIN, {**good, **change})
        assert (status, answer["error"]) == (400, reason), change
    _, listed = await _call(admin, "GET", ADMIN)
    assert listed["canned_replies"] == []

    # Braces that are no placeholder are plain text; the same checks apply to a change.
    added = await _add(admin, body="Hinta { noin 30 € } {reference}")
    status, answer = await _call(admin, "PUT", f"{ADMIN}/{added['id']}",
                                 {**good, "body": "Hei {nimi}"})
    assert status == 400 and "{nimi}" in answer["error"]

    # A lane that exists is accepted; the picker shows a lane's replies and the general ones.
    async with admin.http.post(admin.base + "/api/v1/admin/lanes", json={
            "key": "lost", "name_fi": "Löytötavarat", "name_en": "Lost property"}) as resp:
        assert resp.status == 201, await resp.text()
    lost = await _add(admin, title="Löytötavara", lane="lost", body="Tarkistamme {reference}.")
    en = await _add(admin, title="Lost property", language="en", lane="lost",
                    body="We are checking {reference}.")
    status, picked = await _call(admin, "GET", PICKER + "?lane=lost&language=fi")
    assert [r["id"] for r in picked["canned_replies"]] == [added["id"], lost["id"]]
    status, picked = await _call(admin, "GET", PICKER + "?lane=default")
    assert [r["id"] for r in picked["canned_replies"]] == [added["id"]]
    status, picked = await _call(admin, "GET", PICKER)
    assert [r["id"] for r in picked["canned_replies"]] == [added["id"], lost["id"], en["id"]]
    assert (await _call(admin, "GET", PICKER + "?language=de"))[0] == 400


async def test_render_fills_in_the_request_and_the_eta(
    hub: HubFactory, dispatcher: DispatcherFactory
) -> None:
    client = await hub()
    admin = await dispatcher(client, role=Role.ADMIN)
    team = await dispatcher(client, role=Role.TEAM, name="Ville Välittäjä")
    named = await submit(team.http, team.base, "canned-render-0001", name="Aino Virtanen")
    nameless = await submit(team.http, team.base, "canned-render-0002", name="",
                            phone="040 222 3344")
    fi = await _add(admin, body="Hei {name}, " + ORDERED + " T. {agent}")
    en = await _add(admin, language="en", title="On its way",
                    body="Hello {name}, your taxi ({reference}) is on its way.")

    status, rendered = await _render(team, named["id"], fi["id"], {"eta": "  10   min "})
    assert status == 200, rendered
    assert rendered == {
        "text": f"Hei Aino Virtanen, Taksi on tilattu, viite {named['reference']}, arvioitu "
                "saapumisaika 10 min. T. Ville Välittäjä",
        "canned_reply": fi["id"], "language": "fi"}

    # No name: a polite neutral form in the reply's language, never "None".
    _, rendered = await _render(team, nameless["id"], fi["id"], {"eta": "klo 18.05"})
    assert rendered["text"].startswith("Hei hyvä asiakas, Taksi on tilattu, viite "
                                       f"{nameless['reference']}, arvioitu saapumisaika "
                                       "klo 18.05.")
    status, rendered = await _render(team, nameless["id"], en["id"])
    assert (status, rendered["text"]) == (200, "Hello dear customer, your taxi "
                                               f"({nameless['reference']}) is on its way.")
    assert "None" not in rendered["text"]
    sv = await _add(admin, language="sv", title="På väg",
                    body="Hej {name}, din taxi ({reference}) är på väg.")
    status, rendered = await _render(team, nameless["id"], sv["id"])
    assert (status, rendered["text"]) == (200, "Hej bästa kund, din taxi "
                                               f"({nameless['reference']}) är på väg.")

    # An {eta} reply needs one, of one short line; unknown requests and replies are 404.
    for body, reason in [
        (None, "this canned reply needs an eta, such as \"10 min\""),
        ({"eta": ""}, "this canned reply needs an eta, such as \"10 min\""),
        ({"eta": "x" * 41}, "eta is at most 40 characters of plain text"),
        ({"eta": 10}, "eta must be text, such as \"10 min\""),
        ({"eta": "5 min", "name": "Joku"}, "unknown fields: name (give only eta)"),
    ]:
        status, answer = await _render(team, named["id"], fi["id"], body)
        assert (status, answer["error"]) == (400, reason)
    missing = "00000000-0000-4000-8000-000000000000"
    assert (await _render(team, missing, fi["id"], {"eta": "5 min"}))[0] == 404
    assert (await _render(team, named["id"], missing, {"eta": "5 min"}))[0] == 404
    assert (await _render(team, named["id"], "nope", {"eta": "5 min"}))[0] == 404

    # Rendering sends nothing and changes nothing on the request.
    detail = await team.request(named["id"])
    assert detail["status"] == "queued"
    assert [m["direction"] for m in detail["messages"]] == ["inbound"]


async def test_the_demo_replies_are_valid_and_seeded_once(
    hub: HubFactory, dispatcher: DispatcherFactory
) -> None:
    client = await hub()
    assert await seed_canned_replies(client.app[DATABASE]) == len(DEMO_REPLIES)
    assert await seed_canned_replies(client.app[DATABASE]) == 0  # a second run adds none
    team = await dispatcher(client)
    _, listed = await _call(team, "GET", PICKER)
    replies = listed["canned_replies"]
    assert [(r["language"], r["title"]) for r in replies] == [
        (language, title) for language, title, _ in DEMO_REPLIES]
    assert {r["language"] for r in replies} == {"fi", "en"}
    assert replies[0]["body"] == ("Taksi on tilattu, viite {reference}, arvioitu "
                                  "saapumisaika {eta}.")


async def test_the_demo_lost_property_replies_belong_to_the_demo_lost_lane(
    hub: HubFactory, dispatcher: DispatcherFactory
) -> None:
    client = await hub()
    await seed_lanes(client.app[DATABASE])
    await seed_canned_replies(client.app[DATABASE])
    team = await dispatcher(client)
    _, lost = await _call(team, "GET", PICKER + "?lane=lost")
    _, orders = await _call(team, "GET", PICKER + "?lane=orders")
    lost_only = {r["title"] for r in lost["canned_replies"]} - {
        r["title"] for r in orders["canned_replies"]}
    assert lost_only == {"Löytötavara", "Lost property"}
