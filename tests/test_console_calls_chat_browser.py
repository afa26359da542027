"""Calls and chats in the dispatcher console, in a real browser (Debian's Chromium driven by
Playwright).

A ringing caller is recognised before anyone answers and a missed call waits in the queue as
a callback with its number and deadline; a voice message left through Twilio is played from
the request (every listen recorded by the hub, none before play is pressed); a passenger's
chat is answered through the composer, with typing shown both ways.

With TAXICONNECT_SCREENSHOTS=1 the voice-message test also saves docs/console-calls.png.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import math
import os
import re
import struct
import uuid
import wave
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from playwright.async_api import Page, Request, async_playwright, expect

from hub.settings import (
    ChannelsSettings,
    HttpSettings,
    PhoneSettings,
    Secret,
    Settings,
    SmsSettings,
    TwilioSettings,
)
from tests.chat_site import ORIGIN, chat_settings, open_widget
from tests.conftest import (
    CHROMIUM,
    CHROMIUM_ARGS,
    PASSWORD,
    DispatcherFactory,
    HubFactory,
    free_port,
    require_chromium,
    server_url,
)
from tests.gateways import twilio_signature
from tests.helpers import Dispatcher, eventually, http_session, submit

SCREENSHOT = Path(__file__).resolve().parents[1] / "docs" / "console-calls.png"
VIEWPORT = {"width": 1366, "height": 768}  # the dispatchers' laptops
TIMEZONE = "Europe/Helsinki"
CTI_SECRET = "cti-console-secret"
TOKEN = "twilio-voice-console-token"
ACCOUNT = "AC" + "3" * 32
PASSENGER = "+358401234567"
PASSENGER_SHOWN = "040 123 4567"  # as the console shows it (phone.js)
COMPANY = "+358912345678"
RECORDING = "RE" + "8" * 32


def _voice_message(seconds: float = 2.0, rate: int = 8000) -> bytes:
    """A short, quiet 440 Hz tone as 16-bit mono WAV: audio Chromium really plays."""
    frames = b"".join(struct.pack("<h", int(3000 * math.sin(2 * math.pi * 440 * n / rate)))
                      for n in range(int(seconds * rate)))
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(frames)
    return out.getvalue()


AUDIO = _voice_message()


class FakeMedia:
    """Twilio's recording media API: Basic auth with the account SID and token, else 401."""

    def __init__(self) -> None:
        self.fetches = 0
        self.server: TestServer | None = None

    async def audio(self, request: web.Request) -> web.Response:
        expected = base64.b64encode(f"{ACCOUNT}:{TOKEN}".encode()).decode()
        if request.headers.get("Authorization") != f"Basic {expected}":
            return web.json_response({"code": 20003, "message": "Authenticate"}, status=401)
        if request.match_info["sid"] != RECORDING:
            return web.json_response({"code": 20404, "message": "not found"}, status=404)
        self.fetches += 1
        return web.Response(body=AUDIO, content_type="audio/x-wav")

    def url(self, path: str = "") -> str:
        assert self.server is not None
        return str(self.server.make_url(path))


@pytest.fixture
async def media() -> AsyncIterator[FakeMedia]:
    fake = FakeMedia()
    app = web.Application()
    app.router.add_get("/2010-04-01/Accounts/{account}/Recordings/{sid}", fake.audio)
    fake.server = TestServer(app, host="127.0.0.1")
    await fake.server.start_server()
    yield fake
    await fake.server.close()


@pytest.fixture
async def page(hub: HubFactory) -> AsyncIterator[Page]:
    """A Chromium page, closed before the hub stops (its open websocket would delay that)."""
    require_chromium()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            context = await browser.new_context(locale="fi-FI", timezone_id=TIMEZONE,
                                                viewport=VIEWPORT)
            yield await context.new_page()
        finally:
            await browser.close()


@pytest.fixture
async def passenger() -> AsyncIterator[aiohttp.ClientSession]:
    async with http_session() as http:
        yield http


async def _sign_in(page: Page, base: str, login: str) -> None:
    await page.goto(f"{base}/console")
    await page.get_by_test_id("login-user").fill(login)
    await page.get_by_test_id("login-password").fill(PASSWORD)
    await page.get_by_test_id("login-submit").click()
    await expect(page.get_by_test_id("connection-state")).to_have_attribute(
        "data-state", "live")


async def _order(viewer: Dispatcher, *, resolve: bool, **fields: Any) -> dict[str, Any]:
    """A passenger's web-form order, resolved when the test needs it in the past."""
    receipt = await submit(viewer.http, viewer.base, f"order-{uuid.uuid4().hex}", **fields)
    if resolve:
        async with viewer.http.post(
                f"{viewer.base}/api/v1/requests/{receipt['id']}/resolve") as resp:
            assert resp.status == 200, await resp.text()
    return receipt


def _due_text(iso: str, *, overdue: bool) -> str:
    """The due time as the Finnish console words it (fi-FI writes 9.05 and 14.35)."""
    local = datetime.fromisoformat(iso).astimezone(ZoneInfo(TIMEZONE))
    time = f"{local.hour}.{local.minute:02d}"
    return (f"myöhässä: piti soittaa klo {time}" if overdue
            else f"soita viimeistään klo {time}")


# ---- generic CTI -------------------------------------------------------------------------------


async def _cti(client: TestClient[Any, Any], **fields: str) -> None:
    async with client.post("/webhooks/phone/cti", json=fields,
                           headers={"X-CTI-Token": CTI_SECRET}) as resp:
        assert resp.status == 200, await resp.text()


async def test_a_recognised_caller_rings_and_the_missed_call_waits_as_a_callback(
    hub: HubFactory, make_agent: Any, dispatcher: DispatcherFactory, page: Page,
    settings: Settings
) -> None:
    client = await hub(dataclasses.replace(
        settings, channels=ChannelsSettings(enabled=("webform", "phone_cti")),
        phone=PhoneSettings(cti_secret=Secret(CTI_SECRET))))
    base = server_url(client)
    agent = await make_agent(client, name="Aino Välittäjä")
    viewer = await dispatcher(client)
    await _order(viewer, resolve=True, name="Ville Virtanen", phone="040 123 4567",
                 pickup_address="Kampinkuja 2, Helsinki")
    waiting = await _order(viewer, resolve=False, name="Emma Smith", phone="040 999 8877")
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await _sign_in(page, base, agent.login)

    # Ville calls: before anyone answers, the console says who it is and where he was met.
    call = {"callId": f"console-{uuid.uuid4().hex}", "from": "040 123 4567",
            "to": "09 1234 5678", "direction": "in"}
    await _cti(client, event="newCall", **call)
    notice = page.get_by_test_id("caller-notice")
    await expect(notice).to_have_count(1)
    await expect(notice.get_by_test_id("caller-text")).to_have_text(
        f"Soittaa: Ville Virtanen · {PASSENGER_SHOWN} · 1 aiempi pyyntö · "
        "viimeisimmät osoitteet: Kampinkuja 2, Helsinki")
    await expect(page.get_by_test_id("caller-notices")).to_have_attribute("aria-live", "polite")
    await expect(notice).to_have_attribute("role", "group")
    assert await page.get_by_test_id("detail-body").count() == 0  # nothing opened by itself
    await notice.get_by_test_id("caller-open").click()
    ringing = page.get_by_test_id("timeline-call")
    await expect(ringing).to_have_attribute("data-state", "ringing")
    await expect(ringing.get_by_test_id("call-outcome")).to_have_text("soi nyt")
    await expect(page.get_by_test_id("passenger-name")).to_have_text("Ville Virtanen")
    await expect(page.get_by_test_id("timeline-message")).to_have_count(0)  # shown as the call

    # He hangs up before an answer: the notice goes, a callback heads the queue.
    await _cti(client, event="hangup", cause="cancel", **call)
    await expect(notice).to_have_count(0)
    row = page.locator('[data-testid="queue-row"][data-callback="true"]')
    await expect(row).to_have_count(1)
    queue = await viewer.open_requests()
    assert [r["id"] for r in queue][1:] == [waiting["id"]]  # the older order waits
    rows = page.get_by_test_id("queue-row")
    await expect(rows).to_have_count(2)
    assert await rows.evaluate_all("rows => rows.map(r => r.dataset.requestId)") \
        == [r["id"] for r in queue]  # as the hub orders them
    due_at = queue[0]["details"]["callback_due_at"]
    await expect(row.locator(".channel")).to_have_text("Puhelin")
    await expect(row.locator(".channel svg")).to_have_attribute("aria-hidden", "true")
    await expect(row.get_by_test_id("queue-callback")).to_have_text("Soittopyyntö")
    await expect(row.get_by_test_id("callback-number")).to_have_text(PASSENGER_SHOWN)
    await expect(row.get_by_test_id("callback-missed")).to_have_text("1 vastaamaton puhelu")
    due = row.get_by_test_id("callback-due")
    await expect(due).to_have_text(_due_text(due_at, overdue=False))
    await expect(due).to_have_attribute("data-overdue", "false")

    # The open request shows the missed call in words, and the number to call back.
    missed = page.get_by_test_id("timeline-call")
    await expect(missed).to_have_attribute("data-missed", "true")
    await expect(missed.get_by_test_id("call-outcome")).to_have_text(re.compile(
        r"^vastaamaton: soittaja katkaisi ennen vastausta · soi 00:0\d$"))
    await expect(missed.locator(".entry-head")).to_contain_text(
        f"Saapuva puhelu · {PASSENGER_SHOWN}")
    box = page.get_by_test_id("callback-box")
    await expect(box).to_be_visible()
    await expect(box.get_by_test_id("callback-due")).to_have_text(
        _due_text(due_at, overdue=False))
    link = page.get_by_test_id("callback-call")
    await expect(link).to_have_attribute("href", f"tel:{PASSENGER}")
    await expect(link).to_have_text(f"Soita {PASSENGER_SHOWN}")
    await page.get_by_test_id("lang-en").click()
    await expect(link).to_have_text(f"Call {PASSENGER_SHOWN}")
    await expect(missed.get_by_test_id("call-outcome")).to_have_text(re.compile(
        r"^missed: the caller hung up before an answer · rang 00:0\d$"))
    await expect(row.get_by_test_id("queue-callback")).to_have_text("Callback")
    await expect(row.get_by_test_id("callback-missed")).to_have_text("1 missed call")
    assert errors == []


# ---- Twilio voice ------------------------------------------------------------------------------


def _status(sid: str, status: str, caller: str = PASSENGER) -> list[tuple[str, str]]:
    """A call status callback's parameters, as Twilio posts them."""
    return list({"AccountSid": ACCOUNT, "ApiVersion": "2010-04-01", "CallSid": sid,
                 "CallStatus": status, "Direction": "inbound", "From": caller,
                 "Caller": caller, "To": COMPANY, "Called": COMPANY}.items())


async def _twilio(client: TestClient[Any, Any], params: list[tuple[str, str]]) -> None:
    url = str(client.make_url("/webhooks/phone/twilio"))
    async with client.post("/webhooks/phone/twilio", data=urlencode(params), headers={
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": twilio_signature(TOKEN, url, params),
    }) as resp:
        assert resp.status == 200, await resp.text()


async def test_a_voice_message_is_played_from_the_console_and_each_listen_recorded(
    hub: HubFactory, make_agent: Any, dispatcher: DispatcherFactory, page: Page,
    settings: Settings, media: FakeMedia
) -> None:
    port = free_port()
    client = await hub(dataclasses.replace(
        settings, channels=ChannelsSettings(enabled=("webform", "twilio_voice")),
        http=HttpSettings(public_url=f"http://127.0.0.1:{port}"),
        # Due at once: the callback is overdue as soon as it is made.
        phone=PhoneSettings(callback_due_minutes=0),
        sms=SmsSettings(twilio=TwilioSettings(auth_token=Secret(TOKEN), account_sid=ACCOUNT,
                                              api_url=media.url("").rstrip("/")))), port=port)
    base = server_url(client)
    agent = await make_agent(client, name="Aino Välittäjä")
    viewer = await dispatcher(client)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await _sign_in(page, base, agent.login)

    # A stranger calls; the IVR takes the call, records a message; Twilio transcribes it.
    sid = "CA" + uuid.uuid4().hex
    recording_url = media.url(f"/2010-04-01/Accounts/{ACCOUNT}/Recordings/{RECORDING}")
    recorded = [("AccountSid", ACCOUNT), ("CallSid", sid), ("RecordingSid", RECORDING),
                ("RecordingUrl", recording_url), ("RecordingStatus", "completed"),
                ("RecordingDuration", "2"), ("RecordingSource", "RecordVerb")]
    await _twilio(client, _status(sid, "ringing"))
    notice = page.get_by_test_id("caller-notice")
    await expect(notice.get_by_test_id("caller-text")).to_have_text(
        f"Soittaa: {PASSENGER_SHOWN} · ei aiempia pyyntöjä")
    await _twilio(client, _status(sid, "in-progress"))
    await _twilio(client, recorded)
    await _twilio(client, _status(sid, "completed"))
    await expect(notice).to_have_count(0)
    await _twilio(client, [*recorded[:3], ("TranscriptionSid", "TR" + "1" * 32),
                           ("TranscriptionText", "Taksi Kamppiin heti, kiitos"),
                           ("TranscriptionStatus", "completed"),
                           ("RecordingUrl", recording_url)])

    [summary] = await viewer.open_requests()
    row = page.locator(f'[data-testid="queue-row"][data-request-id="{summary["id"]}"]')
    due = row.get_by_test_id("callback-due")
    await expect(due).to_have_attribute("data-overdue", "true")
    await expect(due).to_have_class(re.compile(r"\boverdue\b"))
    await expect(due).to_have_text(_due_text(summary["details"]["callback_due_at"],
                                             overdue=True))
    await row.click()
    recording = page.get_by_test_id("recording")
    await expect(recording).to_have_attribute("data-kind", "voicemail")
    await expect(recording.get_by_test_id("recording-transcription")).to_have_text(
        "Taksi Kamppiin heti, kiitos")
    await expect(recording.locator(".recording-head")).to_contain_text(
        "Vastaajaviesti · kesto 00:02")
    await expect(page.get_by_test_id("call-outcome")).to_have_text(re.compile(
        r"^vastaamaton: jätti vastaajaviestin · soi 00:0\d$"))
    await expect(page.get_by_test_id("callback-box").get_by_test_id("callback-due")) \
        .to_have_attribute("data-overdue", "true")
    listens = recording.get_by_test_id("recording-listens")
    await expect(listens).to_have_text("Ei vielä kuunneltu")
    audio = recording.get_by_test_id("recording-audio")
    detail = await viewer.request(summary["id"])
    [stored] = detail["recordings"]
    await expect(audio).to_have_attribute("src", f"/api/v1/recordings/{stored['id']}/audio")
    await expect(audio).to_have_attribute("preload", "none")
    await expect(audio).to_have_attribute("aria-label", re.compile(r"^Vastaajaviesti, "))
    assert await audio.evaluate("a => a.controls") is True
    # Shown is not heard: nothing is fetched, and no listen recorded, before play.
    assert (stored["listens"], media.fetches) == (0, 0)

    # Play is pressed: the hub fetches the audio from Twilio and records the listen.
    await audio.evaluate("a => { a.dataset.mark = 'the same player'; }")
    await audio.evaluate("a => a.play()")
    await expect(audio).to_have_js_property("ended", True)
    await expect(listens).to_have_text("Kuunneltu kerran")
    assert (await viewer.request(summary["id"]))["recordings"][0]["listens"] == 1
    assert media.fetches == 1
    # The refresh that showed the count kept the player (a new one would stop the audio).
    await expect(audio).to_have_attribute("data-mark", "the same player")
    await page.get_by_test_id("lang-en").click()
    await expect(listens).to_have_text("Played once")
    await expect(recording.locator("figcaption")).to_have_text("Transcription")
    await page.get_by_test_id("lang-fi").click()

    if os.environ.get("TAXICONNECT_SCREENSHOTS") == "1":
        await _screenshot(page, client, viewer)
    assert errors == []


async def _screenshot(page: Page, client: TestClient[Any, Any], viewer: Dispatcher) -> None:
    """The voice message's request open while a known passenger's call rings, as the README
    shows them."""
    await _order(viewer, resolve=True, name="Aino Virtanen", phone="040 555 6677",
                 pickup_address="Mannerheimintie 5, Helsinki")
    await _twilio(client, _status("CA" + uuid.uuid4().hex, "ringing", caller="+358405556677"))
    await expect(page.get_by_test_id("caller-text")).to_contain_text("Aino Virtanen")
    await page.set_viewport_size({"width": VIEWPORT["width"], "height": 900})
    await page.wait_for_function("() => document.getAnimations().length === 0")
    await page.mouse.move(0, 0)
    SCREENSHOT.parent.mkdir(exist_ok=True)
    await page.screenshot(path=str(SCREENSHOT))


# ---- chat --------------------------------------------------------------------------------------


async def test_a_chat_is_answered_through_the_composer_with_typing_shown_both_ways(
    hub: HubFactory, make_agent: Any, page: Page, settings: Settings,
    passenger: aiohttp.ClientSession
) -> None:
    client = await hub(chat_settings(settings))
    base = server_url(client)
    agent = await make_agent(client, name="Aino Välittäjä")
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    typing_posts: list[bool] = []
    reply_posts: list[dict[str, Any]] = []

    def watch(request: Request) -> None:
        if request.method == "POST" and request.url.endswith("/typing"):
            typing_posts.append(request.post_data_json["on"])
        elif request.method == "POST" and request.url.endswith("/replies"):
            reply_posts.append(request.post_data_json)

    page.on("request", watch)
    await _sign_in(page, base, agent.login)  # a dispatcher online: the chat is answered live

    widget = await open_widget(passenger, base, ORIGIN)
    assert widget.welcome["available"] is True
    await widget.say("Hei, tarvitsen taksin Kamppiin")
    await widget.next("ack")
    row = page.get_by_test_id("queue-row")
    await expect(row.locator(".channel")).to_have_text("Chat")
    await row.click()
    await expect(page.get_by_test_id("timeline-message")).to_have_text(
        re.compile("Hei, tarvitsen taksin Kamppiin"))
    channel = page.get_by_test_id("composer-channel")
    await expect(channel).to_have_value("chat")
    assert await channel.locator("option").all_text_contents() == ["Chat"]
    await expect(page.get_by_test_id("composer-to")).to_have_text(
        "Vastaanottaja: matkustajan chat-ikkuna")
    await expect(page.get_by_test_id("composer-counter")).to_be_hidden()

    # The passenger types: the open request says so, until they stop.
    indicator = page.get_by_test_id("passenger-typing")
    await widget.send({"type": "typing", "on": True})
    await expect(indicator).to_have_text("Matkustaja kirjoittaa…")
    await widget.send({"type": "typing", "on": False})
    await expect(indicator).to_have_text("")

    # The dispatcher types: the widget is told once per burst, and again when they stop.
    text = page.get_by_test_id("composer-text")
    await text.press_sequentially("Hetki")
    assert await widget.next("typing") == {"type": "typing", "on": True,
                                           "name": "Aino Välittäjä"}
    await _posted(typing_posts, [True])  # five keys within two seconds: one post
    assert (await widget.next("typing", wait_s=10))["on"] is False  # five idle seconds
    await _posted(typing_posts, [True, False])

    # The reply goes through the replies API on the chat channel; the widget shows it.
    reply = "Auto on matkalla, perillä noin 5 minuutissa."
    await text.fill(reply)
    assert (await widget.next("typing"))["on"] is True
    await page.get_by_test_id("composer-send").click()
    line = await widget.next("message")
    assert (line["from"], line["text"], line["agent"]) == ("dispatcher", reply,
                                                          "Aino Välittäjä")
    assert (await widget.next("typing"))["on"] is False  # sending ends the typing
    await _posted(typing_posts, [True, False, True, False])
    assert [(p["channel"], p["body"]) for p in reply_posts] == [("chat", reply)]
    await expect(text).to_have_value("")
    outbound = page.locator('[data-testid="timeline-message"][data-direction="outbound"]')
    await expect(outbound.locator(".body")).to_have_text(reply)
    await expect(outbound.locator(".entry-head")).to_contain_text("Aino Välittäjä · Chat")
    badge = outbound.get_by_test_id("delivery-badge")
    await expect(badge).to_have_text("Lähetetty")
    await widget.send({"type": "seen", "message_id": line["id"]})  # the widget showed it
    await expect(badge).to_have_text("Toimitettu")

    # The passenger answers while typing is shown: the message arrives, the indicator goes.
    await widget.send({"type": "typing", "on": True})
    await expect(indicator).to_have_text("Matkustaja kirjoittaa…")
    await page.get_by_test_id("lang-en").click()
    await expect(indicator).to_have_text("Passenger is typing…")
    await widget.say("Kiitos!")
    inbound = page.locator('[data-testid="timeline-message"][data-direction="inbound"]')
    await expect(inbound).to_have_count(2)
    await expect(inbound.nth(1).locator(".body")).to_have_text("Kiitos!")
    await expect(indicator).to_have_text("")
    await widget.close()
    assert errors == []


async def _posted(seen: list[bool], expected: list[bool]) -> None:
    """Playwright reports the page's requests to the test a little after they leave: wait
    for the report rather than race it (a request the page did not make never shows up)."""
    async def probe() -> bool | None:
        return True if seen == expected else None
    await eventually(probe, wait_s=5, what=f"typing posts {expected} (seen {seen})")
