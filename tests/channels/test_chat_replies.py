"""The dispatcher's side of a chat: replies live and after a reconnect (in order, once), the
widget's `seen` as the delivery report, typing both ways, availability and callbacks, and
the closing transcript by email."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from hub.settings import (
    ChannelsSettings,
    EmailSettings,
    Secret,
    Settings,
    SmtpListenerSettings,
    SmtpRelaySettings,
)
from tests.chat_site import ORIGIN, Widget, chat_settings, open_widget
from tests.conftest import DispatcherFactory, HubFactory, server_url
from tests.helpers import Dispatcher, eventually, http_session
from tests.smtp_sink import SmtpSink

DAYS = ["mo", "tu", "we", "th", "fr", "sa", "su"]


@pytest.fixture
async def passenger() -> AsyncIterator[aiohttp.ClientSession]:
    async with http_session() as http:
        yield http


async def _first_request(agent: Dispatcher) -> str:
    async def probe() -> str | None:
        found = await agent.open_requests()
        return found[0]["id"] if found else None
    return await eventually(probe, what="the chat request")


async def _chat(hub: HubFactory, settings: Settings, dispatcher: DispatcherFactory,
                passenger: aiohttp.ClientSession, **chat: Any
                ) -> tuple[str, Dispatcher, Widget, str]:
    """A hub, a dispatcher with an open console, and a passenger who wrote once."""
    client = await hub(chat_settings(settings, **chat))
    agent = await dispatcher(client, name="Aino Välittäjä")
    await agent.console()
    base = server_url(client)
    widget = await open_widget(passenger, base, ORIGIN)
    await widget.say("Hei, tarvitsen taksin")
    await widget.next("ack")
    return base, agent, widget, await _first_request(agent)


async def test_a_reply_arrives_live_with_the_dispatchers_name_and_seen_is_delivered(
    hub: HubFactory, settings: Settings, dispatcher: DispatcherFactory,
    passenger: aiohttp.ClientSession
) -> None:
    _, agent, widget, request_id = await _chat(hub, settings, dispatcher, passenger)
    status, answer = await agent.reply(request_id, "Auto on matkalla, 5 min", "r-1")
    assert status == 201, answer

    line = await widget.next("message")
    assert line["from"] == "dispatcher" and line["agent"] == "Aino Välittäjä"
    assert line["text"] == "Auto on matkalla, 5 min" and line["id"] == answer["message_id"]
    # Seen at once, as the widget does: most likely before the sender has recorded "sent".
    await widget.send({"type": "seen", "message_id": line["id"]})
    delivered = await agent.wait_for_reply(request_id, "delivered")
    assert delivered["deliveries"][0]["via"] == "chat"
    assert delivered["deliveries"][0]["recipient"] == widget.token.split(".")[1]
    assert [f for f in await widget.quiet() if f["type"] == "message"] == []  # once
    assert (await agent.request(request_id))["messages"][1]["deliveries"][0]["state"] \
        == "delivered"  # and the sender's own report did not set it back

    # Seen for a message that is not a reply to this visitor changes nothing.
    await widget.send({"type": "seen", "message_id": str(uuid.uuid4())})
    await widget.send({"type": "ping"})
    assert (await widget.next("pong")) == {"type": "pong"}


async def test_replies_sent_while_offline_arrive_on_reconnect_in_order_and_once(
    hub: HubFactory, settings: Settings, dispatcher: DispatcherFactory,
    passenger: aiohttp.ClientSession
) -> None:
    base, agent, widget, request_id = await _chat(hub, settings, dispatcher, passenger)
    await agent.reply(request_id, "Ensimmäinen", "r-1")
    first = await widget.next("message")
    await widget.close()

    for n, text in enumerate(["Toinen", "Kolmas", "Neljäs"]):
        status, _ = await agent.reply(request_id, text, f"r-off-{n}")
        assert status == 201
    await agent.wait_for_reply(request_id, "sent", body="Neljäs")
    again = await open_widget(passenger, base, ORIGIN, token=widget.token,
                              last_seen=first["id"])
    texts = [m["text"] for m in again.welcome["messages"]]
    assert texts == ["Toinen", "Kolmas", "Neljäs"]
    assert all(m["agent"] == "Aino Välittäjä" for m in again.welcome["messages"])
    assert [f for f in await again.quiet(1.0) if f["type"] == "message"] == []

    # Live again: the next reply once, and a page reload (no last_seen) gets everything.
    await agent.reply(request_id, "Viides", "r-5")
    assert (await again.next("message"))["text"] == "Viides"
    assert [f for f in await again.quiet() if f["type"] == "message"] == []
    reload = await open_widget(passenger, base, ORIGIN, token=widget.token)
    assert [m["text"] for m in reload.welcome["messages"]] == [
        "Hei, tarvitsen taksin", "Ensimmäinen", "Toinen", "Kolmas", "Neljäs", "Viides"]
    assert reload.welcome["messages"][0]["from"] == "passenger"
    await again.close()
    await reload.close()


async def test_a_reply_reaches_a_widget_connected_to_another_hub_process(
    hub: HubFactory, settings: Settings, dispatcher: DispatcherFactory,
    passenger: aiohttp.ClientSession
) -> None:
    one = await hub(chat_settings(settings))
    two = await hub(chat_settings(settings))
    agent = await dispatcher(one, name="Aino Välittäjä")
    await agent.console()  # on process one; the widget on process two sees her presence
    widget = await open_widget(passenger, server_url(two), ORIGIN)
    assert widget.welcome["available"] is True
    await widget.say("Kyyti lentokentälle")
    await widget.next("ack")
    request_id = await _first_request(agent)

    status, _ = await agent.reply(request_id, "Auto tulee 10 minuutissa", "r-1")
    assert status == 201
    line = await widget.next("message")
    assert (line["text"], line["agent"]) == ("Auto tulee 10 minuutissa", "Aino Välittäjä")
    await widget.send({"type": "seen", "message_id": line["id"]})
    await agent.wait_for_reply(request_id, "delivered")
    async with agent.http.post(f"{server_url(one)}/api/v1/requests/{request_id}/typing",
                               json={"on": False}) as resp:
        assert resp.status == 204
    assert await widget.next("typing") == {"type": "typing", "on": False,
                                           "name": "Aino Välittäjä"}
    assert [f for f in await widget.quiet() if f["type"] == "message"] == []
    await widget.close()


async def test_a_second_tab_sees_the_passengers_own_messages(
    hub: HubFactory, settings: Settings, dispatcher: DispatcherFactory,
    passenger: aiohttp.ClientSession
) -> None:
    base, _, widget, _ = await _chat(hub, settings, dispatcher, passenger)
    tab = await open_widget(passenger, base, ORIGIN, token=widget.token)
    client_id = await widget.say("Toisesta välilehdestä")
    ack = await widget.next("ack")
    echoed = await tab.next("message")
    assert echoed["id"] == ack["message_id"] and echoed["client_id"] == client_id
    assert [f for f in await widget.quiet() if f["type"] == "message"] == []
    await tab.close()


async def test_typing_reaches_the_console_and_the_widget(
    hub: HubFactory, settings: Settings, dispatcher: DispatcherFactory,
    passenger: aiohttp.ClientSession
) -> None:
    base, agent, widget, request_id = await _chat(hub, settings, dispatcher, passenger)
    console = agent.consoles[0]
    await widget.send({"type": "typing", "on": True})
    events = await console.until(lambda e: e["type"] == "chat.typing")
    assert events[-1]["request"]["id"] == request_id and events[-1]["typing"] is True

    async with agent.http.post(f"{base}/api/v1/requests/{request_id}/typing",
                               json={"on": True}) as resp:
        assert resp.status == 204, await resp.text()
    assert await widget.next("typing") == {"type": "typing", "on": True,
                                           "name": "Aino Välittäjä"}
    async with agent.http.post(f"{base}/api/v1/requests/{request_id}/typing",
                               json={"on": True}, headers={"Origin": ORIGIN}) as resp:
        assert resp.status == 403  # a console POST from the company's site is not the console
    async with agent.http.post(f"{base}/api/v1/requests/{'0' * 32}/typing") as resp:
        assert resp.status == 404
    async with aiohttp.ClientSession() as stranger, stranger.post(
            f"{base}/api/v1/requests/{request_id}/typing") as resp:
        assert resp.status == 401


async def test_with_no_dispatcher_the_message_becomes_a_callback_request(
    hub: HubFactory, settings: Settings, dispatcher: DispatcherFactory,
    passenger: aiohttp.ClientSession
) -> None:
    client = await hub(chat_settings(settings))
    base = server_url(client)
    widget = await open_widget(passenger, base, ORIGIN)
    assert (widget.welcome["available"], widget.welcome["reason"]) == (False, "no_dispatcher")
    await widget.send({"type": "prechat", "name": "Liisa", "email": "Liisa@Example.fi"})
    await widget.next("prechat")
    await widget.say("Soittakaa minulle, tarvitsen huomenna kyydin")
    await widget.next("ack")
    agent = await dispatcher(client)
    request = await agent.request(await _first_request(agent))
    assert request["details"]["callback"] == "true"
    assert request["contact"]["emails"] == ["liisa@example.fi"]
    await widget.close()


async def test_outside_opening_hours_the_widget_is_told_so(
    hub: HubFactory, settings: Settings, dispatcher: DispatcherFactory,
    passenger: aiohttp.ClientSession
) -> None:
    today = datetime.now(UTC).astimezone(ZoneInfo(settings.timezone)).weekday()
    other = DAYS[(today + 3) % 7]  # neither today nor yesterday's night
    client = await hub(chat_settings(settings, opening_hours=f"{other} 08:00-16:00"))
    agent = await dispatcher(client)
    await agent.console()  # online, but the chat is closed
    widget = await open_widget(passenger, server_url(client), ORIGIN, lang="en")
    assert (widget.welcome["available"], widget.welcome["reason"]) == (False, "closed_hours")
    await widget.say("Please call me back")
    await widget.next("ack")
    request = await agent.request(await _first_request(agent))
    assert request["details"]["callback"] == "true"
    assert request["details"]["language"] == "en"


async def test_closing_without_email_channel_says_no_transcript_can_be_sent(
    hub: HubFactory, settings: Settings, dispatcher: DispatcherFactory,
    passenger: aiohttp.ClientSession
) -> None:
    base, agent, widget, request_id = await _chat(hub, settings, dispatcher, passenger)
    await widget.send({"type": "close", "email": "ville@example.fi"})
    assert (await widget.next("closed"))["transcript"] == "unavailable"
    assert (await agent.request(request_id))["status"] == "queued"  # nothing resolved
    # The conversation starts afresh in the widget; the request stays the dispatcher's.
    again = await open_widget(passenger, base, ORIGIN, token=widget.token)
    assert again.welcome["messages"] == []
    await again.say("Uusi kysymys")
    await again.next("ack")
    assert len(await agent.open_requests()) == 1


async def test_closing_with_an_email_queues_the_transcript(
    hub: HubFactory, settings: Settings, dispatcher: DispatcherFactory,
    passenger: aiohttp.ClientSession
) -> None:
    async with SmtpSink() as sink:
        with_email = dataclasses.replace(
            settings, email=EmailSettings(
                address="taksi@taxi.example", reply_token_secret=Secret("reply-secret"),
                smtp=SmtpListenerSettings(port=0, domains=("taxi.example",)),
                relay=SmtpRelaySettings(host="127.0.0.1", port=sink.port, security="none")))
        with_email = dataclasses.replace(
            chat_settings(with_email),
            channels=ChannelsSettings(enabled=("webform", "email", "chat")))
        client = await hub(with_email)
        agent = await dispatcher(client, name="Aino Välittäjä")
        await agent.console()
        widget = await open_widget(passenger, server_url(client), ORIGIN)
        await widget.say("Taksi Kamppiin klo 18")
        await widget.next("ack")
        request_id = await _first_request(agent)
        await agent.reply(request_id, "Tilattu, auto 18.00", "r-1")
        await widget.next("message")
        await widget.send({"type": "close", "email": "Ville@Example.fi"})
        assert (await widget.next("closed"))["transcript"] == "queued"
        await widget.send({"type": "close", "email": "ville@example.fi"})  # twice: once
        await widget.next("closed")

        mail = await eventually(lambda: _first(sink), what="the transcript mail")
        assert mail.rcpt_tos == ("ville@example.fi",)
        body = mail.message.get_content()
        assert "Taksi Kamppiin klo 18" in body and "Aino Välittäjä: Tilattu" in body
        detail = await agent.request(request_id)
        transcript = [m for m in detail["messages"] if m["channel"] == "email"]
        assert len(transcript) == 1 and transcript[0]["details"]["kind"] == "chat_transcript"
        assert detail["status"] == "claimed"  # the reply took it; closing resolved nothing


async def _first(sink: SmtpSink) -> Any:
    return sink.delivered[0] if sink.delivered else None
