"""Channel alerts, raised and cleared through what an admin and the on-call staff see: the
alerts API, the admin console's websocket, /metrics, and the on-call group's SMS at a fake
gateway. An SMS channel stays quiet past its window, the clock moved by configuration
([alerts] clock_offset_s) on a restarted hub. A real Dovecot refusing the login, the AMI
link dropped and deliveries failing in a row, each with the on-call group's messages:
test_channel_alerts_oncall.py; seen in Chromium too: test_channel_alerts_browser.py."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from dispatch.appkeys import ADAPTERS
from dispatch.channel_alerts import ALERT_WATCH
from hub import events
from hub.channel_alerts import AlertsSettings, QuietWindow
from hub.errors import OperatorMustAct
from hub.model import Role
from hub.settings import (
    ChannelsSettings,
    EmailSettings,
    GenericSmsSettings,
    HttpSettings,
    ImapSettings,
    OutboundSettings,
    Secret,
    Settings,
    SmsSettings,
    load_settings,
)
from tests.conftest import DispatcherFactory, HubFactory, free_port
from tests.dovecot import SEARCH_PATH, Dovecot, MailUser, find_dovecot
from tests.gateways import GENERIC_TOKEN, FakeGenericGateway
from tests.helpers import Console, Dispatcher, eventually

Client = TestClient[Any, Any]
FAST = AlertsSettings(check_s=0.2, link_down_s=0.5)
SMS_SECRET = "whsec_alerts_test"
ONCALL_PHONE = "+358401230001"


async def _alerts(agent: Dispatcher) -> list[dict[str, Any]]:
    async with agent.http.get(f"{agent.base}/api/v1/alerts") as resp:
        assert resp.status == 200, await resp.text()
        found: list[dict[str, Any]] = (await resp.json())["alerts"]
        return found


async def _gauge(client: Client, adapter: str, kind: str) -> float:
    async with client.get("/metrics") as resp:
        text = await resp.text()
    found = re.search(rf'^taxiconnect_channel_alert\{{channel="{adapter}",kind="{kind}"\}} '
                      r"(\S+)$", text, re.M)
    assert found, text
    return float(found[1])


async def _alert_event(console: Console, state: str, adapter: str, kind: str
                       ) -> dict[str, Any]:
    """The console's next `channel.alert` with this state, checked against the catalogue."""
    def wanted(event: dict[str, Any]) -> bool:
        return (event["type"] == "channel.alert" and event["state"] == state
                and event["alert"]["adapter"] == adapter and event["alert"]["kind"] == kind)
    got = await console.until(wanted)
    events.check("event", json.dumps(got[-1]))
    return got[-1]


async def raised_and_cleared(client: Client, admin: Dispatcher, console: Console,
                              adapter: str, kind: str, *, raised: bool) -> None:
    state = "raised" if raised else "cleared"
    event = await _alert_event(console, state, adapter, kind)
    assert event["alert"]["kind"] == kind
    alerts = await _alerts(admin)
    assert ([a for a in alerts if a["adapter"] == adapter and a["kind"] == kind] != []) is raised
    # The gauge as of the watcher's next look.
    value = 1.0 if raised else 0.0
    async def gauge() -> bool | None:
        return True if await _gauge(client, adapter, kind) == value else None
    await eventually(gauge, what=f"taxiconnect_channel_alert {adapter} {kind} = {value}")


# ---- IMAP: a real Dovecot that starts refusing the login ------------------------------------


@pytest.fixture
def own_dovecot() -> Iterator[Dovecot]:
    """A Dovecot of this test's own: its password changes under it."""
    if find_dovecot() is None:
        if os.environ.get("CI"):
            pytest.fail("dovecot not found; CI must install dovecot-imapd")
        pytest.skip("dovecot not found (apt-get install dovecot-imapd)")
    with Dovecot(tls=False) as server:
        yield server


def set_password(server: Dovecot, old: str, new: str) -> None:
    """Change the one password the server takes, reload it, and end the open sessions."""
    server.conf.write_text(server.conf.read_text().replace(f"password={old}",
                                                           f"password={new}"))
    doveadm = shutil.which("doveadm", path=SEARCH_PATH) or "doveadm"
    subprocess.run([doveadm, "-c", str(server.conf), "reload"], check=True,
                   capture_output=True)


def imap_settings(settings: Settings, mail: MailUser) -> Settings:
    """The mail channel polling `mail`'s box on the test's own Dovecot."""
    return dataclasses.replace(
        settings, channels=ChannelsSettings(enabled=("webform", "email")),
        # Longer than the poller's first retry: a dropped session alone raises nothing.
        alerts=dataclasses.replace(FAST, link_down_s=1.5),
        email=EmailSettings(
            address="tilaukset@taxi.example", reply_token_secret=Secret("alerts-secret"),
            imap=ImapSettings(host=mail.host, port=mail.port, security="none", user=mail.user,
                              password=Secret(mail.password), poll_s=0.3)))


async def _imap_error_has(admin: Dispatcher, words: str) -> bool | None:
    async with admin.http.get(f"{admin.base}/api/v1/admin/channels") as resp:
        [status] = [c for c in (await resp.json())["channels"] if c["name"] == "email"]
    return True if words in (status["adapter"]["imap"]["last_error"] or "") else None


async def connected(client: Client) -> bool | None:
    poller = client.app[ADAPTERS]["email"].poller
    return True if poller is not None and poller.connected else None


# ---- SMS: quiet past its window, and the on-call group told --------------------------------


def _signed(raw: bytes) -> str:
    t = int(time.time())
    digest = hmac.new(SMS_SECRET.encode(), str(t).encode() + b"." + raw, hashlib.sha256)
    return f"t={t},v1={digest.hexdigest()}"


def sms_settings(settings: Settings, gateway: FakeGenericGateway, port: int,
                  alerts: AlertsSettings) -> Settings:
    return dataclasses.replace(
        settings, channels=ChannelsSettings(enabled=("webform", "generic_sms")), alerts=alerts,
        http=HttpSettings(public_url=f"http://127.0.0.1:{port}"),
        sms=SmsSettings(generic=GenericSmsSettings(
            signing_secret=Secret(SMS_SECRET), send_url=gateway.url + "/send",
            send_token=Secret(GENERIC_TOKEN), from_number="+358450000000")),
        outbound=OutboundSettings(backoff_base_s=0.05, backoff_max_s=0.2, poll_s=0.05,
                                  send_timeout_s=5, max_attempts=2))


async def test_sms_quiet_past_its_window_raises_a_new_sms_clears_and_on_call_is_told(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    window = QuietWindow(adapter="generic_sms", after_min=30)
    alerts = dataclasses.replace(FAST, oncall_group="Päivystys", quiet=(window,))
    async with FakeGenericGateway() as gateway:
        port = free_port()
        first = await hub(sms_settings(settings, gateway, port, alerts), port=port)
        admin = await dispatcher(first, role=Role.ADMIN)
        async with admin.http.post(f"{admin.base}/api/v1/admin/groups",
                                   json={"name": "Päivystys"}) as resp:
            assert resp.status == 201, await resp.text()
            group = (await resp.json())["group"]
        async with admin.http.post(
                f"{admin.base}/api/v1/admin/groups/{group['id']}/members",
                json={"name": "Päivystäjä", "phone": ONCALL_PHONE}) as resp:
            assert resp.status == 201, await resp.text()
        await eventually(lambda: looked(first), what="the watcher's first look")
        assert await _alerts(admin) == []  # a fresh hub waits the window out
        await first.close()

        # The same hub 31 minutes on (its clock moved by configuration).
        moved = dataclasses.replace(alerts, clock_offset_s=31 * 60)
        port = free_port()
        client = await hub(sms_settings(settings, gateway, port, moved), port=port)
        admin.base = f"http://127.0.0.1:{port}"
        console = await admin.console()
        await raised_and_cleared(client, admin, console, "generic_sms", "quiet", raised=True)
        told = await eventually(lambda: _sent_to(gateway, ONCALL_PHONE, 1),
                                what="the on-call SMS of the alert")
        assert "generic_sms" in told[0] and "TaxiConnect-hälytys" in told[0]
        assert "TaxiConnect alert" in told[0]

        await inbound_sms(admin, "gw-alert-1")
        await raised_and_cleared(client, admin, console, "generic_sms", "quiet", raised=False)
        told = await eventually(lambda: _sent_to(gateway, ONCALL_PHONE, 2),
                                what="the on-call SMS of the recovery")
        assert "tulee taas" in told[1] and "arrive on generic_sms again" in told[1]
        await asyncio.sleep(FAST.check_s * 3)  # a few more looks tell nobody again
        assert len(await _sent_to(gateway, ONCALL_PHONE, 2) or []) == 2


async def inbound_sms(agent: Dispatcher, message_id: str) -> None:
    raw = json.dumps({"message_id": message_id, "from": "+358401112233",
                      "to": "+358451234567", "text": "Taksi Kamppiin"}).encode()
    async with agent.http.post(f"{agent.base}/webhooks/sms/generic", data=raw, headers={
            "Content-Type": "application/json", "X-TaxiConnect-Signature": _signed(raw)}) as resp:
        assert resp.status == 200, await resp.text()


async def test_a_window_that_cannot_be_read_or_names_no_enabled_adapter_stops_start_up(
    hub: HubFactory, settings: Settings, tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[[alerts.quiet]]\nadapter = "twilio_sms"\nhours = "7-22"\n')
    with pytest.raises(OperatorMustAct, match=re.escape("hours '7-22': write e.g. '07:00-")):
        load_settings(config, environ={})
    config.write_text('[[alerts.quiet]]\nadapter = "twilio_sms"\n')
    wrong = dataclasses.replace(settings, alerts=load_settings(config, environ={}).alerts)
    with pytest.raises(OperatorMustAct, match=re.escape(
            "alerts.quiet names ['twilio_sms'], not enabled; enabled adapters: ['webform']")):
        await hub(wrong)


async def looked(client: Client) -> bool | None:
    return True if client.app[ALERT_WATCH].looks > 0 else None


async def _sent_to(gateway: FakeGenericGateway, number: str, count: int) -> list[str] | None:
    texts = [m.text for m in gateway.messages.values() if m.to == number]
    return texts if len(texts) >= count else None
