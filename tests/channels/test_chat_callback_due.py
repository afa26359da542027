"""A chat nobody can answer live becomes a callback request with a deadline, by the rule
phone callbacks follow: within `phone.callback_due_minutes` when no dispatcher is online,
at the chat's next opening when it is closed. Driven through the widget's websocket."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from hub.settings import PhoneSettings, Settings
from tests.chat_site import ORIGIN, chat_settings, open_widget
from tests.conftest import DispatcherFactory, HubFactory, server_url
from tests.helpers import Dispatcher, eventually, http_session

DAYS = ["mo", "tu", "we", "th", "fr", "sa", "su"]


@pytest.fixture
async def passenger() -> AsyncIterator[aiohttp.ClientSession]:
    async with http_session() as http:
        yield http


async def _only_details(agent: Dispatcher) -> dict[str, str]:
    async def probe() -> dict[str, str] | None:
        found = await agent.open_requests()
        return (await agent.request(found[0]["id"]))["details"] if found else None
    return await eventually(probe, what="the chat request")


async def test_with_no_dispatcher_online_the_callback_is_due_in_the_phone_minutes(
    hub: HubFactory, settings: Settings, dispatcher: DispatcherFactory,
    passenger: aiohttp.ClientSession
) -> None:
    client = await hub(dataclasses.replace(chat_settings(settings),
                                           phone=PhoneSettings(callback_due_minutes=20)))
    widget = await open_widget(passenger, server_url(client), ORIGIN)
    assert widget.welcome["reason"] == "no_dispatcher"
    before = datetime.now(UTC)
    await widget.say("Soittakaa takaisin, kiitos")
    await widget.next("ack")
    after = datetime.now(UTC)
    details = await _only_details(await dispatcher(client))
    assert details["callback"] == "true"
    due = datetime.fromisoformat(details["callback_due_at"])
    assert before + timedelta(minutes=20) <= due <= after + timedelta(minutes=20)
    await widget.close()


async def test_outside_opening_hours_the_callback_is_due_at_the_next_opening(
    hub: HubFactory, settings: Settings, dispatcher: DispatcherFactory,
    passenger: aiohttp.ClientSession
) -> None:
    zone = ZoneInfo(settings.timezone)
    today = datetime.now(UTC).astimezone(zone)
    opens = today.date() + timedelta(days=3)  # neither today nor yesterday's night
    client = await hub(chat_settings(settings,
                                     opening_hours=f"{DAYS[opens.weekday()]} 08:00-16:00"))
    agent = await dispatcher(client)
    await agent.console()  # online, but the chat is closed
    widget = await open_widget(passenger, server_url(client), ORIGIN, lang="en")
    assert widget.welcome["reason"] == "closed_hours"
    await widget.say("Please call me back")
    await widget.next("ack")
    details = await _only_details(agent)
    assert details["callback"] == "true"
    assert datetime.fromisoformat(details["callback_due_at"]) \
        == datetime.combine(opens, time(8), zone)
    await widget.close()
