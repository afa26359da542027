"""Presence: states chosen and listed, kept by the console socket, seen live by colleagues;
a dispatcher who goes offline, or whose console is gone past the grace period, hands their
unanswered requests back to the queue and keeps the answered ones."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Callable
from typing import Any

from aiohttp.test_utils import TestClient

from hub.model import Role
from hub.settings import (
    ChannelsSettings,
    ConsoleSettings,
    HttpSettings,
    OutboundSettings,
    Secret,
    Settings,
    SmsSettings,
    TwilioSettings,
)
from tests.conftest import DispatcherFactory, HubFactory, free_port
from tests.gateways import FakeTwilio
from tests.helpers import WAIT_S, Console, Dispatcher, eventually, submit

TOKEN = "twilio-test-auth-token"
ACCOUNT = "AC" + "2" * 32
HANDED_BACK = "palautettu jonoon: konsoli suljettu / handed back: console gone"


async def _hub(hub: HubFactory, settings: Settings, twilio: FakeTwilio | None = None,
               grace_s: float = 1.0) -> TestClient[Any, Any]:
    port = free_port()
    changed = dataclasses.replace(
        settings,
        console=ConsoleSettings(presence_grace_s=grace_s, presence_check_s=0.1),
        http=HttpSettings(public_url=f"http://127.0.0.1:{port}"))
    if twilio is not None:
        changed = dataclasses.replace(
            changed,
            channels=ChannelsSettings(enabled=("webform", "twilio_sms")),
            sms=SmsSettings(twilio=TwilioSettings(
                auth_token=Secret(TOKEN), account_sid=ACCOUNT, from_number="+358400000000",
                api_url=twilio.url)),
            outbound=OutboundSettings(backoff_base_s=0.05, backoff_max_s=0.2, poll_s=0.05,
                                      send_timeout_s=5, max_attempts=4))
    return await hub(changed, port=port)


async def _presence_console(agent: Dispatcher) -> Console:
    """A console that asks for colleagues' presence, as the console page does."""
    ws = await agent.http.ws_connect(f"{agent.base}/api/v1/console/ws",
                                     protocols=("taxiconnect.presence",))
    assert ws.protocol == "taxiconnect.presence"
    hello = json.loads((await asyncio.wait_for(ws.receive(), WAIT_S)).data)
    assert hello["type"] == "hello", hello
    console = Console(ws, hello)
    agent.consoles.append(console)
    return console


async def _frames_until(console: Console, done: Callable[[dict[str, Any]], bool],
                        wait_s: float = WAIT_S) -> list[dict[str, Any]]:
    """Events and presence events (each as an event) until the first one `done` accepts."""
    async def collect() -> list[dict[str, Any]]:
        got: list[dict[str, Any]] = []
        while True:
            frame = await console.frame(wait_s)
            events = [frame["event"]] if frame["type"] == "presence" else frame["events"]
            for event in events:
                got.append(event)
                if done(event):
                    return got
    return await asyncio.wait_for(collect(), wait_s)


async def _quiet_console_events(watching: Dispatcher, other: Dispatcher) -> list[Any]:
    """What a console that did not ask for presence gets while a colleague comes and goes:
    only `events` frames (here, of the one request submitted last)."""
    console = await watching.console()
    arriving = await other.console()
    await arriving.close()

    async def gone() -> bool | None:
        return True if not (await _presence(watching))[str(other.agent.id)]["online"] else None
    await eventually(gone, what="the colleague's console gone")
    receipt = await submit(watching.http, watching.base, "presence-quiet", phone="040 111 0009")
    events = await console.until(lambda e: e.get("request", {}).get("id") == receipt["id"])
    await console.close()
    return events


async def _presence(agent: Dispatcher) -> dict[str, dict[str, Any]]:
    async with agent.http.get(f"{agent.base}/api/v1/presence") as resp:
        assert resp.status == 200, await resp.text()
        return {e["agent"]["id"]: e for e in (await resp.json())["agents"]}


async def _choose(agent: Dispatcher, state: str) -> tuple[int, dict[str, Any]]:
    async with agent.http.put(f"{agent.base}/api/v1/me/presence",
                              json={"state": state}) as resp:
        return resp.status, await resp.json()


async def _claimed(agent: Dispatcher, token: str, phone: str) -> str:
    """A new web-form request (its own passenger), claimed by `agent`."""
    receipt = await submit(agent.http, agent.base, token, phone=phone)
    request_id: str = receipt["id"]
    await agent.wait_for_status(request_id, "queued")
    async with agent.http.post(f"{agent.base}/api/v1/requests/{request_id}/claim") as resp:
        assert resp.status == 200, await resp.text()
    return request_id


def _presence_of(agent: Dispatcher, **fields: Any) -> Any:
    def done(event: dict[str, Any]) -> bool:
        return event["type"] == "presence.changed" \
            and event["agent"]["id"] == str(agent.agent.id) \
            and all(event[k] == v for k, v in fields.items())
    return done


async def test_states_are_chosen_listed_and_announced(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    client = await _hub(hub, settings)
    anna = await dispatcher(client, name="Anna")
    ben = await dispatcher(client, name="Ben")
    outsider = await dispatcher(client, role=Role.EXTERNAL)

    listed = await _presence(ben)
    assert listed[str(anna.agent.id)]["state"] == "offline"
    assert listed[str(anna.agent.id)]["online"] is False
    assert str(outsider.agent.id) not in listed

    assert not any(e["type"] == "presence.changed"
                   for e in await _quiet_console_events(ben, anna))
    watcher: Console = await _presence_console(ben)
    await anna.console()
    await _frames_until(watcher, _presence_of(anna, state="available", online=True))
    status, answer = await _choose(anna, "away")
    assert status == 200, answer
    assert answer["presence"]["state"] == "away" and answer["presence"]["online"] is True
    await _frames_until(watcher, _presence_of(anna, state="away", online=True))
    entry = (await _presence(ben))[str(anna.agent.id)]
    assert entry["state"] == "away" and entry["online"] is True and entry["since"]
    assert entry["holding"] == {"count": 0, "references": []}

    status, _ = await _choose(anna, "asleep")
    assert status == 422
    async with anna.http.put(f"{anna.base}/api/v1/me/presence", json={"state": "busy"},
                             headers={"Origin": "https://evil.example"}) as resp:
        assert resp.status == 403
    async with outsider.http.get(f"{outsider.base}/api/v1/presence") as resp:
        assert resp.status == 403
    status, _ = await _choose(outsider, "available")
    assert status == 403


async def test_dispatchers_online_counts_available_and_busy_only(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    from hub.appkeys import KEYS, REDIS
    from hub.console_presence import ConsolePresence

    client = await _hub(hub, settings)
    anna = await dispatcher(client)
    presence = ConsolePresence(client.app[REDIS].client, client.app[KEYS])
    assert await presence.dispatchers_online() == 0
    await anna.console()
    await eventually(lambda: _when(presence.dispatchers_online(), 1), what="one online")
    await _choose(anna, "busy")
    assert await presence.dispatchers_online() == 1
    await _choose(anna, "away")
    assert await presence.dispatchers_online() == 0


async def _when(value: Any, expected: Any) -> bool | None:
    return True if await value == expected else None


async def test_console_gone_past_grace_hands_back_only_the_unanswered(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    async with FakeTwilio(account_sid=ACCOUNT, auth_token=TOKEN) as twilio:
        client = await _hub(hub, settings, twilio)
        anna = await dispatcher(client, name="Anna")
        ben = await dispatcher(client, name="Ben")
        watcher = await _presence_console(ben)
        console = await anna.console()
        await _frames_until(watcher, _presence_of(anna, online=True))

        unanswered = await _claimed(anna, "presence-1", "040 111 0001")
        answered = await _claimed(anna, "presence-2", "040 111 0002")
        status, reply = await anna.reply(answered, "Taksi tulee 5 min", "presence-reply")
        assert status == 201, reply
        entry = (await _presence(ben))[str(anna.agent.id)]
        assert entry["holding"]["count"] == 2

        await console.close()
        seen = await _frames_until(watcher, lambda e: e["type"] == "request.release", 10)
        assert any(_presence_of(anna, online=False, state="offline")(e) for e in seen)
        release = seen[-1]
        assert release["request"]["id"] == unanswered
        assert release["handling"]["note"] == HANDED_BACK
        assert release["handling"]["agent"]["id"] == str(anna.agent.id)
        await _frames_until(watcher, _presence_of(anna, online=False))

        found = {r["id"]: r for r in await ben.open_requests()}
        back = found[unanswered]
        assert back["status"] == "queued" and back["assigned_agent"] is None
        assert back["last_agent"]["id"] == str(anna.agent.id)
        history = (await ben.request(unanswered))["history"]
        assert history[-1]["action"] == "release" and history[-1]["note"] == HANDED_BACK
        assert found[answered]["status"] == "claimed"
        assert found[answered]["assigned_agent"]["id"] == str(anna.agent.id)

        entry = (await _presence(ben))[str(anna.agent.id)]
        assert entry["online"] is False and entry["state"] == "offline"
        assert entry["holding"]["count"] == 1


async def test_setting_offline_hands_back_at_once(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    client = await _hub(hub, settings, grace_s=3600)
    anna = await dispatcher(client, name="Anna")
    await anna.console()
    request_id = await _claimed(anna, "presence-offline", "040 111 0003")
    status, answer = await _choose(anna, "offline")
    assert status == 200, answer
    assert answer["handed_back"] == [request_id]
    assert answer["presence"]["state"] == "offline" and answer["presence"]["online"] is True
    found = await anna.request(request_id)
    assert found["status"] == "queued" and found["assigned_agent"] is None
    assert found["history"][-1]["action"] == "release"


async def test_a_request_called_back_stays_with_the_dispatcher_going_offline(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    client = await _hub(hub, settings, grace_s=3600)
    anna = await dispatcher(client, name="Anna")
    await anna.console()
    waiting = await _claimed(anna, "presence-cb-1", "040 111 0004")
    called = await _claimed(anna, "presence-cb-2", "040 111 0005")
    async with anna.http.post(f"{anna.base}/api/v1/requests/{called}/call") as resp:
        assert resp.status == 200, await resp.text()  # no PBX: a tel: link, recorded
        assert (await resp.json())["via"] == "tel"
    status, answer = await _choose(anna, "offline")
    assert status == 200, answer
    assert answer["handed_back"] == [waiting]
    assert (await anna.request(called))["assigned_agent"]["id"] == str(anna.agent.id)
