"""Calling passengers back, through the public API with a fake Asterisk as the PBX
(tests/fake_ami.py): a queue call the passenger gives up on becomes a callback request; "call
now" sends an Originate that rings the dispatcher's own extension and dials the passenger,
and the AMI events of that call land on the callback request even when the passenger has a
newer open request (and a dispatcher's phone left ringing leaves an unanswered outgoing
call there, nothing else); without a PBX, a phone login, or a PBX that takes the call, the
answer is a tel: link; outcomes are recorded and counted; a colleague's request answers
409, and an external user gets 404 for a request not theirs."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from channels.phone.ami_originate import Placed, originate_fields, placed
from hub.agents import add_agent
from hub.appkeys import DATABASE
from hub.errors import BadInput
from hub.model import Role
from hub.settings import AmiSettings, ChannelsSettings, PhoneSettings, Secret, Settings
from tests.channels.test_phone_ami import _abandoned, _arrives, _snapshot
from tests.conftest import PASSWORD, DispatcherFactory, HubFactory, server_url
from tests.fake_ami import FakeAmi
from tests.helpers import Dispatcher, eventually, http_session, submit

USER, SECRET = "taxiconnect", "ami-secret"
PASSENGER = "+358401234567"  # the caller of tests.channels.test_phone_ami's calls
CENTRE = "Taksi <+358100700>"
TRUNK = "PJSIP/trunk-0000000d"

PhoneDispatcher = Callable[..., Awaitable[Dispatcher]]


@pytest.fixture
async def asterisk() -> AsyncIterator[FakeAmi]:
    async with FakeAmi(USER, SECRET) as fake:
        yield fake


@pytest.fixture
async def with_phone() -> AsyncIterator[PhoneDispatcher]:
    """Dispatchers with a PBX extension (phone login), logged in through the API."""
    opened: list[Dispatcher] = []

    async def open_(client: TestClient[Any, Any], name: str, phone_login: str | None,
                    role: Role = Role.TEAM) -> Dispatcher:
        login = f"{name.split()[0].lower()}{uuid.uuid4().hex[:4]}"
        agent = await add_agent(client.app[DATABASE], login=login, name=name, role=role,
                                password=PASSWORD, phone_login=phone_login)
        found = Dispatcher(agent, http_session(), server_url(client))
        opened.append(found)
        async with found.http.post(f"{found.base}/api/v1/auth/login",
                                   json={"login": login, "password": PASSWORD}) as resp:
            assert resp.status == 200, await resp.text()
        return found

    yield open_
    for found in opened:
        await found.close()


async def _hub(hub: HubFactory, settings: Settings, fake: FakeAmi | None) -> TestClient[Any, Any]:
    if fake is None:
        return await hub(dataclasses.replace(
            settings, channels=ChannelsSettings(enabled=("webform",))))
    return await hub(dataclasses.replace(
        settings, channels=ChannelsSettings(enabled=("webform", "asterisk_ami")),
        phone=PhoneSettings(ami=AmiSettings(host="127.0.0.1", port=fake.port, user=USER,
                                            secret=Secret(SECRET),
                                            originate_caller_id=CENTRE))))


async def _post(who: Dispatcher, path: str, body: dict[str, Any] | None = None
                ) -> tuple[int, dict[str, Any]]:
    async with who.http.post(f"{who.base}{path}", json=body) as resp:
        return resp.status, await resp.json()


async def _missed_call(fake: FakeAmi, viewer: Dispatcher, linked: str) -> dict[str, Any]:
    """A passenger gives up waiting in the queue: the callback request it becomes."""
    await fake.send(_arrives(linked) + _abandoned(linked))

    async def callback() -> dict[str, Any] | None:
        for found in await viewer.open_requests():
            if found["details"].get("callback") == "true":
                return await viewer.request(found["id"])
        return None
    return await eventually(callback, what="a callback request")


def _passenger_answers(channel: str, linked: str) -> str:
    """The dialplan dials the passenger from the dispatcher's answered channel; the passenger
    answers, talks, and hangs up (events as Asterisk 18 writes them)."""
    caller = _snapshot(channel, linked, linked, "+358100700", exten=PASSENGER)
    callee = _snapshot(TRUNK, linked[:-8] + "99999999", linked, PASSENGER, prefix="Dest",
                       state="Ringing", exten=PASSENGER)
    return (f"Event: DialBegin\nPrivilege: call,all\n{caller}{callee}"
            f"DialString: trunk/{PASSENGER}\n\n"
            f"Event: DialEnd\nPrivilege: call,all\n{caller}"
            f"{callee.replace('DestChannelStateDesc: Ringing', 'DestChannelStateDesc: Up')}"
            "DialStatus: ANSWER\n\n"
            f"Event: Hangup\nPrivilege: call,all\n"
            f"{_snapshot(TRUNK, linked[:-8] + '99999999', linked, PASSENGER)}"
            "Cause: 16\nCause-txt: Normal Clearing\n\n"
            f"Event: Hangup\nPrivilege: call,all\n{caller}"
            "Cause: 16\nCause-txt: Normal Clearing\n\n")


async def test_call_now_rings_the_dispatcher_and_the_call_lands_on_the_callback(
    hub: HubFactory, with_phone: PhoneDispatcher, settings: Settings, asterisk: FakeAmi
) -> None:
    client = await _hub(hub, settings, asterisk)
    anna = await with_phone(client, "Anna Ajaja", "201")
    await asterisk.wait_for_logins(1)
    callback = await _missed_call(asterisk, anna, "1700000400.51")
    assert callback["details"]["callback_number"] == PASSENGER
    # The passenger also has a newer open request (a web form, merged into them): a call
    # threaded by number alone would land there.
    form = await submit(anna.http, anna.base, "callback-form-1", phone="",
                        email="aino@example.org", message="Soittakaa minulle")
    form_contact = (await anna.request(form["id"]))["contact"]["id"]
    status, merged = await _post(anna, f"/api/v1/contacts/{form_contact}/merge",
                                 {"into": callback["contact"]["id"]})
    assert status == 200, merged

    status, answer = await _post(anna, f"/api/v1/requests/{callback['id']}/call")
    assert status == 202, answer
    assert (answer["via"], answer["number"]) == ("pbx", PASSENGER)
    assert answer["request"]["assigned_agent"]["id"] == str(anna.agent.id)
    [originate] = [a for a in asterisk.actions if a["action"] == "Originate"]
    assert originate["actionid"] == answer["action_id"]
    assert (originate["channel"], originate["exten"], originate["context"]) \
        == ("PJSIP/201", PASSENGER, "from-internal")
    assert (originate["callerid"], originate["async"], originate["priority"]) \
        == (CENTRE, "true", "1")
    [(channel, linked)] = asterisk.originated
    assert linked == originate["channelid"]

    # Anna's phone answered (the fake sent that); the dialplan reaches the passenger.
    async def ringing() -> dict[str, Any] | None:
        found = await anna.request(callback["id"])
        return found if len(found["calls"]) == 2 else None
    on_call = await eventually(ringing, what="the callback's call on the request")
    assert on_call["calls"][1]["direction"] == "out"
    await asterisk.send(_passenger_answers(channel, linked))

    done = await anna.wait_for_status(callback["id"], "resolved")
    missed, called = done["calls"]
    assert (missed["direction"], missed["answered_at"]) == ("in", None)
    assert (called["direction"], called["caller"], called["called"], called["state"],
            called["cause"]) == ("out", "201", PASSENGER, "ended", "normalClearing")
    assert called["agent"]["id"] == str(anna.agent.id)
    assert [h["action"] for h in done["history"]] == ["callback_call", "claim", "resolve"]
    assert all(h["agent"]["id"] == str(anna.agent.id) for h in done["history"])
    assert (await anna.request(form["id"]))["calls"] == []

    # Anna says how it went after the call ended it: reached, so it stays resolved.
    status, outcome = await _post(anna, f"/api/v1/requests/{callback['id']}/callback-outcome",
                                  {"outcome": "reached"})
    assert status == 200, outcome
    assert outcome["request"]["status"] == "resolved"
    assert outcome["request"]["details"]["callback"] == "done"


async def test_a_pbx_that_refuses_or_a_dispatcher_without_extension_gets_a_tel_link(
    hub: HubFactory, with_phone: PhoneDispatcher, settings: Settings, asterisk: FakeAmi
) -> None:
    client = await _hub(hub, settings, asterisk)
    anna = await with_phone(client, "Anna Ajaja", "201")
    bo = await with_phone(client, "Bo Berg", None)
    await asterisk.wait_for_logins(1)
    callback = await _missed_call(asterisk, anna, "1700000500.61")

    status, answer = await _post(bo, f"/api/v1/requests/{callback['id']}/call")
    assert status == 200, answer
    assert (answer["via"], answer["tel"]) == ("tel", f"tel:{PASSENGER}")
    assert "pbx_error" not in answer
    status, _ = await _post(bo, f"/api/v1/requests/{callback['id']}/release")
    assert status == 200

    # Anna's own phone rings out: an outgoing call on the request that reached nobody.
    asterisk.dispatcher_answers = False
    status, answer = await _post(anna, f"/api/v1/requests/{callback['id']}/call")
    assert (status, answer["via"]) == (202, "pbx"), answer

    async def rang_out() -> dict[str, Any] | None:
        calls = (await anna.request(callback["id"]))["calls"]
        return calls[1] if len(calls) == 2 and calls[1]["state"] == "ended" else None
    unanswered = await eventually(rang_out, what="the callback's unanswered call")
    assert (unanswered["direction"], unanswered["cause"], unanswered["answered_at"]) \
        == ("out", "noAnswer", None)
    assert [r["id"] for r in await anna.open_requests()] == [callback["id"]]

    asterisk.refuse_originate = "Permission denied"
    status, answer = await _post(anna, f"/api/v1/requests/{callback['id']}/call")
    assert status == 200, answer
    assert (answer["via"], answer["tel"]) == ("tel", f"tel:{PASSENGER}")
    assert "Permission denied" in answer["pbx_error"]
    assert len(asterisk.originated) == 1  # the refused one rang nothing
    history = (await anna.request(callback["id"]))["history"]
    assert [(h["action"], h["agent"]["name"]) for h in history if h["action"] != "release"] \
        == [("callback_call", "Bo Berg"), ("callback_call", "Anna Ajaja"),
            ("callback_call", "Anna Ajaja")]


async def test_without_a_pbx_the_answer_is_a_tel_link(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    client = await _hub(hub, settings, None)
    anna = await dispatcher(client)
    form = await submit(anna.http, anna.base, "callback-form-2", phone="040 765 4321")
    status, answer = await _post(anna, f"/api/v1/requests/{form['id']}/call")
    assert status == 200, answer
    assert (answer["via"], answer["tel"], answer["number"]) \
        == ("tel", "tel:+358407654321", "+358407654321")
    assert answer["request"]["status"] == "claimed"
    assert answer["request"]["details"]["callback_called_at"]

    nobody = await submit(anna.http, anna.base, "callback-form-3", phone="",
                          email="no.phone@example.org")
    status, refused = await _post(anna, f"/api/v1/requests/{nobody['id']}/call")
    assert (status, refused["fields"]) == (422, {"number": "none"})


async def test_outcomes_are_recorded_counted_and_reached_ends_the_callback(
    hub: HubFactory, with_phone: PhoneDispatcher, settings: Settings, asterisk: FakeAmi
) -> None:
    client = await _hub(hub, settings, asterisk)
    anna = await with_phone(client, "Anna Ajaja", None)
    await asterisk.wait_for_logins(1)
    callback = await _missed_call(asterisk, anna, "1700000600.71")
    console = await anna.console()
    path = f"/api/v1/requests/{callback['id']}/callback-outcome"

    status, first = await _post(anna, path, {"outcome": "no_answer", "note": "  Ei vastannut "})
    assert status == 200, first
    status, second = await _post(anna, path, {"outcome": "busy"})
    assert status == 200, second
    details = second["request"]["details"]
    assert (details["callback"], details["callback_attempts"], details["callback_outcome"]) \
        == ("true", "2", "busy")
    assert second["request"]["assigned_agent"]["id"] == str(anna.agent.id)
    events = await console.until(lambda e: e["type"] == "request.callback_outcome"
                                 and e["outcome"] == "busy")
    outcomes = [(e["outcome"], e["handling"]["note"]) for e in events
                if e["type"] == "request.callback_outcome"]
    assert outcomes == [("no_answer", "Ei vastannut"), ("busy", None)]

    async with anna.http.get(f"{anna.base}/api/v1/requests?filter=callbacks") as resp:
        [listed] = (await resp.json())["requests"]
    assert listed["details"]["callback_attempts"] == "2"

    for bad in ({"outcome": "maybe"}, {"outcome": "busy", "note": 5}, {}):
        status, refused = await _post(anna, path, bad)
        assert status == 422, (bad, refused)

    status, reached = await _post(anna, path, {"outcome": "reached", "note": "Auto tilattu"})
    assert status == 200, reached
    done = reached["request"]
    assert (done["status"], done["details"]["callback"]) == ("claimed", "done")
    assert done["details"]["callback_attempts"] == "2" and done["details"]["callback_done_at"]
    async with anna.http.get(f"{anna.base}/api/v1/requests?filter=callbacks") as resp:
        assert (await resp.json())["requests"] == []
    history = (await anna.request(callback["id"]))["history"]
    assert [(h["action"], h["note"]) for h in history] == [
        ("cb_no_answer", "Ei vastannut"), ("cb_busy", None), ("cb_reached", "Auto tilattu")]


async def test_a_request_a_colleague_holds_answers_409(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    client = await _hub(hub, settings, None)
    anna = await dispatcher(client, name="Anna Ajaja")
    bo = await dispatcher(client, name="Bo Berg")
    form = await submit(anna.http, anna.base, "callback-form-4")
    status, _ = await _post(anna, f"/api/v1/requests/{form['id']}/claim")
    assert status == 200
    for path, body in (("call", None), ("callback-outcome", {"outcome": "no_answer"})):
        status, refused = await _post(bo, f"/api/v1/requests/{form['id']}/{path}", body)
        assert status == 409, refused
        assert refused["held_by"]["name"] == "Anna Ajaja"
    assert [h["action"] for h in (await bo.request(form["id"]))["history"]] == ["claim"]


async def test_an_external_user_gets_404_for_a_request_not_theirs(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    client = await _hub(hub, settings, None)
    anna = await dispatcher(client)
    partner = await dispatcher(client, role=Role.EXTERNAL, name="Partner Taxi")
    form = await submit(anna.http, anna.base, "callback-form-5")
    for target in (form["id"], str(uuid.uuid4())):
        for path, body in (("call", None), ("callback-outcome", {"outcome": "busy"})):
            status, refused = await _post(partner, f"/api/v1/requests/{target}/{path}", body)
            assert status == 404, refused
    async with partner.http.post(f"{partner.base}/api/v1/requests/{form['id']}/call",
                                 headers={"Origin": "https://evil.example"}) as resp:
        assert resp.status == 403
    assert (await anna.request(form["id"]))["history"] == []

    # Once it is theirs, they call back like anyone.
    status, _ = await _post(anna, f"/api/v1/requests/{form['id']}/transfer",
                            {"agent_id": str(partner.agent.id)})
    assert status == 200
    status, answer = await _post(partner, f"/api/v1/requests/{form['id']}/call")
    assert (status, answer["via"]) == (200, "tel"), answer


@pytest.mark.parametrize(("number_format", "number", "exten"), [
    ("e164", "+358401234567", "+358401234567"),
    ("national", "+358401234567", "0401234567"),
    ("national", "+46701234567", "0046701234567"),  # abroad, as dialled from Finland
])
def test_originate_dials_the_number_as_the_context_expects(
    number_format: str, number: str, exten: str
) -> None:
    ami = AmiSettings(originate_channel="Local/{extension}@agents",
                      originate_number_format=number_format, originate_timeout_s=20)
    fields = originate_fields(ami, action_id="a-1", extension="201", number=number,
                              reference="10007", region="FI")
    assert (fields["Channel"], fields["Exten"], fields["Timeout"]) \
        == ("Local/201@agents", exten, "20000")
    assert "CallerID" not in fields
    assert placed(fields["ChannelId"]) == Placed("10007", number)
    assert placed("1700000400.51") is None
    with pytest.raises(BadInput):
        originate_fields(ami, action_id="a-2", extension="201&PJSIP/666", number=number,
                         reference="10007", region="FI")
