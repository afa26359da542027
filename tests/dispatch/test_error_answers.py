"""A refusal says what went wrong as a code with its params beside the English reason, so
the console can say it in Finnish: the password reset, a groups CSV line, a claim that lost,
the login and a route the hub does not have."""

from __future__ import annotations

from typing import Any

from hub.error_codes import ErrorCode, render
from hub.model import Role
from tests.conftest import DispatcherFactory, HubFactory
from tests.helpers import Dispatcher, http_session, submit


async def _call(who: Dispatcher, method: str, path: str,
                body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    async with who.http.request(method, who.base + path, json=body) as resp:
        answer: dict[str, Any] = await resp.json()
        return resp.status, answer


def _finnish(answer: dict[str, Any]) -> str:
    return render(ErrorCode(answer["code"]), answer["params"], "fi")


async def test_admin_refusals_carry_codes_with_their_params(
    hub: HubFactory, dispatcher: DispatcherFactory
) -> None:
    client = await hub()
    admin = await dispatcher(client, role=Role.ADMIN)
    user = await dispatcher(client)

    status, answer = await _call(admin, "POST", f"/api/v1/admin/agents/{user.agent.id}/password",
                                 {"password": "too short"})
    assert (status, answer) == (422, {
        "error": "password must be at least 12 characters", "code": "password_too_short",
        "params": {"min": 12}, "fields": {"password": "too_short"}})
    assert _finnish(answer) == "Salasanassa on oltava vähintään 12 merkkiä."

    status, created = await _call(admin, "POST", "/api/v1/admin/groups", {"name": "Kuljettajat"})
    assert status == 201, created
    status, answer = await _call(
        admin, "POST", f"/api/v1/admin/groups/{created['group']['id']}/members/import",
        {"csv": "Hyvä Rivi;0407654321;\nHuono Rivi;abc;\n;0401112222;"})
    assert status == 422, answer
    assert (answer["code"], answer["params"]) == (
        "csv_lines_invalid", {"count": 2, "line": 2, "field": "phone"})
    assert answer["fields"] == {"line 2": "phone: phone_invalid", "line 3": "name: required"}
    assert _finnish(answer) == ("Tarkista merkityt rivit (2); ensimmäinen on rivi 2, "
                                "kenttä phone.")

    status, answer = await _call(admin, "POST", "/api/v1/admin/groups", {"name": "Kuljettajat"})
    assert (status, answer["code"], answer["params"]) == (
        409, "group_name_taken", {"name": "Kuljettajat"})
    assert answer["fields"] == {"name": "taken"}  # the conflict's own detail is kept


async def test_a_lost_claim_names_the_holder_in_the_params(
    hub: HubFactory, dispatcher: DispatcherFactory
) -> None:
    client = await hub()
    anna = await dispatcher(client, name="Anna Ajojärjestelijä")
    ville = await dispatcher(client, name="Ville")
    request_id = (await submit(anna.http, anna.base, "tok-error-codes-01"))["id"]
    await anna.wait_for_status(request_id, "queued")

    assert (await _call(anna, "POST", f"/api/v1/requests/{request_id}/claim"))[0] == 200
    status, answer = await _call(ville, "POST", f"/api/v1/requests/{request_id}/claim")
    assert status == 409
    assert (answer["error"], answer["code"], answer["params"]) == (
        "the request is held by Anna Ajojärjestelijä", "request_held_by",
        {"name": "Anna Ajojärjestelijä"})
    assert answer["held_by"]["name"] == "Anna Ajojärjestelijä"
    assert _finnish(answer) == "Pyyntö on käyttäjän Anna Ajojärjestelijä käsittelyssä."


async def test_the_login_and_unknown_routes_answer_with_codes(
    hub: HubFactory, dispatcher: DispatcherFactory
) -> None:
    client = await hub()
    anna = await dispatcher(client)
    async with http_session() as http:
        async with http.post(f"{anna.base}/api/v1/auth/login",
                             json={"login": "nobody", "password": "wrong password"}) as resp:
            assert (resp.status, await resp.json()) == (401, {
                "error": "wrong login or password", "code": "login_failed", "params": {}})
        async with http.get(f"{anna.base}/api/v1/requests") as resp:
            assert resp.status == 401 and (await resp.json())["code"] == "login_required"
    status, answer = await _call(anna, "GET", "/api/v1/no-such-thing")
    assert (status, answer["code"], answer["params"]) == (404, "not_found", {})
    status, answer = await _call(anna, "GET", "/api/v1/requests?status=lost")
    assert (status, answer["code"]) == (400, "status_invalid")
    assert answer["params"]["allowed"].startswith("queued, ")
