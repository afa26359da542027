"""The Asterisk AMI client in a real TCP session with a fake Asterisk (tests/fake_ami.py):
it logs in, follows a queue call an agent answers and one the caller abandons, and comes
back after the server drops it, asking which channels are up and ending the calls that
ended meanwhile. While an announcement-only notice is out it keeps no new call. The events
are written out as Asterisk 18 sends them (field lists from the Asterisk AMI event
documentation)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis
from sqlalchemy import func, select

from channels.phone.ami_protocol import AmiParser, encode_action
from dispatch.appkeys import ADAPTERS
from hub import schema
from hub.agents import add_agent
from hub.appkeys import DATABASE
from hub.keys import Keys
from hub.model import Agent, Role
from hub.settings import AmiSettings, ChannelsSettings, PhoneSettings, Secret, Settings
from tests.conftest import PASSWORD, DispatcherFactory, HubFactory
from tests.fake_ami import FakeAmi
from tests.helpers import Dispatcher, eventually

USER, SECRET = "taxiconnect", "ami-secret"
PASSENGER = "+358401234567"
SETTLE_S = 0.3


def _snapshot(channel: str, uniqueid: str, linkedid: str, caller: str, *,
              prefix: str = "", state: str = "Up", exten: str = "0912345678") -> str:
    """The channel snapshot block most call events carry (`Dest`-prefixed for the callee)."""
    code = {"Ring": "4", "Ringing": "5", "Up": "6"}[state]
    return "".join(f"{prefix}{key}: {value}\n" for key, value in (
        ("Channel", channel), ("ChannelState", code), ("ChannelStateDesc", state),
        ("CallerIDNum", caller), ("CallerIDName", "<unknown>"),
        ("ConnectedLineNum", "<unknown>"), ("ConnectedLineName", "<unknown>"),
        ("Language", "fi"), ("AccountCode", ""), ("Context", "from-trunk"),
        ("Exten", exten), ("Priority", "1"), ("Uniqueid", uniqueid), ("Linkedid", linkedid)))


def _caller(linked: str, state: str = "Up", number: str = "0401234567") -> str:
    return _snapshot(f"PJSIP/trunk-{linked[-2:]}0000001", linked, linked, number,
                     state=state)


def _arrives(linked: str, number: str = "0401234567") -> str:
    """A passenger's call reaches the queue `taksi`."""
    return (f"Event: Newchannel\nPrivilege: call,all\n{_caller(linked, 'Ring', number)}\n"
            f"Event: VarSet\nPrivilege: dialplan,all\n{_caller(linked, 'Ring', number)}"
            "Variable: QUEUE_PRIO\nValue: 0\n\n"
            f"Event: QueueCallerJoin\nPrivilege: agent,all\n{_caller(linked, number=number)}"
            "Queue: taksi\nPosition: 1\nCount: 1\n\n")


def _agent_leg(linked: str) -> str:
    return _snapshot("PJSIP/201-0000000a", linked[:-2] + "99", linked, "201",
                     prefix="Dest", state="Ringing", exten="s")


def _answered_and_ended(linked: str) -> str:
    member = _agent_leg(linked)
    return (f"Event: DialBegin\nPrivilege: call,all\n{_caller(linked)}{member}"
            "DialString: 201\n\n"
            # The legacy answer to a `core show version` Command, blank line and all
            # (after gawel/panoramisk tests/fixtures/command_core_show_version.yaml, MIT).
            "Response: Follows\nPrivilege: Command\nActionID: cmd-1\n"
            "Asterisk 18.20.0 built by root @ pbx on a x86_64 running Linux\n\n"
            "Event: looks like a header\n--END COMMAND--\n\n"
            f"Event: AgentConnect\nPrivilege: agent,all\n{_caller(linked)}"
            f"{member.replace('DestChannelStateDesc: Ringing', 'DestChannelStateDesc: Up')}"
            "Queue: taksi\nMemberName: Anna Ajaja\nInterface: PJSIP/201\n"
            "RingTime: 3\nHoldTime: 7\n\n"
            f"Event: Hangup\nPrivilege: call,all\n"
            f"{_snapshot('PJSIP/201-0000000a', linked[:-2] + '99', linked, '201')}"
            "Cause: 16\nCause-txt: Normal Clearing\n\n"
            f"Event: Hangup\nPrivilege: call,all\n{_caller(linked)}"
            "Cause: 16\nCause-txt: Normal Clearing\n\n")


def _abandoned(linked: str, number: str = "0401234567") -> str:
    caller = _caller(linked, number=number)
    return (f"Event: QueueCallerAbandon\nPrivilege: agent,all\n{caller}"
            "Queue: taksi\nPosition: 1\nOriginalPosition: 1\nHoldTime: 25\n\n"
            f"Event: QueueCallerLeave\nPrivilege: agent,all\n{caller}"
            "Queue: taksi\nCount: 0\nPosition: 1\n\n"
            f"Event: Hangup\nPrivilege: call,all\n{caller}"
            "Cause: 16\nCause-txt: Normal Clearing\n\n")


def _agent_connects(linked: str, number: str) -> str:
    member = _agent_leg(linked).replace("DestChannelStateDesc: Ringing",
                                        "DestChannelStateDesc: Up")
    return (f"Event: AgentConnect\nPrivilege: agent,all\n{_caller(linked, number=number)}"
            f"{member}Queue: taksi\nMemberName: Anna Ajaja\nInterface: PJSIP/201\n"
            "RingTime: 3\nHoldTime: 7\n\n")


def _channel(linked: str, number: str) -> dict[str, str]:
    """The caller's channel as a CoreShowChannel event lists it."""
    return dict(line.split(": ", 1) for line in _caller(linked, number=number).splitlines())


@pytest.fixture
async def asterisk() -> AsyncIterator[FakeAmi]:
    async with FakeAmi(USER, SECRET) as fake:
        yield fake


async def _hub(hub: HubFactory, settings: Settings, fake: FakeAmi,
               secret: str = SECRET) -> TestClient[Any, Any]:
    return await hub(dataclasses.replace(
        settings, channels=ChannelsSettings(enabled=("webform", "asterisk_ami")),
        phone=PhoneSettings(ami=AmiSettings(host="127.0.0.1", port=fake.port, user=USER,
                                            secret=Secret(secret)))))


async def _requests(viewer: Dispatcher, status: str) -> list[dict[str, Any]]:
    async with viewer.http.get(f"{viewer.base}/api/v1/requests?status={status}") as resp:
        return [await viewer.request(r["id"]) for r in (await resp.json())["requests"]]


async def _one(viewer: Dispatcher, status: str,
               ready: Callable[[dict[str, Any]], bool] = lambda _: True) -> dict[str, Any]:
    """The one request in `status`, once `ready` says it shows what the test waits for."""
    async def probe() -> dict[str, Any] | None:
        found = await _requests(viewer, status)
        return found[0] if len(found) == 1 and ready(found[0]) else None
    return await eventually(probe, what=f"one {status} request")


async def test_queue_call_answered_by_an_agent(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings, asterisk: FakeAmi
) -> None:
    client = await _hub(hub, settings, asterisk)
    viewer = await dispatcher(client)
    anna: Agent = await add_agent(client.app[DATABASE], login="anna", name="Anna Ajaja",
                                  role=Role.TEAM, password=PASSWORD, phone_login="201")
    await asterisk.wait_for_logins(1)
    login = asterisk.actions[0]
    assert (login["action"], login["username"], login["secret"], login["events"]) \
        == ("Login", USER, SECRET, "on")

    await asterisk.send(_arrives("1700000000.11"))
    ringing = await _one(viewer, "queued", lambda r: bool(r["calls"]))
    assert ringing["calls"][0]["state"] == "ringing"
    assert ringing["contact"]["phones"] == [PASSENGER]
    await asterisk.send(_answered_and_ended("1700000000.11"))

    resolved = await _one(viewer, "resolved")
    assert resolved["id"] == ringing["id"]
    assert resolved["last_agent"]["id"] == str(anna.id)
    assert [h["action"] for h in resolved["history"]] == ["claim", "resolve"]
    [call] = resolved["calls"]
    assert (call["provider"], call["direction"], call["caller"], call["cause"]) \
        == ("ami", "in", PASSENGER, "normalClearing")
    assert call["agent"]["id"] == str(anna.id)
    assert call["answered_at"] is not None and call["talk_time_s"] is not None
    adapter = client.app[ADAPTERS]["asterisk_ami"]
    assert (adapter.events, adapter.lost) == (4, 0)  # new, (join), answer, hang-up


async def test_abandoned_queue_call_becomes_a_callback_request(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings, asterisk: FakeAmi
) -> None:
    client = await _hub(hub, settings, asterisk)
    viewer = await dispatcher(client)
    await asterisk.wait_for_logins(1)
    await asterisk.send(_arrives("1700000100.21") + _abandoned("1700000100.21"))

    async def callback() -> dict[str, Any] | None:
        found = await _requests(viewer, "queued")
        return found[0] if found and found[0]["details"].get("callback") else None
    request = await eventually(callback, what="a callback request")
    assert request["details"]["callback_number"] == PASSENGER
    [call] = request["calls"]
    assert (call["state"], call["cause"], call["answered_at"]) == ("ended", "abandon", None)


async def test_client_reconnects_after_the_server_drops_it(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings, asterisk: FakeAmi
) -> None:
    client = await _hub(hub, settings, asterisk)
    viewer = await dispatcher(client)
    await asterisk.wait_for_logins(1)
    await asterisk.drop()
    await asterisk.wait_for_logins(2)
    assert asterisk.connections == 2
    await asterisk.send(_arrives("1700000200.31") + _abandoned("1700000200.31"))
    request = await _one(viewer, "queued", lambda r: "callback" in r["details"])
    assert request["calls"][0]["cause"] == "abandon"


async def test_refused_login_is_tried_again_and_follows_no_calls(
    hub: HubFactory, settings: Settings, asterisk: FakeAmi
) -> None:
    client = await _hub(hub, settings, asterisk, secret="wrong")

    async def refused_twice() -> bool | None:
        return True if asterisk.failed_logins >= 2 else None
    await eventually(refused_twice, what="two refused logins")
    assert asterisk.logins == 0
    assert client.app[ADAPTERS]["asterisk_ami"].logged_in is False


def test_parser_reads_packets_however_the_bytes_arrive() -> None:
    wire = ("Asterisk Call Manager/5.0.3\n" + _arrives("1700000300.41")
            + _answered_and_ended("1700000300.41")).replace("\n", "\r\n").encode()
    whole = AmiParser()
    packets = whole.feed(wire)
    bytewise = AmiParser()
    assert [p for i in range(len(wire)) for p in bytewise.feed(wire[i:i + 1])] == packets
    assert whole.greeting == bytewise.greeting == "Asterisk Call Manager/5.0.3"
    assert [p.get("Event") or p.get("Response") for p in packets] == [
        "Newchannel", "VarSet", "QueueCallerJoin", "DialBegin", "Follows", "AgentConnect",
        "Hangup", "Hangup"]
    follows = packets[4]
    assert (follows["ActionID"], follows["Privilege"]) == ("cmd-1", "Command")
    assert follows["Output"] == ("Asterisk 18.20.0 built by root @ pbx on a x86_64 running "
                                 "Linux\n\nEvent: looks like a header")
    assert packets[5]["DestChannel"] == "PJSIP/201-0000000a"
    assert encode_action("Ping", {"ActionID": "p-1"}) == b"Action: Ping\r\nActionID: p-1\r\n\r\n"
    with pytest.raises(ValueError):
        encode_action("Login", {"Username": "x\r\nAction: Originate"})


async def _count(client: TestClient[Any, Any], table: Any) -> int:
    async with client.app[DATABASE].read() as conn:
        return int(await conn.scalar(select(func.count()).select_from(table)) or 0)


async def test_announcement_only_keeps_a_new_ami_call_out_of_the_hub(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings, asterisk: FakeAmi
) -> None:
    client = await _hub(hub, settings, asterisk)
    viewer = await dispatcher(client)
    adapter = client.app[ADAPTERS]["asterisk_ami"]
    await asterisk.wait_for_logins(1)
    earlier = "0401110005"  # a call already in the queue when the notice comes
    await asterisk.send(_arrives("1700000500.51", earlier))
    await _one(viewer, "queued", lambda r: bool(r["calls"]))
    async with viewer.http.post(f"{viewer.base}/api/v1/notices", json={
            "text_fi": "Järjestelmähäiriö: soita myöhemmin.",
            "text_en": "System outage: please call later.", "channels": ["phone"],
            "announcement_only": True}) as resp:
        assert resp.status == 201, await resp.text()
    tables = (schema.calls, schema.contacts, schema.contact_identities,
              schema.contact_requests, schema.messages)
    before = {t.name: await _count(client, t) for t in tables}
    events = adapter.events

    await asterisk.send(_arrives("1700000500.61", "0401110006")
                        + _abandoned("1700000500.61", "0401110006"))

    async def handled() -> bool | None:
        return True if adapter.events >= events + 4 else None  # join, abandon, hang-up...
    await eventually(handled, what="the AMI events handled")
    assert adapter.lost == 0
    assert {t.name: await _count(client, t) for t in tables} == before
    async with client.app[DATABASE].read() as conn:
        numbers = set((await conn.execute(select(schema.contact_identities.c.value))).scalars())
    assert "+358401110006" not in numbers
    # The call already known is still recorded to its end: a callback.
    await asterisk.send(_abandoned("1700000500.51", earlier))
    request = await _one(viewer, "queued", lambda r: "callback" in r["details"])
    assert request["details"]["callback_number"] == "+358401110005"


async def test_calls_that_end_while_the_connection_is_down_are_ended_on_reconnect(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings, asterisk: FakeAmi
) -> None:
    client = await _hub(hub, settings, asterisk)
    viewer = await dispatcher(client)
    anna: Agent = await add_agent(client.app[DATABASE], login="anna", name="Anna Ajaja",
                                  role=Role.TEAM, password=PASSWORD, phone_login="201")
    await asterisk.wait_for_logins(1)
    gone, talked, waiting = "1700000600.11", "1700000600.21", "1700000600.31"
    numbers = {gone: "0401110011", talked: "0401110021", waiting: "0401110031"}
    await asterisk.send(_arrives(gone, numbers[gone]) + _arrives(talked, numbers[talked])
                        + _agent_connects(talked, numbers[talked])
                        + _arrives(waiting, numbers[waiting]))

    async def three_calls() -> list[dict[str, Any]] | None:
        found = await _requests(viewer, "queued,claimed")
        states = sorted(c["state"] for r in found for c in r["calls"])
        return found if states == ["answered", "ringing", "ringing"] else None
    await eventually(three_calls, what="three calls followed")

    # Asterisk goes on without the hub: two callers hang up, one still waits.
    asterisk.channels = [_channel(waiting, numbers[waiting])]
    await asterisk.drop()
    await asterisk.wait_for_logins(2)

    def of(number: str) -> Callable[[dict[str, Any]], bool]:
        return lambda r: r["contact"]["phones"] == ["+358" + number[1:]]

    async def settled() -> list[dict[str, Any]] | None:
        # The list reads requests and their calls in two statements: on PostgreSQL a call
        # can be seen ended before its request is seen resolved; both must have landed.
        found = await _requests(viewer, "queued,claimed,resolved")
        ended = [c for r in found for c in r["calls"] if c["state"] == "ended"]
        resolved = [r for r in found if of(numbers[talked])(r) and r["status"] == "resolved"]
        return found if len(ended) == 2 and resolved else None
    found = await eventually(settled, what="the calls ended unseen")
    [missed] = [r for r in found if of(numbers[gone])(r)]
    assert (missed["status"], missed["details"]["callback"]) == ("queued", "true")
    assert missed["details"]["callback_number"] == "+358401110011"
    assert (missed["calls"][0]["cause"], missed["calls"][0]["answered_at"]) \
        == ("endedUnseen", None)
    [served] = [r for r in found if of(numbers[talked])(r)]
    assert served["status"] == "resolved" and served["last_agent"]["id"] == str(anna.id)
    [still] = [r for r in found if of(numbers[waiting])(r)]
    assert (still["status"], still["calls"][0]["state"]) == ("queued", "ringing")
    listed = [a for a in asterisk.actions if a["action"] == "CoreShowChannels"]
    assert len(listed) == 2 and all(a["actionid"] for a in listed)
    assert client.app[ADAPTERS]["asterisk_ami"].ended_unseen == 2

    # The caller still waiting is followed on the new connection.
    await asterisk.send(_abandoned(waiting, numbers[waiting]))

    async def abandoned() -> dict[str, Any] | None:
        return next((r for r in await _requests(viewer, "queued")
                     if of(numbers[waiting])(r) and "callback" in r["details"]), None)
    request = await eventually(abandoned, what="the waiting caller's callback")
    assert request["calls"][0]["cause"] == "abandon"


# The phone fixes of issue 12, as test_phone_cti.py proves them for generic CTI, here with
# the events Asterisk sends: a queue member the hub knows only by its phone login, one it
# does not know at all, and an answer that comes after the caller hung up.

def _member_connects(linked: str, *, interface: str, member: str) -> str:
    """Queue member `member` (its MemberName, `queue add member <interface> ... as
    <member>`) takes the call on `interface`; the caller is the default passenger."""
    leg = _snapshot(f"{interface}-0000000b", linked[:-2] + "98", linked,
                    interface.split("/", 1)[1].split("@", 1)[0], prefix="Dest", exten="s")
    return (f"Event: AgentConnect\nPrivilege: agent,all\n{_caller(linked)}{leg}"
            f"Queue: taksi\nMemberName: {member}\nInterface: {interface}\n"
            "RingTime: 4\nHoldTime: 9\n\n")


def _caller_hangs_up(linked: str) -> str:
    """The caller's channel ends with Q.850 cause 16 (normal clearing)."""
    return (f"Event: Hangup\nPrivilege: call,all\n{_caller(linked)}"
            "Cause: 16\nCause-txt: Normal Clearing\n\n")


async def _published(raw_redis: Redis, settings: Settings) -> int:
    """Console events published so far, once none has come for a while."""
    key = Keys(settings.redis.prefix).events

    async def settled() -> int | None:
        before = await raw_redis.xlen(key)
        await asyncio.sleep(SETTLE_S)
        return before if before == await raw_redis.xlen(key) else None
    return await eventually(settled, what="the event stream settling")


async def _handled(adapter: Any, count: int) -> None:
    """Until the adapter has handled `count` call events in all (kept or found to change
    nothing)."""
    async def done() -> bool | None:
        return True if adapter.events >= count else None
    await eventually(done, what=f"{count} AMI call events handled")


async def test_queue_member_name_is_matched_to_the_agents_phone_login(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings, asterisk: FakeAmi
) -> None:
    client = await _hub(hub, settings, asterisk)
    viewer = await dispatcher(client)
    # Anna's member interface is a Local channel whose extension is nobody's: only the
    # member name, her phone login written in another case, says who she is.
    anna: Agent = await add_agent(client.app[DATABASE], login="anna", name="Anna Ajaja",
                                  role=Role.TEAM, password=PASSWORD, phone_login="sip-anna")
    await asterisk.wait_for_logins(1)
    linked = "1700000700.11"
    await asterisk.send(_arrives(linked))
    await _one(viewer, "queued", lambda r: bool(r["calls"]))
    await asterisk.send(_member_connects(linked, interface="Local/5001@agents",
                                         member="SIP-Anna"))

    claimed = await _one(viewer, "claimed")
    assert claimed["assigned_agent"]["id"] == str(anna.id)
    assert claimed["calls"][0]["agent"]["id"] == str(anna.id)
    await asterisk.send(_caller_hangs_up(linked))
    detail = await _one(viewer, "resolved")
    assert detail["last_agent"]["id"] == str(anna.id)
    assert [(h["action"], h["agent"]["id"]) for h in detail["history"]] \
        == [("claim", str(anna.id)), ("resolve", str(anna.id))]
    assert (detail["calls"][0]["agent"]["id"], detail["calls"][0]["cause"]) \
        == (str(anna.id), "normalClearing")


async def test_a_call_answered_by_a_member_nobody_knows_ends_resolved_with_no_agent(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings, asterisk: FakeAmi
) -> None:
    client = await _hub(hub, settings, asterisk)
    viewer = await dispatcher(client)
    console = await viewer.console()
    await add_agent(client.app[DATABASE], login="anna", name="Anna Ajaja", role=Role.TEAM,
                    password=PASSWORD, phone_login="201")
    await asterisk.wait_for_logins(1)
    linked = "1700000800.11"
    await asterisk.send(_arrives(linked))
    await _one(viewer, "queued", lambda r: bool(r["calls"]))
    await asterisk.send(_member_connects(linked, interface="PJSIP/299",
                                         member="Kalle Kassinen"))

    # The list reads a request and then its calls: wait for both to show the answer.
    answered = await _one(viewer, "queued", lambda r: r["calls"][0]["state"] == "answered"
                          and r["timings"]["service_started_at"] is not None)
    assert answered["assigned_agent"] is None and answered["calls"][0]["agent"] is None
    assert answered["timings"]["service_started_at"] == answered["calls"][0]["answered_at"]
    await asterisk.send(_caller_hangs_up(linked))

    ended = (await console.until(lambda e: e["type"] == "call.ended"))[-1]
    assert ended["request"]["status"] == "resolved"
    detail = await _one(viewer, "resolved")
    assert (detail["id"], detail["last_agent"], detail["history"]) \
        == (answered["id"], None, [])
    [recorded] = detail["calls"]
    assert (recorded["state"], recorded["agent"], recorded["cause"]) \
        == ("ended", None, "normalClearing")
    timings = detail["timings"]
    assert timings["service_started_at"] == recorded["answered_at"]
    assert timings["first_response_at"] == recorded["answered_at"]
    assert timings["ended_at"] == recorded["ended_at"]
    assert await viewer.open_requests() == []


async def test_a_hang_up_before_any_answer_is_a_missed_call_and_a_late_answer_is_ignored(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings, asterisk: FakeAmi,
    raw_redis: Redis
) -> None:
    client = await _hub(hub, settings, asterisk)
    viewer = await dispatcher(client)
    adapter = client.app[ADAPTERS]["asterisk_ami"]
    await add_agent(client.app[DATABASE], login="anna", name="Anna Ajaja", role=Role.TEAM,
                    password=PASSWORD, phone_login="201")
    await asterisk.wait_for_logins(1)
    linked = "1700000900.11"
    # The caller leaves the queue by hanging up (normal clearing), no member having answered.
    await asterisk.send(_arrives(linked) + _caller_hangs_up(linked))

    missed = await _one(viewer, "queued", lambda r: "callback" in r["details"])
    assert missed["assigned_agent"] is None
    details = missed["details"]
    assert (details["callback"], details["callback_number"], details["missed_calls"]) \
        == ("true", PASSENGER, "1")
    assert datetime.fromisoformat(details["callback_due_at"]) \
        - datetime.fromisoformat(details["missed_at"]) == timedelta(minutes=15)
    assert (missed["calls"][0]["state"], missed["calls"][0]["cause"],
            missed["calls"][0]["answered_at"]) == ("ended", "cancel", None)

    published = await _published(raw_redis, settings)
    handled = adapter.events
    await asterisk.send(_member_connects(linked, interface="PJSIP/201", member="Anna Ajaja"))
    await _handled(adapter, handled + 1)
    assert adapter.lost == 0
    assert await _one(viewer, "queued") == missed  # no claim, no agent, same version
    assert await _requests(viewer, "claimed,resolved") == []
    assert await _published(raw_redis, settings) == published
