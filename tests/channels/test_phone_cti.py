"""Generic CTI call events posted as a PBX posts them: an answered call is claimed and then
resolved by the agent who answered, a call nobody answered becomes a callback request at
the head of the queue, and a repeated event changes nothing."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis

from hub.agents import add_agent
from hub.app import create_app
from hub.appkeys import DATABASE
from hub.errors import OperatorMustAct
from hub.keys import Keys
from hub.model import Agent, Role
from hub.settings import ChannelsSettings, PhoneSettings, Secret, Settings
from tests.conftest import PASSWORD, DispatcherFactory, HubFactory
from tests.helpers import Dispatcher, eventually, submit

SECRET = "cti-shared-secret"
PASSENGER = "+358401234567"
CALL = {"from": "0401234567", "to": "0912345678", "direction": "in"}
SETTLE_S = 0.3


async def _hub(hub: HubFactory, settings: Settings, **phone: Any) -> TestClient[Any, Any]:
    return await hub(dataclasses.replace(
        settings, channels=ChannelsSettings(enabled=("webform", "phone_cti")),
        phone=PhoneSettings(cti_secret=Secret(SECRET), **phone)))


async def _post(client: TestClient[Any, Any], *, token: str | None = SECRET,
                **fields: Any) -> tuple[int, Any]:
    headers = {"X-CTI-Token": token} if token is not None else {}
    async with client.post("/webhooks/phone/cti", json=fields, headers=headers) as resp:
        return resp.status, await resp.json()


async def _agent(client: TestClient[Any, Any], login: str, phone_login: str) -> Agent:
    return await add_agent(client.app[DATABASE], login=login, name=login.title() + " Ajaja",
                           role=Role.TEAM, password=PASSWORD, phone_login=phone_login)


async def _only_request(viewer: Dispatcher, status: str = "queued,claimed,resolved"
                        ) -> dict[str, Any]:
    async with viewer.http.get(f"{viewer.base}/api/v1/requests?status={status}") as resp:
        found = (await resp.json())["requests"]
    assert len(found) == 1, found
    return await viewer.request(found[0]["id"])


async def _published(raw_redis: Redis, settings: Settings) -> int:
    """Console events published so far, once none has come for a while (the outbox relay
    and the router publish within milliseconds of a commit)."""
    key = Keys(settings.redis.prefix).events

    async def settled() -> int | None:
        before = await raw_redis.xlen(key)
        await asyncio.sleep(SETTLE_S)
        return before if before == await raw_redis.xlen(key) else None
    return await eventually(settled, what="the event stream settling")


async def test_answered_call_is_claimed_then_resolved_by_the_answering_agent(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    client = await _hub(hub, settings)
    viewer = await dispatcher(client)
    anna = await _agent(client, "anna", phone_login="201")
    console = await viewer.console()
    call = {**CALL, "callId": "1700000000.101"}

    assert await _post(client, event="newCall", user=["Anna Ajaja", "Ville"], **call) \
        == (200, {})
    ringing = (await console.until(lambda e: e["type"] == "call.ringing"))[-1]
    assert ringing["call"]["state"] == "ringing" and ringing["call"]["caller"] == PASSENGER
    assert ringing["request"]["channel"] == "phone"
    assert ringing["caller"] == {"name": None, "known": False, "previous_requests": [],
                                 "pickup_addresses": []}
    assert await _post(client, event="answer", answeringNumber="201", user="Anna Ajaja",
                       **call) == (200, {})
    answered = (await console.until(lambda e: e["type"] == "call.answered"))[-1]
    assert answered["request"]["status"] == "claimed"
    assert answered["request"]["assigned_agent"]["id"] == str(anna.id)
    assert answered["handling"]["note"] == "answered call"
    assert await _post(client, event="hangup", cause="normalClearing", answeringNumber="201",
                       **call) == (200, {})

    detail = await _only_request(viewer)
    assert detail["status"] == "resolved"
    assert detail["last_agent"]["id"] == str(anna.id)
    assert [(h["action"], h["agent"]["id"]) for h in detail["history"]] \
        == [("claim", str(anna.id)), ("resolve", str(anna.id))]
    assert [m["body"] for m in detail["messages"]] == ["Incoming call"]
    [recorded] = detail["calls"]
    assert (recorded["state"], recorded["direction"], recorded["cause"]) \
        == ("ended", "in", "normalClearing")
    assert recorded["agent"] == {"id": str(anna.id), "name": "Anna Ajaja"}
    started, answered_at, ended = (datetime.fromisoformat(recorded[k]) for k in
                                   ("started_at", "answered_at", "ended_at"))
    assert started <= answered_at <= ended
    assert recorded["ring_time_s"] == round((answered_at - started).total_seconds(), 3)
    assert recorded["talk_time_s"] == round((ended - answered_at).total_seconds(), 3)
    timings = detail["timings"]
    assert timings["service_started_at"] == recorded["answered_at"]
    assert timings["first_response_at"] == recorded["answered_at"]
    assert timings["ended_at"] == recorded["ended_at"]


@pytest.mark.parametrize("cause", ["cancel", "noAnswer", "busy"])
async def test_unanswered_call_becomes_a_callback_request_ahead_of_the_queue(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings, cause: str
) -> None:
    client = await _hub(hub, settings)
    viewer = await dispatcher(client)
    console = await viewer.console()
    await submit(viewer.http, viewer.base, "form-order-0001", phone="040 111 2222")
    call = {**CALL, "callId": f"missed-{cause}"}

    assert (await _post(client, event="newCall", **call))[0] == 200
    assert (await _post(client, event="hangup", cause=cause, **call))[0] == 200

    callback = (await console.until(lambda e: e["type"] == "request.callback"))[-1]
    queue = await viewer.open_requests()
    assert [r["channel"] for r in queue] == ["phone", "webform"]  # the older order waits
    first = queue[0]
    assert first["id"] == callback["request"]["id"] and first["status"] == "queued"
    details = first["details"]
    assert (details["callback"], details["callback_number"], details["missed_calls"]) \
        == ("true", PASSENGER, "1")
    missed_at = datetime.fromisoformat(details["missed_at"])
    assert datetime.fromisoformat(details["callback_due_at"]) - missed_at \
        == timedelta(minutes=15)
    assert int(details["missed_wait_s"]) >= 0
    assert first["priority"] > queue[1]["priority"]
    [recorded] = (await viewer.request(first["id"]))["calls"]
    assert (recorded["state"], recorded["cause"], recorded["answered_at"], recorded["agent"]) \
        == ("ended", cause, None, None)
    assert recorded["talk_time_s"] is None and recorded["ring_time_s"] is not None


async def test_every_event_posted_twice_changes_nothing(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings, raw_redis: Redis
) -> None:
    client = await _hub(hub, settings)
    viewer = await dispatcher(client)
    await _agent(client, "anna", phone_login="201")
    answered = {**CALL, "callId": "twice-answered"}
    missed = {**CALL, "callId": "twice-missed", "from": "+358509998877"}
    events = [
        {"event": "newCall", **answered}, {"event": "answer", "answeringNumber": "201",
                                           **answered},
        {"event": "hangup", "cause": "normalClearing", **answered},
        {"event": "newCall", **missed}, {"event": "hangup", "cause": "cancel", **missed},
    ]
    for event in events:
        assert (await _post(client, **event))[0] == 200
        before = await _snapshot(viewer)
        published = await _published(raw_redis, settings)
        assert (await _post(client, **event)) == (200, {})
        assert await _snapshot(viewer) == before, event
        assert await _published(raw_redis, settings) == published, event
    assert [r["status"] for r in await _snapshot(viewer)] == ["resolved", "queued"]


async def _snapshot(viewer: Dispatcher) -> list[dict[str, Any]]:
    """Every request in full: version, messages, history, calls."""
    url = f"{viewer.base}/api/v1/requests?status=queued,claimed,resolved"
    async with viewer.http.get(url) as resp:
        found = (await resp.json())["requests"]
    ordered = sorted(found, key=lambda r: r["reference"])
    return [await viewer.request(r["id"]) for r in ordered]


async def test_wrong_or_missing_token_is_refused_and_stores_nothing(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    client = await _hub(hub, settings)
    viewer = await dispatcher(client)
    call = {**CALL, "callId": "token-1", "event": "newCall"}

    assert (await _post(client, token=None, **call))[0] == 401
    assert (await _post(client, token="wrong", **call))[0] == 403
    async with client.post("/webhooks/phone/cti?token=wrong", data=call) as resp:
        assert resp.status == 403
    assert await _snapshot(viewer) == []

    status, answer = await _post(client, **{**call, "direction": "sideways"})
    assert (status, answer["error"]) == (422, "Invalid direction!")
    status, answer = await _post(client, **{**call, "from": "not a number"})
    assert (status, answer["fields"]) == (422, {"from": "invalid"})
    assert await _snapshot(viewer) == []

    # A form with the token in the query, as a PBX without custom headers posts it.
    form = [(k, v) for k, v in call.items()] + [("user[]", "Anna"), ("user[]", "Ville")]
    async with client.post(f"/webhooks/phone/cti?token={SECRET}", data=form) as resp:
        assert (resp.status, await resp.json()) == (200, {})
    assert [r["channel"] for r in await _snapshot(viewer)] == ["phone"]


async def test_phone_cti_will_not_start_without_a_secret(settings: Settings) -> None:
    app = create_app(dataclasses.replace(
        settings, channels=ChannelsSettings(enabled=("phone_cti",)), phone=PhoneSettings()))
    server = TestServer(app)
    with pytest.raises(OperatorMustAct, match="cti_secret"):
        await server.start_server()
    await app.cleanup()  # what started before the channels closes again


async def test_missed_calls_within_the_window_fold_and_a_later_answer_closes_them(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    client = await _hub(hub, settings)
    viewer = await dispatcher(client)
    anna = await _agent(client, "anna", phone_login="201")
    for call_id, cause in (("fold-1", "cancel"), ("fold-2", "noAnswer")):
        await _post(client, event="newCall", callId=call_id, **CALL)
        await _post(client, event="hangup", callId=call_id, cause=cause, **CALL)
        if call_id == "fold-1":
            first = (await viewer.open_requests())[0]["details"]

    [callback] = await viewer.open_requests()
    details = callback["details"]
    assert details["missed_calls"] == "2"
    assert details["callback_due_at"] == first["callback_due_at"]  # the first miss's promise
    assert details["last_missed_at"] > first["last_missed_at"]
    assert [c["cause"] for c in (await viewer.request(callback["id"]))["calls"]] \
        == ["cancel", "noAnswer"]

    # The passenger gets through: the call threads into the callback request and closes it.
    await _post(client, event="newCall", callId="fold-3", **CALL)
    await _post(client, event="answer", callId="fold-3", answeringNumber="201", **CALL)
    await _post(client, event="hangup", callId="fold-3", cause="normalClearing", **CALL)
    detail = await viewer.request(callback["id"])
    assert detail["status"] == "resolved"
    assert detail["last_agent"]["id"] == str(anna.id)
    assert len(detail["calls"]) == 3
    assert await viewer.open_requests() == []


async def test_dispatcher_calling_back_closes_the_callback_request(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    client = await _hub(hub, settings)
    viewer = await dispatcher(client)
    ville = await _agent(client, "ville", phone_login="202")
    await _post(client, event="newCall", callId="back-1", **CALL)
    await _post(client, event="hangup", callId="back-1", cause="busy", **CALL)
    [callback] = await viewer.open_requests()

    # Out from extension 202 to the passenger: unanswered first, then answered.
    out = {"from": "202", "to": "040 123 4567", "direction": "out", "user": "Ville Ajaja"}
    await _post(client, event="newCall", callId="back-2", **out)
    await _post(client, event="hangup", callId="back-2", cause="noAnswer", **out)
    assert [r["id"] for r in await viewer.open_requests()] == [callback["id"]]
    await _post(client, event="newCall", callId="back-3", **out)
    await _post(client, event="answer", callId="back-3", **out)
    await _post(client, event="hangup", callId="back-3", cause="normalClearing", **out)

    detail = await viewer.request(callback["id"])
    assert detail["status"] == "resolved"
    assert detail["last_agent"]["id"] == str(ville.id)
    assert [(c["direction"], c["state"], (c["agent"] or {}).get("id")) for c in detail["calls"]] \
        == [("in", "ended", None), ("out", "ended", None), ("out", "ended", str(ville.id))]
    assert [m["body"] for m in detail["messages"]] \
        == ["Incoming call", "Outgoing call", "Outgoing call"]


async def test_a_miss_after_the_window_starts_the_callback_over(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    client = await _hub(hub, settings, repeat_window_minutes=0)
    viewer = await dispatcher(client)
    for call_id in ("late-1", "late-2"):
        await _post(client, event="newCall", callId=call_id, **CALL)
        await _post(client, event="hangup", callId=call_id, cause="cancel", **CALL)
        if call_id == "late-1":
            first = (await viewer.open_requests())[0]["details"]
    [callback] = await viewer.open_requests()
    assert callback["details"]["missed_calls"] == "1"
    assert callback["details"]["missed_at"] > first["missed_at"]


async def test_caller_profile_shows_name_previous_requests_and_pickup_addresses(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    client = await _hub(hub, settings)
    viewer = await dispatcher(client)
    console = await viewer.console()
    for n, address in enumerate(("Mannerheimintie 1", "Kamppi", "Mannerheimintie 1",
                                 "Rautatieasema")):
        receipt = await submit(viewer.http, viewer.base, f"profile-order-{n:04d}",
                               phone="040 123 4567", pickup_address=address)
        async with viewer.http.post(
                f"{viewer.base}/api/v1/requests/{receipt['id']}/resolve") as resp:
            assert resp.status == 200

    await _post(client, event="newCall", callId="profile-1", **CALL)
    ringing = (await console.until(lambda e: e["type"] == "call.ringing"))[-1]
    profile = ringing["caller"]
    assert profile["name"] == "Aino Virtanen" and profile["known"] is True
    assert profile["pickup_addresses"] == ["Rautatieasema", "Mannerheimintie 1", "Kamppi"]
    assert [p["channel"] for p in profile["previous_requests"]] == ["webform"] * 4
    assert all(p["status"] == "resolved" for p in profile["previous_requests"])
    assert ringing["request"]["id"] not in {p["id"] for p in profile["previous_requests"]}


async def test_user_on_answer_is_matched_to_the_agents_phone_login(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    client = await _hub(hub, settings)
    viewer = await dispatcher(client)
    anna = await _agent(client, "anna", phone_login="sip-anna")
    call = {**CALL, "callId": "login-1"}
    await _post(client, event="newCall", user=["sip-anna", "sip-ville"], **call)
    assert await _post(client, event="answer", user="SIP-Anna", **call) == (200, {})
    claimed = await _only_request(viewer)
    assert claimed["status"] == "claimed"
    assert claimed["assigned_agent"]["id"] == str(anna.id)
    await _post(client, event="hangup", cause="normalClearing", **call)
    detail = await _only_request(viewer)
    assert detail["status"] == "resolved" and detail["last_agent"]["id"] == str(anna.id)
    assert detail["calls"][0]["agent"]["id"] == str(anna.id)


async def test_a_call_answered_by_someone_unknown_ends_resolved_with_no_agent(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    client = await _hub(hub, settings)
    viewer = await dispatcher(client)
    console = await viewer.console()
    await _agent(client, "anna", phone_login="201")
    call = {**CALL, "callId": "unknown-1"}
    await _post(client, event="newCall", **call)
    assert await _post(client, event="answer", user="Kalle Kassinen", answeringNumber="299",
                       **call) == (200, {})
    answered = await _only_request(viewer)
    assert (answered["status"], answered["assigned_agent"]) == ("queued", None)
    assert answered["timings"]["service_started_at"] == answered["calls"][0]["answered_at"]
    await _post(client, event="hangup", cause="normalClearing", **call)

    ended = (await console.until(lambda e: e["type"] == "call.ended"))[-1]
    assert ended["request"]["status"] == "resolved"
    detail = await _only_request(viewer)
    assert (detail["status"], detail["last_agent"], detail["history"]) \
        == ("resolved", None, [])
    [recorded] = detail["calls"]
    assert (recorded["state"], recorded["agent"], recorded["cause"]) \
        == ("ended", None, "normalClearing")
    timings = detail["timings"]
    assert timings["service_started_at"] == recorded["answered_at"]
    assert timings["first_response_at"] == recorded["answered_at"]
    assert timings["ended_at"] == recorded["ended_at"]
    assert await viewer.open_requests() == []


async def test_a_hang_up_before_any_answer_is_a_missed_call_and_a_late_answer_is_ignored(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings, raw_redis: Redis
) -> None:
    client = await _hub(hub, settings)
    viewer = await dispatcher(client)
    await _agent(client, "anna", phone_login="201")
    call = {**CALL, "callId": "late-answer-1"}
    await _post(client, event="newCall", **call)
    assert await _post(client, event="hangup", cause="normalClearing", **call) == (200, {})

    missed = await _only_request(viewer)
    assert missed["status"] == "queued" and missed["assigned_agent"] is None
    details = missed["details"]
    assert (details["callback"], details["callback_number"], details["missed_calls"]) \
        == ("true", PASSENGER, "1")
    assert datetime.fromisoformat(details["callback_due_at"]) \
        - datetime.fromisoformat(details["missed_at"]) == timedelta(minutes=15)
    assert (missed["calls"][0]["state"], missed["calls"][0]["cause"]) \
        == ("ended", "normalClearing")

    published = await _published(raw_redis, settings)
    assert await _post(client, event="answer", answeringNumber="201", user="Anna Ajaja",
                       **call) == (200, {})
    assert await _only_request(viewer) == missed  # no claim, no agent, same version
    assert await _published(raw_redis, settings) == published
