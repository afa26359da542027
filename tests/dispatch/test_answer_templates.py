"""Automatic answer templates: admins manage them through the API (each change in the audit
trail, without the text); one per kind, lane and language; a placeholder the hub does not
fill is refused, naming it; team and external users cannot touch them. The answering engine
finds the lane's own template first, then the every-lane one, then the built-in text, and
renders it with its values."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dispatch.lanes_demo import seed_lanes
from hub.answer_templates import DEFAULTS, find_template, render_template
from hub.appkeys import DATABASE
from hub.model import Role
from tests.conftest import DispatcherFactory, HubFactory
from tests.helpers import Dispatcher

BASE = "/api/v1/admin/answer-templates"
ACK_FI = "Kiitos {name}! Viite {reference}, odotus {wait}."


async def _call(who: Dispatcher, method: str, path: str,
                body: dict[str, Any] | None = None) -> tuple[int, Any]:
    async with who.http.request(method, who.base + path, json=body) as resp:
        answer = await resp.json() if resp.content_type == "application/json" else None
        return resp.status, answer


async def _add(admin: Dispatcher, **fields: Any) -> dict[str, Any]:
    status, answer = await _call(admin, "POST", BASE, {
        "kind": "acknowledgement", "language": "fi", "lane": None, "body": ACK_FI, **fields})
    assert status == 201, answer
    added: dict[str, Any] = answer["answer_template"]
    return added


async def test_an_admin_adds_changes_and_deletes_templates_in_the_audit_trail(
    hub: HubFactory, dispatcher: DispatcherFactory
) -> None:
    client = await hub()
    await seed_lanes(client.app[DATABASE])
    admin = await dispatcher(client, role=Role.ADMIN, name="Pää Käyttäjä")
    every = await _add(admin)
    lost = await _add(admin, kind="out_of_hours", lane="lost", language="en",
                      body="  Closed. We call you back ({opens}). Ref {reference}.  ")
    assert (every["kind"], every["lane"], every["language"], every["body"]) == (
        "acknowledgement", None, "fi", ACK_FI)
    assert every["updated_by"] == {"id": str(admin.agent.id), "name": "Pää Käyttäjä"}
    assert lost["body"] == "Closed. We call you back ({opens}). Ref {reference}."

    status, listed = await _call(admin, "GET", BASE)
    assert status == 200
    assert [x["id"] for x in listed["answer_templates"]] == [every["id"], lost["id"]]
    assert listed["placeholders"] == ["reference", "name", "wait", "opens"]
    assert listed["filled"] == {"acknowledgement": ["reference", "name", "wait"],
                                "out_of_hours": ["reference", "name", "opens"]}
    assert listed["defaults"]["acknowledgement"]["fi"] == DEFAULTS[("acknowledgement", "fi")]

    status, answer = await _call(admin, "PUT", f"{BASE}/{lost['id']}", {
        "kind": "out_of_hours", "lane": "lost", "language": "en",
        "body": "Lost property is closed; we call you back {opens}. Ref {reference}."})
    assert status == 200, answer
    assert answer["answer_template"]["body"].startswith("Lost property is closed")

    assert (await _call(admin, "DELETE", f"{BASE}/{every['id']}"))[0] == 200
    assert (await _call(admin, "DELETE", f"{BASE}/{every['id']}"))[0] == 404
    assert (await _call(admin, "PUT", f"{BASE}/{every['id']}", {
        "kind": "acknowledgement", "language": "fi", "body": "x"}))[0] == 404
    assert (await _call(admin, "DELETE", f"{BASE}/not-an-id"))[0] == 404
    _, listed = await _call(admin, "GET", BASE)
    assert [x["id"] for x in listed["answer_templates"]] == [lost["id"]]

    # Who did what to which template, never the text.
    status, trail = await _call(admin, "GET", "/api/v1/admin/audit?action=answer_template.")
    assert status == 200
    entries = trail["entries"]
    assert [(e["action"], e["subject"]) for e in entries] == [
        ("answer_template.delete", every["id"]), ("answer_template.change", lost["id"]),
        ("answer_template.add", lost["id"]), ("answer_template.add", every["id"])]
    assert {e["agent_id"] for e in entries} == {str(admin.agent.id)}
    assert entries[1]["detail"] == {"kind": "out_of_hours", "lane": "lost", "language": "en",
                                    "changed": ["body"]}
    assert "Kiitos" not in json.dumps(entries) and "closed" not in json.dumps(entries)


async def test_only_admins_manage_templates(
    hub: HubFactory, dispatcher: DispatcherFactory
) -> None:
    client = await hub()
    admin = await dispatcher(client, role=Role.ADMIN)
    added = await _add(admin)
    one = f"{BASE}/{added['id']}"
    body = {"kind": "acknowledgement", "language": "en", "body": "Thanks, {reference}."}
    for role in (Role.TEAM, Role.EXTERNAL):
        who = await dispatcher(client, role=role)
        assert (await _call(who, "GET", BASE))[0] == 403
        assert (await _call(who, "POST", BASE, body))[0] == 403
        assert (await _call(who, "PUT", one, body))[0] == 403
        assert (await _call(who, "DELETE", one))[0] == 403
    async with client.get(BASE) as anonymous:
        assert anonymous.status == 401
    async with client.post(BASE, json=body, headers={"Origin": "https://evil.example"}) as forged:
        assert forged.status == 403
    _, listed = await _call(admin, "GET", BASE)
    assert [x["body"] for x in listed["answer_templates"]] == [ACK_FI]


async def test_one_template_per_kind_lane_and_language(
    hub: HubFactory, dispatcher: DispatcherFactory
) -> None:
    client = await hub()
    await seed_lanes(client.app[DATABASE])
    admin = await dispatcher(client, role=Role.ADMIN)
    every = await _add(admin)
    status, answer = await _call(admin, "POST", BASE, {
        "kind": "acknowledgement", "language": "fi", "body": "Toinen {reference}."})
    assert status == 409
    assert answer == {"error": "every lane has an acknowledgement template in 'fi' already: "
                               "change that one", "existing": every["id"],
                      "code": "template_exists_every_lane",
                      "params": {"kind": "acknowledgement", "language": "fi"}}

    # Another lane, language or kind is another template; moving one onto a taken place is
    # refused too, and a template may keep its own place when it changes.
    orders = await _add(admin, lane="orders")
    await _add(admin, language="en", body="Thanks {name}, ref {reference}, wait {wait}.")
    await _add(admin, kind="out_of_hours", body="Kiinni, soitamme {opens}.")
    status, answer = await _call(admin, "PUT", f"{BASE}/{orders['id']}", {
        "kind": "acknowledgement", "language": "fi", "lane": None, "body": "x"})
    assert (status, answer["existing"]) == (409, every["id"])
    status, answer = await _call(admin, "PUT", f"{BASE}/{orders['id']}", {
        "kind": "acknowledgement", "language": "fi", "lane": "orders",
        "body": "Tilaus {reference}."})
    assert status == 200, answer
    status, answer = await _call(admin, "POST", BASE, {
        "kind": "acknowledgement", "language": "fi", "lane": "orders", "body": "x"})
    assert (status, answer["existing"]) == (409, orders["id"])
    _, listed = await _call(admin, "GET", BASE)
    assert len(listed["answer_templates"]) == 4


@pytest.mark.parametrize(("change", "fields", "reason"), [
    ({"body": "Viite {viite}, odotus {wait} ja {Name}."}, {"body": "unknown_placeholder"},
     "unknown placeholders in body: {viite}, {Name}; known: {reference}, {name}, {wait}"),
    ({"body": "Avaamme {opens}."}, {"body": "unknown_placeholder"},
     "{opens} is not filled in acknowledgement answers; they fill {reference}, {name}, "
     "{wait}"),
    ({"kind": "out_of_hours", "body": "Odota {wait}."}, {"body": "unknown_placeholder"},
     "{wait} is not filled in out_of_hours answers; they fill {reference}, {name}, {opens}"),
    ({"kind": "greeting"}, {"kind": "invalid"},
     "kind must be one of acknowledgement, out_of_hours"),
    ({"language": "de"}, {"language": "invalid"}, "language must be one of fi, sv, en"),
    ({"lane": "nowhere"}, {"lane": "unknown"},
     "no lane 'nowhere': choose an existing lane, or none for every lane"),
    ({"lane": 7}, {"lane": "invalid"}, "lane must be a lane's key, or null for every lane"),
    ({"body": "  "}, {"body": "required"}, "body is required"),
    ({"body": "x" * 1001}, {"body": "too_long"}, "body is at most 1000 characters (now 1001)"),
    ({"body": "nul \x00"}, {"body": "invalid"}, "body contains characters that cannot be stored"),
    ({"title": "x"}, {"title": "unknown"},
     "unknown fields: title (a template has kind, lane, language, body)"),
])
async def test_bad_templates_are_refused_naming_the_field(
    hub: HubFactory, dispatcher: DispatcherFactory, change: dict[str, Any],
    fields: dict[str, str], reason: str
) -> None:
    client = await hub()
    admin = await dispatcher(client, role=Role.ADMIN)
    body = {"kind": "acknowledgement", "language": "fi", "lane": None, "body": ACK_FI,
            **change}
    status, answer = await _call(admin, "POST", BASE, body)
    assert (status, answer["error"], answer["fields"]) == (422, reason, fields)
    assert answer["code"] and isinstance(answer["params"], dict)
    # Braces around anything but a word are plain text.
    await _add(admin, body="Viite {reference} { } {} {1 2}")


async def test_find_template_prefers_the_lanes_own_then_every_lane_then_the_default(
    hub: HubFactory, dispatcher: DispatcherFactory
) -> None:
    client = await hub()
    db = client.app[DATABASE]
    await seed_lanes(db)
    admin = await dispatcher(client, role=Role.ADMIN)

    async def find(kind: str, lane: str | None, language: str) -> str | None:
        async with db.read() as conn:
            return await find_template(conn, kind, lane, language)

    assert await find("acknowledgement", "orders", "fi") == (
        "Kiitos yhteydenotostasi. Viitteesi on {reference}. Arvioitu odotusaika {wait}.")
    assert await find("acknowledgement", None, "en") == (
        "Thank you for contacting us. Your reference is {reference}. Estimated wait {wait}.")
    assert await find("out_of_hours", "lost", "fi") == (
        "Olemme nyt kiinni. Soitamme sinulle, kun avaamme ({opens}). Viite {reference}.")
    assert await find("out_of_hours", "lost", "en") == (
        "We are closed now. We will call you back when we open ({opens}). "
        "Reference {reference}.")
    assert await find("acknowledgement", "orders", "sv") == (
        "Tack för att du kontaktade oss. Ditt referensnummer är {reference}. "
        "Beräknad väntetid {wait}.")
    assert await find("out_of_hours", "lost", "sv") == (
        "Vi har stängt nu. Vi ringer upp dig när vi öppnar ({opens}). Referens {reference}.")
    assert await find("acknowledgement", "orders", "de") is None
    assert await find("greeting", "orders", "fi") is None

    every = await _add(admin, body="Kaikki jonot {reference}.")
    await _add(admin, lane="orders", body="Tilaukset {reference}.")
    await _add(admin, lane="lost", language="en", body="Lost property {reference}.")
    assert await find("acknowledgement", "orders", "fi") == "Tilaukset {reference}."
    assert await find("acknowledgement", "lost", "fi") == "Kaikki jonot {reference}."
    assert await find("acknowledgement", None, "fi") == "Kaikki jonot {reference}."
    assert await find("acknowledgement", "lost", "en") == "Lost property {reference}."
    await _add(admin, lane="orders", language="sv", body="Beställningar {reference}.")
    assert await find("acknowledgement", "orders", "sv") == "Beställningar {reference}."
    assert await find("acknowledgement", "lost", "sv") == DEFAULTS[("acknowledgement", "sv")]
    assert await find("acknowledgement", "orders", "en") == DEFAULTS[("acknowledgement", "en")]
    assert await find("out_of_hours", "orders", "fi") == DEFAULTS[("out_of_hours", "fi")]

    assert (await _call(admin, "DELETE", f"{BASE}/{every['id']}"))[0] == 200
    assert await find("acknowledgement", "lost", "fi") == DEFAULTS[("acknowledgement", "fi")]


def test_render_fills_placeholders_and_leaves_no_bare_braces() -> None:
    values = {"reference": "A12-345", "wait": "noin 5 min", "name": "Aino"}
    assert render_template(DEFAULTS[("acknowledgement", "fi")], values) == (
        "Kiitos yhteydenotostasi. Viitteesi on A12-345. Arvioitu odotusaika noin 5 min.")
    assert render_template(DEFAULTS[("out_of_hours", "en")],
                           {"reference": "B7", "opens": "Mon 1 Dec 07:00"}) == (
        "We are closed now. We will call you back when we open (Mon 1 Dec 07:00). "
        "Reference B7.")
    # No estimate: the sentence naming it is left out, not "odotusaika ei arviota".
    assert render_template(DEFAULTS[("acknowledgement", "fi")],
                           {"reference": "A12-345", "wait": None}) == (
        "Kiitos yhteydenotostasi. Viitteesi on A12-345.")
    # A value not given is left out; a value is never expanded again; other braces stay.
    assert render_template("Hei {name}! {reference} { } {x y}", {"reference": "{name}"}) == (
        "Hei ! {name} { } {x y}")
