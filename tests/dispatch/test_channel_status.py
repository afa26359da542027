"""The admin pages' channel status through the API: an SMS Twilio posts (signed) shows as the
channel's last inbound message, a reply the gateway refuses shows as a failed delivery with
its reason (the number in it masked), an IMAP mailbox the hub cannot reach shows its error,
and only admins see any of it."""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from aiohttp.test_utils import TestClient

from channels.sms.twilio_signature import twilio_signature
from hub.model import Role
from hub.settings import (
    ChannelsSettings,
    EmailSettings,
    HttpSettings,
    ImapSettings,
    OutboundSettings,
    Secret,
    Settings,
    SmsSettings,
    TwilioSettings,
)
from tests.conftest import DispatcherFactory, HubFactory, free_port
from tests.gateways import FakeTwilio
from tests.helpers import Dispatcher, eventually

TOKEN = "twilio-test-auth-token"
ACCOUNT = "AC" + "2" * 32
PASSENGER = "+358401112233"
STATUS = "/api/v1/admin/channels"


async def _hub(hub: HubFactory, settings: Settings, twilio: FakeTwilio,
               **more: Any) -> TestClient[Any, Any]:
    port = free_port()
    return await hub(dataclasses.replace(
        settings,
        channels=ChannelsSettings(enabled=("webform", "twilio_sms", *more.pop("enabled", ()))),
        http=HttpSettings(public_url=f"http://127.0.0.1:{port}"),
        sms=SmsSettings(twilio=TwilioSettings(
            auth_token=Secret(TOKEN), account_sid=ACCOUNT, from_number="+358400000000",
            api_url=twilio.url)),
        outbound=OutboundSettings(backoff_base_s=0.05, backoff_max_s=0.2, poll_s=0.05,
                                  send_timeout_s=5, max_attempts=2),
        **more,
    ), port=port)


async def _text_in(client: TestClient[Any, Any], body: str) -> None:
    params = [("MessageSid", "SM" + uuid.uuid4().hex), ("AccountSid", ACCOUNT),
              ("From", PASSENGER), ("To", "+358451234567"), ("Body", body), ("NumMedia", "0")]
    url = str(client.make_url("/webhooks/sms/twilio"))
    response = await client.post("/webhooks/sms/twilio", data=urlencode(params), headers={
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": twilio_signature(TOKEN, url, params)})
    assert response.status == 200, await response.text()


async def _status(admin: Dispatcher) -> dict[str, dict[str, Any]]:
    async with admin.http.get(admin.base + STATUS) as resp:
        assert resp.status == 200, await resp.text()
        answer = await resp.json()
    assert json.dumps(answer).count(PASSENGER[4:]) == 0  # no number anywhere
    return {channel["name"]: channel for channel in answer["channels"]}


def _recent(at: str | None) -> bool:
    return at is not None and datetime.now(UTC) - datetime.fromisoformat(at) < timedelta(
        seconds=30)


async def test_an_sms_in_and_a_refused_reply_show_in_the_channel_status(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    async with FakeTwilio(account_sid=ACCOUNT, auth_token=TOKEN, script=[400]) as twilio:
        client = await _hub(hub, settings, twilio)
        admin = await dispatcher(client, role=Role.ADMIN)
        before = await _status(admin)
        assert list(before) == ["webform", "twilio_sms"]
        sms = before["twilio_sms"]
        assert (sms["channel"], sms["can_reply"], sms["health"]) == ("sms", True, "ok")
        assert sms["last_inbound_at"] is None and sms["last_outbound"] is None
        assert sms["failed_24h"] == {"count": 0, "latest": []}
        assert before["webform"]["can_reply"] is False
        assert before["webform"]["failed_24h"] is None

        await _text_in(client, "Taksi Kamppiin heti")
        after = await _status(admin)
        assert _recent(after["twilio_sms"]["last_inbound_at"])
        assert after["webform"]["last_inbound_at"] is None  # the SMS is not the form's

        # Twilio refuses the reply for good (21211, quoting the number): a failed delivery.
        [request] = await admin.open_requests()
        status, answer = await admin.reply(request["id"], "Taksi tulossa", "status-key-1")
        assert status == 201, answer
        await admin.wait_for_reply(request["id"], "failed")

        async def failed() -> dict[str, Any] | None:
            found = (await _status(admin))["twilio_sms"]
            return found if found["failed_24h"]["count"] == 1 else None

        sms = await eventually(failed, what="the failed delivery in the channel status")
        assert sms["health"] == "warning" and sms["problems"] == []
        assert sms["last_outbound"]["state"] == "failed"
        assert _recent(sms["last_outbound"]["at"])
        [latest] = sms["failed_24h"]["latest"]
        assert _recent(latest["at"])
        assert "21211" in latest["reason"] and "…" in latest["reason"]
        assert PASSENGER not in latest["reason"]

        # A reply that goes through is the last outbound one; the failure still counts.
        status, answer = await admin.reply(request["id"], "Taksi tulossa nyt", "status-key-2")
        assert status == 201, answer
        await admin.wait_for_reply(request["id"], "sent", body="Taksi tulossa nyt")
        sms = (await _status(admin))["twilio_sms"]
        assert sms["last_outbound"]["state"] == "sent"
        assert sms["failed_24h"]["count"] == 1


async def test_an_unreachable_mailbox_shows_its_error(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    async with FakeTwilio(account_sid=ACCOUNT, auth_token=TOKEN) as twilio:
        nobody_listens = free_port()
        client = await _hub(hub, settings, twilio, enabled=("email",), email=EmailSettings(
            address="taksi@taxi.example", reply_token_secret=Secret("s"),
            imap=ImapSettings(host="127.0.0.1", port=nobody_listens, security="none",
                              user="taksi@taxi.example", password=Secret("pw"))))
        admin = await dispatcher(client, role=Role.ADMIN)

        async def failing() -> dict[str, Any] | None:
            found = (await _status(admin))["email"]
            return found if found["health"] == "error" else None

        email = await eventually(failing, what="the IMAP error in the channel status")
        imap = email["adapter"]["imap"]
        assert imap["connected"] is False and imap["errors"] >= 1
        assert imap["mailbox"].endswith("@127.0.0.1/INBOX")
        assert "taksi@taxi.example" not in json.dumps(email)  # the login is masked
        assert _recent(imap["last_error_at"])
        assert email["problems"] == [f"IMAP: {imap['last_error']}"]
        assert (await _status(admin))["twilio_sms"]["adapter"] == {}


async def test_only_admins_see_the_channel_status(
    hub: HubFactory, dispatcher: DispatcherFactory
) -> None:
    client = await hub()
    for role in (Role.TEAM, Role.EXTERNAL):
        who = await dispatcher(client, role=role)
        async with who.http.get(who.base + STATUS) as resp:
            assert resp.status == 403
    async with client.get(STATUS) as resp:
        assert resp.status == 401
