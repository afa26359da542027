"""The README's console screenshots, regenerated from a demo hub:

    /tmp/venv/bin/python bench/screenshots.py [--out docs]

Starts `taxiconnect demo` on a free port in a temporary data folder, with Twilio SMS (sending
to tests/gateways.py's fake Twilio in this process), the SMTP listener and generic CTI
enabled; passengers then reach it the way they would: web-form orders, signed SMS webhooks,
a mail over SMTP and a missed call. A first batch waits about a minute, so waiting times and
their colours differ. The demo dispatcher (hub/demo.py) logs in through the console page in
Chromium at 1366x768, Finnish, and the script saves:

    console-queue.png     the queue: lane tabs, channels, waiting times, a callback, an offer
    console-request.png   a request taken: one timeline across form and SMS, a note, the card
    console-composer.png  an SMS answered: a delivered reply, the next one in the composer
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
from playwright.async_api import Page, async_playwright, expect
from servers import REPO_DIR, Server, free_port, hub_env, start_hub

from channels.sms.twilio_signature import twilio_signature

sys.path.insert(0, str(REPO_DIR))  # tests/ is not installed with the hub's packages
from tests.gateways import TWILIO_ACCOUNT_SID, TWILIO_API_VERSION, TWILIO_AUTH_TOKEN, FakeTwilio

DEMO_LOGIN, DEMO_PASSWORD = "demo", "taxi-demo-2026"  # hub/demo.py
COMPANY_NUMBER = "+358401000000"
MAIL_DOMAIN = "taksi.example"
CTI_SECRET = secrets.token_hex(16)
HELSINKI = ZoneInfo("Europe/Helsinki")
OLDER_BATCH_WAIT_S = 55.0  # the first batch waits this long before the second comes
SETTLE_S = 3.0
POLL_S = 0.1
AINO = "+358401234567"  # hub/demo.py's first passenger: her SMS threads into her order
LATE_TAXI = "+358407654321"
LATE_TAXI_SHOWN = "040 765 4321"  # the console shows Finnish numbers in the national format
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
    ("call", {"from": "050 765 4321"}),
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
NOTE = "Soitettu asiakkaalle: auto 118 matkalla, perillä noin 5 min."


class Demo:
    """The demo hub and the passengers who reach it."""

    def __init__(self, hub: Server, smtp_port: int, session: aiohttp.ClientSession,
                 twilio: FakeTwilio) -> None:
        self.hub = hub
        self.smtp_port = smtp_port
        self.session = session
        self.twilio = twilio

    def __repr__(self) -> str:
        return f"<Demo {self.hub.base_url}>"

    async def contact(self, kind: str, fields: dict[str, Any]) -> None:
        if kind == "form":
            await self._post("/api/v1/contact-requests", json={
                **fields, "language": "fi", "submission_token": f"shot-{uuid.uuid4().hex}"})
        elif kind == "sms":
            await self._sms(fields["From"], fields["Body"])
        elif kind == "mail":
            await asyncio.to_thread(self._mail, fields)
        elif kind == "call":
            call = {"callId": f"shot-{uuid.uuid4().hex}", "from": fields["from"],
                    "to": "09 1234 5678", "direction": "in"}
            for event in ({"event": "newCall"}, {"event": "hangup", "cause": "cancel"}):
                await self._post("/webhooks/phone/cti", json={**call, **event},
                                 headers={"X-CTI-Token": CTI_SECRET})

    async def _post(self, path: str, **kwargs: Any) -> None:
        async with self.session.post(self.hub.base_url + path, **kwargs) as answer:
            if answer.status >= 300:
                raise RuntimeError(f"{path} answered {answer.status}: {await answer.text()}")

    async def _sms(self, sender: str, body: str) -> None:
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


def start_demo(folder: Path, twilio_url: str, smtp_port: int) -> Server:
    port = free_port()
    env = hub_env(folder, port)
    env.update({
        "TAXICONNECT_CHANNELS_ENABLED": "webform,twilio_sms,email,phone_cti",
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
        "TAXICONNECT_OUTBOUND_POLL_S": "0.2",
    })
    return start_hub(env, folder / "hub.log", [sys.executable, "-m", "hub.cli", "demo"])


# --- the console --------------------------------------------------------------------------------

def row(page: Page, text: str) -> Any:
    return page.get_by_test_id("queue-row").filter(has_text=text)


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
    await expect(page.get_by_test_id("detail-assigned")).to_contain_text("Demo")


async def shoot(page: Page, path: Path) -> None:
    await page.mouse.move(0, 0)  # no hover highlight
    await page.wait_for_timeout(600)  # highlights and counters settle
    await page.screenshot(path=str(path))
    print(f"saved {path}", flush=True)


async def screenshots(demo: Demo, out: Path) -> None:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM,
                                                   args=CHROMIUM_ARGS, headless=True)
        try:
            context = await browser.new_context(locale="fi-FI", viewport=VIEWPORT,
                                                timezone_id="Europe/Helsinki")
            page = await context.new_page()
            await log_in(page, demo.hub.base_url)
            await expect(page.get_by_test_id("queue-row")).to_have_count(
                3 + len(FIRST_BATCH) + len(SECOND_BATCH) - 1)  # Aino's SMS joins her order
            await shoot(page, out / "console-queue.png")

            await open_and_claim(page, "Aino Virtanen")
            await page.get_by_test_id("note-text").fill(NOTE)
            await page.get_by_test_id("action-note").click()
            await expect(page.get_by_test_id("timeline")).to_contain_text(NOTE)
            await page.evaluate("document.activeElement.blur()")
            # The order and its timeline at the top: form, SMS, the claim and the note.
            await page.get_by_test_id("detail-facts").evaluate("""facts => {
                const panel = facts.closest(".detail-scroll");
                const card = facts.closest("section").getBoundingClientRect();
                panel.scrollTop += card.top - panel.getBoundingClientRect().top - 12;
            }""")
            await shoot(page, out / "console-request.png")

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
        finally:
            await browser.close()


async def run(out: Path, folder: Path) -> None:
    async with FakeTwilio() as twilio, aiohttp.ClientSession() as session:
        smtp_port = free_port()
        hub = await asyncio.to_thread(start_demo, folder, twilio.url, smtp_port)
        try:
            demo = Demo(hub, smtp_port, session, twilio)
            for kind, fields in FIRST_BATCH:
                await demo.contact(kind, fields)
            print(f"first batch in; waiting {OLDER_BATCH_WAIT_S:.0f} s", flush=True)
            await asyncio.sleep(OLDER_BATCH_WAIT_S)
            for kind, fields in SECOND_BATCH:
                await demo.contact(kind, fields)
            await asyncio.sleep(SETTLE_S)
            await screenshots(demo, out)
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
