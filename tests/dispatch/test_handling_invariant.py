"""One owner of request state (hub.handling): after every kind of action, whoever takes it
(a console action, a reply, a PBX's call events, a callback, a group message, a hand-back),
the request read back over `/api/v1/requests/{id}` tells one consistent story: its status
and holder agree, its last agent is the agent of its latest handling event, its timings are
the moments of its handling events, and its version grew."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from hub.agents import add_agent
from hub.appkeys import DATABASE
from hub.model import Agent, Role
from hub.settings import (
    ChannelsSettings,
    HttpSettings,
    PhoneSettings,
    Secret,
    Settings,
    SmsSettings,
    TwilioSettings,
)
from tests.conftest import PASSWORD, DispatcherFactory, HubFactory, free_port
from tests.gateways import FakeTwilio
from tests.helpers import Dispatcher, submit

CTI_SECRET = "cti-shared-secret"
TOKEN, ACCOUNT = "twilio-test-auth-token", "AC" + "1" * 32
CALL = {"from": "0401234567", "to": "0912345678", "direction": "in"}
# Actions after which the agent holds the request and has begun serving it.
TAKING = {"claim", "transfer", "reply", "callback_call", "resolve"}
# An answer to the passenger: a reply, an answered call, a call back.
ANSWERING = {"reply", "callback_call"}
# Handling events that are not the agent's own action: they never make a last agent.
NOT_THEIRS = {"offer", "offer_timeout", "decline"}


@pytest.fixture
async def twilio() -> Any:
    async with FakeTwilio(account_sid=ACCOUNT, auth_token=TOKEN) as fake:
        yield fake


async def _hub(hub: HubFactory, settings: Settings, twilio: FakeTwilio) -> TestClient[Any, Any]:
    port = free_port()
    return await hub(dataclasses.replace(
        settings,
        channels=ChannelsSettings(enabled=("webform", "twilio_sms", "phone_cti")),
        http=HttpSettings(public_url=f"http://127.0.0.1:{port}"),
        sms=SmsSettings(twilio=TwilioSettings(
            auth_token=Secret(TOKEN), account_sid=ACCOUNT, from_number="+358451234567",
            api_url=twilio.url)),
        phone=PhoneSettings(cti_secret=Secret(CTI_SECRET)),
    ), port=port)


def _at(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value is not None else None


def _close(a: datetime | None, b: datetime | None) -> bool:
    if a is None or b is None:
        return a is b
    return abs((a - b).total_seconds()) < 0.002


class Story:
    """The request read back after each step, checked against itself and the step before."""

    def __init__(self, viewer: Dispatcher, request_id: str) -> None:
        self.viewer = viewer
        self.id = request_id
        self.version = 0

    async def agrees(self, status: str, *, holder: Agent | None = None,
                     last: Agent | None = None, action: str | None = None) -> dict[str, Any]:
        found = await self.viewer.request(self.id)
        history = found["history"]
        t = {k: _at(v) for k, v in found["timings"].items() if k.endswith("_at")}
        assert found["status"] == status, found
        assert found["version"] > self.version, (self.version, found["version"])
        self.version = found["version"]
        # Status and holder agree; an open offer never outlives a holder or the end.
        holding = found["assigned_agent"]
        assert (holding is not None) == (status == "claimed"), found
        assert holding == (_agent(holder) if holder else None)
        assert (t["ended_at"] is not None) == (status == "resolved"), t
        if status != "queued":
            assert found["offer"] is None
        # The last agent is the agent of the newest handling event that was their own.
        own = [h for h in history if h["action"] not in NOT_THEIRS]
        expected_last = own[-1]["agent"] if own else None
        assert found["last_agent"] == expected_last, (found["last_agent"], history)
        assert found["last_agent"] == (_agent(last) if last else None)
        if action is not None:
            assert history[-1]["action"] == action, history
        # Timings are the moments of the handling events, in order.
        took = [_at(h["at"]) for h in history if h["action"] in TAKING
                or (h["action"] == "claim")]
        answered = [_at(h["at"]) for h in history if h["action"] in ANSWERING
                    or h["note"] == "answered call"]
        if took:
            assert _close(t["service_started_at"], took[0]), (t, history)
        if answered:
            assert _close(t["first_response_at"], answered[0]), (t, history)
        if status == "resolved":
            resolved = [h for h in history if h["action"] == "resolve"]
            if resolved:
                assert _close(t["ended_at"], _at(resolved[-1]["at"])), (t, history)
        order = [t["case_started_at"], t["queued_at"], t["service_started_at"]]
        known = [x for x in order if x is not None]
        assert known == sorted(known), t
        return found


def _agent(agent: Agent) -> dict[str, str]:
    return {"id": str(agent.id), "name": agent.name}


async def _post(who: Dispatcher, path: str, body: dict[str, Any] | None = None,
                status: int = 200) -> dict[str, Any]:
    async with who.http.post(f"{who.base}{path}", json=body or {}) as resp:
        answer: dict[str, Any] = await resp.json()
        assert resp.status == status, answer
        return answer


async def _cti(client: TestClient[Any, Any], **fields: Any) -> None:
    async with client.post("/webhooks/phone/cti", json=fields,
                           headers={"X-CTI-Token": CTI_SECRET}) as resp:
        assert resp.status == 200, await resp.text()


async def test_console_actions_and_a_reply_keep_one_story(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings, twilio: FakeTwilio
) -> None:
    client = await _hub(hub, settings, twilio)
    anna, bo = await dispatcher(client), await dispatcher(client)
    admin = await dispatcher(client, Role.ADMIN)
    receipt = await submit(anna.http, anna.base, "tok-invariant-01", phone="040 111 2222")
    await anna.wait_for_status(receipt["id"], "queued")
    story = Story(admin, receipt["id"])
    path = f"/api/v1/requests/{receipt['id']}"

    await _post(anna, f"{path}/claim")
    await story.agrees("claimed", holder=anna.agent, last=anna.agent, action="claim")
    await _post(anna, f"{path}/transfer", {"agent_id": str(bo.agent.id)})
    found = await story.agrees("claimed", holder=bo.agent, last=anna.agent, action="transfer")
    assert found["timings"]["first_response_at"] is None
    status, answer = await bo.reply(receipt["id"], "Auto tulossa", "invariant-reply-1")
    assert status == 201, answer
    await story.agrees("claimed", holder=bo.agent, last=bo.agent, action="reply")
    await _post(bo, f"{path}/release")
    await story.agrees("queued", last=bo.agent, action="release")
    await _post(anna, f"{path}/resolve")
    await story.agrees("resolved", last=anna.agent, action="resolve")
    await _post(bo, f"{path}/reopen")
    found = await story.agrees("queued", last=bo.agent, action="reopen")
    assert found["timings"]["ended_at"] is None
    await _post(admin, f"{path}/notes", {"text": "Soitettu perään"})
    await story.agrees("queued", last=admin.agent, action="note")


async def test_call_answered_and_ended_keep_one_story(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings, twilio: FakeTwilio
) -> None:
    client = await _hub(hub, settings, twilio)
    viewer = await dispatcher(client)
    anna = await add_agent(client.app[DATABASE], login="anna", name="Anna Ajaja",
                           role=Role.TEAM, password=PASSWORD, phone_login="201")
    call = {**CALL, "callId": "invariant-answered"}
    await _cti(client, event="newCall", **call)
    [ringing] = await viewer.open_requests()
    story = Story(viewer, ringing["id"])
    await story.agrees("queued")

    await _cti(client, event="answer", answeringNumber="201", **call)
    found = await story.agrees("claimed", holder=anna, last=anna, action="claim")
    assert found["timings"]["first_response_at"] == found["calls"][0]["answered_at"]
    await _cti(client, event="hangup", cause="normalClearing", answeringNumber="201", **call)
    found = await story.agrees("resolved", last=anna, action="resolve")
    assert found["timings"]["ended_at"] == found["calls"][0]["ended_at"]


async def test_missed_call_callback_and_its_outcome_keep_one_story(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings, twilio: FakeTwilio
) -> None:
    client = await _hub(hub, settings, twilio)
    anna = await dispatcher(client)
    call = {**CALL, "callId": "invariant-missed"}
    await _cti(client, event="newCall", **call)
    await _cti(client, event="hangup", cause="noAnswer", **call)
    [missed] = await anna.open_requests()
    story = Story(anna, missed["id"])
    found = await story.agrees("queued")
    assert (found["details"]["callback"], found["details"]["missed_calls"]) == ("true", "1")
    assert found["history"] == [] and found["priority"] >= 100

    path = f"/api/v1/requests/{missed['id']}"
    await _post(anna, f"{path}/call")
    found = await story.agrees("claimed", holder=anna.agent, last=anna.agent,
                               action="callback_call")
    assert found["details"]["callback_called_at"]
    await _post(anna, f"{path}/callback-outcome", {"outcome": "no_answer"})
    found = await story.agrees("claimed", holder=anna.agent, last=anna.agent,
                               action="cb_no_answer")
    assert found["details"]["callback_attempts"] == "1"
    await _post(anna, f"{path}/callback-outcome", {"outcome": "reached"})
    found = await story.agrees("claimed", holder=anna.agent, last=anna.agent,
                               action="cb_reached")
    assert found["details"]["callback"] == "done"
    async with anna.http.get(f"{anna.base}/api/v1/requests?filter=callbacks") as resp:
        assert (await resp.json())["requests"] == []
    await _post(anna, f"{path}/resolve")
    await story.agrees("resolved", last=anna.agent, action="resolve")


async def test_group_message_and_hand_back_keep_one_story(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings, twilio: FakeTwilio
) -> None:
    client = await _hub(hub, settings, twilio)
    admin = await dispatcher(client, Role.ADMIN)
    anna = await dispatcher(client)
    created = (await _post(admin, "/api/v1/admin/groups", {"name": "Yövuoro"}, 201))["group"]
    await _post(admin, f"/api/v1/admin/groups/{created['id']}/members/import",
                {"csv": "Kuljettaja 1;040 100 0001;"})
    sent = await _post(anna, f"/api/v1/groups/{created['id']}/messages", {
        "body": "Tuletko töihin?", "channels": ["sms"], "client_key": "invariant-g1"}, 201)
    story = Story(admin, sent["request"]["id"])
    found = await story.agrees("claimed", holder=anna.agent, last=anna.agent, action="reply")
    assert found["timings"]["first_response_at"] == found["timings"]["service_started_at"]

    # A request claimed and not answered goes back when its dispatcher goes offline.
    receipt = await submit(anna.http, anna.base, "tok-invariant-02", phone="040 111 3333")
    await anna.wait_for_status(receipt["id"], "queued")
    await _post(anna, f"/api/v1/requests/{receipt['id']}/claim")
    handed = Story(admin, receipt["id"])
    await handed.agrees("claimed", holder=anna.agent, last=anna.agent, action="claim")
    async with anna.http.put(f"{anna.base}/api/v1/me/presence",
                             json={"state": "offline"}) as resp:
        assert resp.status == 200, await resp.text()
    found = await handed.agrees("queued", last=anna.agent, action="release")
    assert found["history"][-1]["note"].endswith("went offline")
    # The group thread was answered: it stays with her.
    thread = await admin.request(sent["request"]["id"])
    assert (thread["status"], thread["assigned_agent"]) == ("claimed", _agent(anna.agent))
