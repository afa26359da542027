"""Every screenshot the README shows, regenerated from one demo hub:

    .venv/bin/python bench/screenshots.py [--out docs]

Starts `taxiconnect demo` on a free port in a temporary data folder, with Twilio SMS (sending
to tests/gateways.py's fake Twilio in this process), the SMTP listener, generic CTI (voice
messages fetched from a recording server in this process) and the chat widget (embedded on
a company's page served from here) enabled. Passengers then reach it the way they would:
web-form orders, signed SMS webhooks, a mail over SMTP, a missed call that leaves a voice
message, a chat. A first batch waits about a minute, so waiting times and their colours
differ and the missed call is past its callback deadline. Through the admin API the demo
dispatcher (hub/demo.py) gets a Finnish name and a night-shift group of drivers; the
dispatcher then logs in through the console page in Chromium, Finnish, and the script saves:

    console-queue.png     the queue: lane tabs, channels, waiting times, a callback, an offer
    console-request.png   a request taken: one timeline across form and SMS, a note, the card
    console-composer.png  an SMS answered: a delivered reply, the next one in the composer
    group-message.png     a group message's thread: 11 sent, one number refused by the
                          gateway with its reason, the recipients by name
    chat-widget.png       the company's page, its chat widget open on a conversation
                          answered from the console
    console-calls.png     a known passenger's call ringing, and the missed call past its
                          callback deadline with its voice message and transcription
    console-phone.png     the console on a phone (390x844): one column, a request open

The console shots are 1366x768, the dispatchers' laptops.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import shutil
import smtplib
import sys
import tempfile
import uuid
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import aiohttp
from console_browser import CHROMIUM, CHROMIUM_ARGS, VIEWPORT
from playwright.async_api import (
    Browser,
    BrowserContext,
    Locator,
    Page,
    ViewportSize,
    async_playwright,
    expect,
)
from screenshot_sites import CompanySite, RecordingServer
from servers import REPO_DIR, Server, free_port, hub_env, start_hub

from channels.sms.twilio_signature import twilio_signature

sys.path.insert(0, str(REPO_DIR))  # tests/ is not installed with the hub's packages
from tests.gateways import (
    TWILIO_ACCOUNT_SID,
    TWILIO_API_VERSION,
    TWILIO_AUTH_TOKEN,
    FakeTwilio,
    Scripted,
)

DEMO_LOGIN, DEMO_PASSWORD = "demo", "taxi-demo-2026"  # hub/demo.py
DISPATCHER_NAME = "Sanna Välittäjä"  # the demo account's English name would show in Finnish
COMPANY_NUMBER = "+358401000000"
MAIL_DOMAIN = "taksi.example"
CTI_SECRET = secrets.token_hex(16)
HELSINKI = ZoneInfo("Europe/Helsinki")
PHONE_VIEWPORT = {"width": 390, "height": 844}  # a common phone's CSS pixels
OLDER_BATCH_WAIT_S = 55.0  # the first batch waits this long before the second comes
CALLBACK_DUE_MINUTES = 1  # so the first batch's missed call is overdue in the calls shot
SETTLE_S = 3.0
POLL_S = 0.1
AINO = "+358401234567"  # hub/demo.py's first passenger: her SMS threads into her order
LATE_TAXI = "+358407654321"
LATE_TAXI_SHOWN = "040 765 4321"  # the console shows Finnish numbers in the national format
MISSED_CALLER_SHOWN = "050 765 4321"
# A passenger whose earlier order was handled: her call rings with her name and address.
PAST_PASSENGER = {"name": "Ville Korhonen", "phone": "040 222 3344",
                  "message": "Taksi Stockmannin edestä Katajanokalle.",
                  "pickup_address": "Mannerheimintie 5, Helsinki",
                  "destination": "Katajanokanlaituri 7"}
RING_S = 6.0
VOICE_MESSAGE_S = 14
VOICE_MESSAGE = ("Hei, täällä Matti Laine. Tilasin taksin Pasilan asemalle kello neljäksi, "
                 "mutta autoa ei ole näkynyt. Soittakaa takaisin, kiitos.")


def tomorrow_at(hour: int, minute: int) -> str:
    day = datetime.now(HELSINKI).date() + timedelta(days=1)
    return f"{day.isoformat()}T{hour:02d}:{minute:02d}"


FIRST_BATCH: list[tuple[str, dict[str, Any]]] = [
    ("sms", {"From": LATE_TAXI, "Body": "Missä taksi viipyy? Tilasin 20 min sitten "
                                        "Hakaniemen torille, olen jo ulkona."}),
    ("form", {"name": "Liisa Nieminen", "phone": "045 123 4987",
              "message": "Taksi Meilahden sairaalan pääovelle, rollaattori mukana.",
              "pickup_address": "Haartmaninkatu 4, Helsinki",
              "destination": "Munkkiniemen puistotie 12", "passengers": "1"}),
    ("mail", {"from": "Kimmo Lehtonen <kimmo.lehtonen@yritys.example>",
              "subject": "Kuitti matkasta 27.11.",
              "body": "Hei,\n\ntarvitsisin kuitin torstain matkasta Pasilasta Espooseen "
                      "(kyyti klo 17.40). Lasku yrityksellemme, viite 4410.\n\n"
                      "Ystävällisin terveisin\nKimmo Lehtonen"}),
    ("call", {"from": MISSED_CALLER_SHOWN, "voicemail": VOICE_MESSAGE}),
    ("sms", {"From": "+358449876543", "Body": "Kuljettaja auto 214: maksupääte ei "
                                              "yhdistä, asiakas odottaa Kampissa."}),
]
SECOND_BATCH: list[tuple[str, dict[str, Any]]] = [
    ("sms", {"From": AINO, "Body": "Olen jo ulko-ovella, tuleeko auto pian?"}),
    ("form", {"name": "Juhani Mäkelä", "phone": "040 555 1234",
              "message": "Tilataksi kahdelle huomenna, toinen pyörätuolissa. Tapiolan "
                         "terveysasemalle.",
              "pickup_address": "Otaniementie 12, Espoo", "pickup_time": tomorrow_at(8, 15),
              "destination": "Tapiolan terveysasema", "passengers": "2"}),
    ("sms", {"From": "+447700900456", "Body": "Hi, I left my black backpack in the taxi "
                                              "from the airport to Hotel Kämp at 14:00."}),
    ("form", {"name": "Siiri Järvinen", "phone": "041 777 2020",
              "message": "Kolme henkeä Kallion kirjastolta Lauttasaareen.",
              "pickup_address": "Viides linja 11, Helsinki", "destination": "Lauttasaarentie 28",
              "passengers": "3"}),
]
FIRST_REPLY = "Hei! Autonne on matkalla ja saapuu noin 4 minuutissa: valkoinen Toyota, ABC-214."
NEXT_REPLY = ("Kuljettaja soittaa teille, kun hän on Hakaniemen torilla. Pahoittelemme "
              "odotusta – matka on tänään 10 € edullisempi.")
NOTE = "Soitettu: auto 118 perillä 5 min."

GROUP_NAME = "Yövuoro"
DRIVERS = ["Antti Heikkinen", "Jari Koskinen", "Mervi Laaksonen", "Pekka Salminen",
           "Tuula Hämäläinen", "Mika Rantanen", "Sari Lindqvist", "Olli Karjalainen",
           "Timo Nurmi", "Heidi Aaltonen", "Kari Mattila", "Riikka Savolainen"]
REFUSED_DRIVER = 1  # the second number sent to: the fake Twilio refuses it (error 21211)
GROUP_TEXT = "Lumimyrsky: kaikki vapaat autot lentoasemalle. Vastaa OK."

CHAT_QUESTION = "Hei! Jäikö eilen taksiin musta lompakko? Kyyti Kalliosta Pasilaan klo 22.30."
CHAT_REPLY = ("Hei! Kyllä jäi, kuljettaja toi sen toimistolle. Sen voi hakea Pasilasta "
              "ma–pe klo 8–16, ota henkilöllisyystodistus mukaan.")
CHAT_THANKS = "Kiitos paljon! Haen sen huomenna aamulla."


def driver_number(index: int) -> str:
    return f"+3584030000{index + 1:02d}"


class Demo:
    """The demo hub, the passengers who reach it and its admin API."""

    def __init__(self, hub: Server, smtp_port: int, session: aiohttp.ClientSession,
                 twilio: FakeTwilio, recordings: RecordingServer) -> None:
        self.hub = hub
        self.smtp_port = smtp_port
        self.session = session  # logged in as the demo dispatcher once `log_in` has run
        self.twilio = twilio
        self.recordings = recordings

    def __repr__(self) -> str:
        return f"<Demo {self.hub.base_url}>"

    async def contact(self, kind: str, fields: dict[str, Any]) -> None:
        if kind == "form":
            await self._post("/api/v1/contact-requests", json={
                **fields, "language": "fi", "submission_token": f"shot-{uuid.uuid4().hex}"})
        elif kind == "sms":
            await self.sms(fields["From"], fields["Body"])
        elif kind == "mail":
            await asyncio.to_thread(self._mail, fields)
        elif kind == "call":
            await self.missed_call(fields["from"], fields["voicemail"])

    async def past_order(self, fields: dict[str, str]) -> None:
        """An order from earlier, already handled."""
        receipt = await self._post("/api/v1/contact-requests", json={
            **fields, "language": "fi", "submission_token": f"shot-{uuid.uuid4().hex}"})
        await self._post(f"/api/v1/requests/{receipt['id']}/resolve")

    async def _post(self, path: str, **kwargs: Any) -> Any:
        async with self.session.post(self.hub.base_url + path, **kwargs) as answer:
            if answer.status >= 300:
                raise RuntimeError(f"{path} answered {answer.status}: {await answer.text()}")
            if answer.content_type != "application/json":
                return None  # Twilio's webhook is answered in TwiML
            return await answer.json()

    async def sms(self, sender: str, body: str) -> None:
        url = f"{self.hub.base_url}/webhooks/sms/twilio"
        params = [("MessageSid", "SM" + uuid.uuid4().hex), ("AccountSid", TWILIO_ACCOUNT_SID),
                  ("From", sender), ("To", COMPANY_NUMBER), ("Body", body), ("NumMedia", "0"),
                  ("NumSegments", "1"), ("ApiVersion", TWILIO_API_VERSION)]
        await self._post("/webhooks/sms/twilio", data=urlencode(params), headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": twilio_signature(TWILIO_AUTH_TOKEN, url, params)})

    def _mail(self, fields: dict[str, str]) -> None:
        mail = EmailMessage()
        mail["From"], mail["To"] = fields["from"], f"tilaukset@{MAIL_DOMAIN}"
        mail["Subject"] = fields["subject"]
        mail["Message-ID"] = f"<{uuid.uuid4().hex}@yritys.example>"
        mail.set_content(fields["body"])
        with smtplib.SMTP("127.0.0.1", self.smtp_port, timeout=30) as smtp:
            smtp.send_message(mail)

    # --- calls, as a PBX reports them (docs/generic-cti.md) ---

    async def cti(self, **event: Any) -> None:
        await self._post("/webhooks/phone/cti", json=event, headers={"X-CTI-Token": CTI_SECRET})

    async def ringing_call(self, caller: str) -> None:
        await self.cti(event="newCall", callId=f"shot-{uuid.uuid4().hex}", **{"from": caller},
                       to="09 1234 5678", direction="in")

    async def missed_call(self, caller: str, voice_message: str) -> None:
        """The caller hangs up unanswered and leaves a voice message, transcribed."""
        call = {"callId": f"shot-{uuid.uuid4().hex}", "from": caller, "to": "09 1234 5678",
                "direction": "in"}
        await self.cti(event="newCall", **call)
        await asyncio.sleep(RING_S)
        await self.cti(event="hangup", cause="noAnswer", **call)
        await self.cti(event="voicemail", callId=call["callId"],
                       url=self.recordings.url(call["callId"]), duration=VOICE_MESSAGE_S,
                       transcription=voice_message)

    # --- the admin API ---

    async def log_in(self) -> None:
        await self._post("/api/v1/auth/login",
                         json={"login": DEMO_LOGIN, "password": DEMO_PASSWORD})

    async def rename_dispatcher(self, name: str) -> None:
        async with self.session.get(f"{self.hub.base_url}/api/v1/admin/agents") as answer:
            agents = (await answer.json())["agents"]
        [demo] = [agent for agent in agents if agent["login"] == DEMO_LOGIN]
        async with self.session.patch(f"{self.hub.base_url}/api/v1/admin/agents/{demo['id']}",
                                      json={"name": name}) as answer:
            if answer.status != 200:
                raise RuntimeError(f"renaming answered {answer.status}: {await answer.text()}")

    async def add_group(self, name: str, members: list[tuple[str, str]]) -> None:
        created = await self._post("/api/v1/admin/groups", json={"name": name})
        rows = "\n".join(f"{member};{number};" for member, number in members)
        await self._post(f"/api/v1/admin/groups/{created['group']['id']}/members/import",
                         json={"csv": "nimi;puhelin;sähköposti\n" + rows})

    # --- the fake Twilio ---

    async def wait_sent(self, text: str, timeout_s: float = 15.0) -> None:
        """Until the hub's outbound worker has sent `text` to the fake Twilio."""
        for _ in range(round(timeout_s / POLL_S)):
            if any(m.text == text for m in self.twilio.messages.values()):
                return
            await asyncio.sleep(POLL_S)
        raise RuntimeError(f"the reply was not sent in {timeout_s:.0f} s: {text!r}")

    async def deliver_all(self) -> None:
        """Twilio reports every reply sent so far as delivered."""
        for sid in list(self.twilio.messages):
            status = await self.twilio.send_status(sid, "delivered")
            if status >= 300:
                raise RuntimeError(f"the hub answered a status callback with {status}")


def start_demo(folder: Path, twilio_url: str, smtp_port: int, site_origin: str,
               recordings_origin: str) -> Server:
    port = free_port()
    env = hub_env(folder, port)
    env.update({
        "TAXICONNECT_CHANNELS_ENABLED": "webform,twilio_sms,email,phone_cti,chat",
        "TAXICONNECT_HTTP_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "TAXICONNECT_SMS_TWILIO_AUTH_TOKEN": TWILIO_AUTH_TOKEN,
        "TAXICONNECT_SMS_TWILIO_ACCOUNT_SID": TWILIO_ACCOUNT_SID,
        "TAXICONNECT_SMS_TWILIO_FROM_NUMBER": COMPANY_NUMBER,
        "TAXICONNECT_SMS_TWILIO_API_URL": twilio_url,
        "TAXICONNECT_EMAIL_ADDRESS": f"tilaukset@{MAIL_DOMAIN}",
        "TAXICONNECT_EMAIL_REPLY_TOKEN_SECRET": secrets.token_hex(32),
        "TAXICONNECT_EMAIL_SMTP_PORT": str(smtp_port),
        "TAXICONNECT_EMAIL_SMTP_DOMAINS": MAIL_DOMAIN,
        "TAXICONNECT_PHONE_CTI_SECRET": CTI_SECRET,
        "TAXICONNECT_PHONE_CALLBACK_DUE_MINUTES": str(CALLBACK_DUE_MINUTES),
        "TAXICONNECT_PHONE_RECORDING_SOURCES": recordings_origin,
        "TAXICONNECT_CHAT_ALLOWED_ORIGINS": site_origin,
        "TAXICONNECT_CHAT_TOKEN_SECRET": secrets.token_hex(32),
        "TAXICONNECT_OUTBOUND_POLL_S": "0.2",
    })
    return start_hub(env, folder / "hub.log", [sys.executable, "-m", "hub.cli", "demo"])


# --- the console --------------------------------------------------------------------------------

def row(page: Page, text: str) -> Any:
    return page.get_by_test_id("queue-row").filter(has_text=text)


async def new_page(browser: Browser, viewport: dict[str, int] = VIEWPORT) -> Page:
    context: BrowserContext = await browser.new_context(
        locale="fi-FI", viewport=ViewportSize(width=viewport["width"], height=viewport["height"]),
        timezone_id="Europe/Helsinki")
    return await context.new_page()


async def log_in(page: Page, base: str) -> None:
    await page.goto(f"{base}/console")
    await page.get_by_test_id("login-user").fill(DEMO_LOGIN)
    await page.get_by_test_id("login-password").fill(DEMO_PASSWORD)
    await page.get_by_test_id("login-submit").click()
    await expect(page.get_by_test_id("connection-state")).to_have_attribute("data-state", "live")


async def open_and_claim(page: Page, text: str) -> None:
    """Take the request: accept it when it is offered to the dispatcher, else claim it."""
    found = row(page, text).first
    offered = found.get_by_test_id("offer-accept")
    if await offered.count():
        await offered.click()
        await found.locator(".row-open").click()
    else:
        await found.locator(".row-open").click()
        await page.get_by_test_id("action-claim").click()
    await expect(page.get_by_test_id("detail-assigned")).to_contain_text(DISPATCHER_NAME)


def card(page: Page, test_id: str) -> Locator:
    """The request's card (passenger, order, timeline, ...) holding `test_id`."""
    return page.locator(".card").filter(has=page.get_by_test_id(test_id))


async def scroll_detail_to(target: Locator, edge: str = "top") -> None:
    """Scroll the request's panel so `target`'s top (or bottom) edge is at the panel's."""
    for _ in range(round(SETTLE_S / POLL_S)):
        # The timeline is redrawn on every event, which can detach the element found.
        if await target.evaluate("""(found, edge) => {
            const panel = found.closest(".detail-scroll");
            if (!panel) return false;
            const box = found.getBoundingClientRect(), view = panel.getBoundingClientRect();
            panel.scrollTop += edge === "top" ? box.top - view.top - 12
                                              : box.bottom - view.bottom + 12;
            return true;
        }""", edge):
            return
        await asyncio.sleep(POLL_S)
    raise RuntimeError(f"{target} stayed outside the request's panel")


async def shoot(page: Page, path: Path) -> None:
    await page.mouse.move(0, 0)  # no hover highlight
    await page.wait_for_timeout(600)  # highlights and counters settle
    await page.screenshot(path=str(path))
    print(f"saved {path}", flush=True)


async def shoot_queue(page: Page, out: Path) -> None:
    await expect(page.get_by_test_id("queue-row")).to_have_count(
        3 + len(FIRST_BATCH) + len(SECOND_BATCH) - 1)  # Aino's SMS joins her order
    await shoot(page, out / "console-queue.png")


async def shoot_request(page: Page, out: Path) -> None:
    await open_and_claim(page, "Aino Virtanen")
    await page.get_by_test_id("note-text").fill(NOTE)
    await page.get_by_test_id("action-note").click()
    await expect(page.get_by_test_id("timeline")).to_contain_text(NOTE)
    await page.evaluate("document.activeElement.blur()")
    # The order above its timeline: form, SMS, the claim and the note at the foot.
    await scroll_detail_to(page.get_by_test_id("timeline"), "bottom")
    await shoot(page, out / "console-request.png")


async def shoot_composer(page: Page, demo: Demo, out: Path) -> None:
    await open_and_claim(page, LATE_TAXI_SHOWN)
    composer = page.get_by_test_id("composer-text")
    await composer.fill(FIRST_REPLY)
    await page.get_by_test_id("composer-send").click()
    await demo.wait_sent(FIRST_REPLY)
    await demo.deliver_all()
    mine = page.get_by_test_id("timeline-message").filter(has_text=FIRST_REPLY)
    await expect(mine.get_by_test_id("delivery-badge")).to_have_attribute(
        "data-state", "delivered")
    await composer.fill(NEXT_REPLY)
    await page.get_by_test_id("composer").scroll_into_view_if_needed()
    await shoot(page, out / "console-composer.png")
    await composer.fill("")


async def shoot_group_message(page: Page, demo: Demo, out: Path) -> None:
    """The night shift told of a snowstorm from the console; one number is refused."""
    await page.get_by_test_id("group-open").click()
    await page.get_by_test_id("group-text").fill(GROUP_TEXT)
    refusal: list[Scripted] = [*[201] * REFUSED_DRIVER, 400]  # "not a valid phone number"
    demo.twilio.script = refusal
    await page.get_by_test_id("group-send").click()
    await expect(page.get_by_test_id("group-dialog")).to_be_hidden()
    summary = page.get_by_test_id("group-deliveries")
    await expect(summary.get_by_test_id("group-count")).to_have_text(
        ["Epäonnistui 1", f"Lähetetty {len(DRIVERS) - 1}"], timeout=15_000)
    await summary.get_by_test_id("group-recipients").locator("summary").click()
    await scroll_detail_to(page.get_by_test_id("timeline-message").filter(has=summary))
    await shoot(page, out / "group-message.png")


async def shoot_chat_widget(page: Page, browser: Browser, site: CompanySite, out: Path) -> None:
    """A passenger asks on the company's page; the dispatcher answers from the console."""
    passenger = await new_page(browser)
    await passenger.goto(site.url)
    await passenger.get_by_test_id("chat-launcher").click()
    await expect(passenger.get_by_test_id("chat-status")).to_have_attribute("data-state", "live")
    lines = passenger.get_by_test_id("chat-line")
    await passenger.get_by_test_id("chat-text").fill(CHAT_QUESTION)
    await passenger.get_by_test_id("chat-text").press("Enter")
    await expect(lines.nth(0)).to_have_attribute("data-state", "sent")

    await expect(row(page, "lompakko")).to_have_count(1)
    await open_and_claim(page, "lompakko")
    await expect(page.get_by_test_id("composer-channel")).to_have_value("chat")
    await page.get_by_test_id("composer-text").fill(CHAT_REPLY)
    await page.get_by_test_id("composer-send").click()
    await expect(lines).to_have_count(2)

    await passenger.get_by_test_id("chat-text").fill(CHAT_THANKS)
    await passenger.get_by_test_id("chat-text").press("Enter")
    await expect(lines.nth(2)).to_have_attribute("data-state", "sent")
    await shoot(passenger, out / "chat-widget.png")
    await passenger.context.close()


async def shoot_phone(browser: Browser, demo: Demo, out: Path) -> None:
    """The console at a phone's width: the request fills the screen, the queue a tap away."""
    page = await new_page(browser, PHONE_VIEWPORT)
    await log_in(page, demo.hub.base_url)
    await row(page, "Aino Virtanen").first.locator(".row-open").click()
    await expect(page.get_by_test_id("detail-back")).to_be_visible()
    await shoot(page, out / "console-phone.png")
    await page.context.close()


async def shoot_calls(page: Page, demo: Demo, out: Path) -> None:
    """A known passenger's call rings while the missed call's voice message is open, its
    callback overdue."""
    await row(page, MISSED_CALLER_SHOWN).first.locator(".row-open").click()
    await expect(page.get_by_test_id("callback-box").get_by_test_id("callback-due")) \
        .to_have_attribute("data-overdue", "true")
    await expect(page.get_by_test_id("recording-transcription")).to_have_text(VOICE_MESSAGE)
    await demo.ringing_call(PAST_PASSENGER["phone"])
    await expect(page.get_by_test_id("caller-text")).to_contain_text(PAST_PASSENGER["name"])
    # The deadline shows in the queue; the panel shows the call and its voice message.
    await scroll_detail_to(card(page, "timeline"))
    await page.wait_for_function("() => document.getAnimations().length === 0")
    await shoot(page, out / "console-calls.png")


async def screenshots(demo: Demo, site: CompanySite, out: Path) -> None:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM,
                                                   args=CHROMIUM_ARGS, headless=True)
        try:
            page = await new_page(browser)
            await log_in(page, demo.hub.base_url)
            await shoot_queue(page, out)
            await shoot_request(page, out)
            await shoot_composer(page, demo, out)
            await shoot_group_message(page, demo, out)
            await shoot_chat_widget(page, browser, site, out)
            await shoot_phone(browser, demo, out)
            await shoot_calls(page, demo, out)  # last: the call rings on every console
        finally:
            await browser.close()


async def run(out: Path, folder: Path) -> None:
    async with (FakeTwilio() as twilio, CompanySite() as site,
                RecordingServer(VOICE_MESSAGE_S) as recordings,
                aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session):
        smtp_port = free_port()
        hub = await asyncio.to_thread(start_demo, folder, twilio.url, smtp_port, site.origin,
                                      recordings.origin)
        site.hub = hub.base_url
        try:
            demo = Demo(hub, smtp_port, session, twilio, recordings)
            await demo.log_in()
            await demo.rename_dispatcher(DISPATCHER_NAME)
            await demo.past_order(PAST_PASSENGER)
            await demo.add_group(GROUP_NAME, [(name, driver_number(n))
                                              for n, name in enumerate(DRIVERS)])
            for kind, fields in FIRST_BATCH:
                await demo.contact(kind, fields)
            print(f"first batch in; waiting {OLDER_BATCH_WAIT_S:.0f} s", flush=True)
            await asyncio.sleep(OLDER_BATCH_WAIT_S)
            for kind, fields in SECOND_BATCH:
                await demo.contact(kind, fields)
            await asyncio.sleep(SETTLE_S)
            await screenshots(demo, site, out)
        finally:
            await asyncio.to_thread(hub.stop)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO_DIR / "docs",
                        help="folder for the PNG files")
    parser.add_argument("--keep", action="store_true", help="keep the demo hub's data folder")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="tc-shots-"))
    try:
        asyncio.run(run(args.out, folder))
    finally:
        if args.keep:
            print(f"data folder kept: {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
