"""Lanes and routing rules: admins set them through the API, and new contacts from the web
form and the Twilio SMS webhook wait in the lane the first matching rule picks."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from hub.lanes import OpeningHours, parse_opening_hours
from hub.model import Role
from hub.settings import (
    ChannelsSettings,
    HttpSettings,
    Secret,
    Settings,
    SmsSettings,
    TwilioSettings,
)
from tests.conftest import DispatcherFactory, HubFactory, free_port
from tests.gateways import twilio_signature
from tests.helpers import Dispatcher, submit

TOKEN = "twilio-lanes-token"
WEEKDAYS = {"mon": [["07:00", "22:00"]], "tue": [["07:00", "22:00"]],
            "wed": [["07:00", "22:00"]], "thu": [["07:00", "22:00"]],
            "fri": [["07:00", "24:00"]], "sat": [["09:00", "24:00"]]}


async def _hub(hub: HubFactory, settings: Settings) -> tuple[TestClient[Any, Any], str]:
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    changed = dataclasses.replace(
        settings, http=HttpSettings(public_url=public),
        channels=ChannelsSettings(enabled=("webform", "twilio_sms")),
        sms=SmsSettings(twilio=TwilioSettings(auth_token=Secret(TOKEN))))
    return await hub(changed, port=port), public


async def _post(admin: Dispatcher, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    async with admin.http.post(f"{admin.base}/api/v1/admin/{path}", json=body) as resp:
        return resp.status, await resp.json()


async def _sms(client: TestClient[Any, Any], public: str, sid: str, to: str,
               body: str) -> None:
    form = [("MessageSid", sid), ("From", "+358401112233"), ("To", to), ("Body", body),
            ("AccountSid", "AC" + "1" * 32)]
    signature = twilio_signature(TOKEN, f"{public}/webhooks/sms/twilio", form)
    async with client.post("/webhooks/sms/twilio", data=form,
                           headers={"X-Twilio-Signature": signature}) as resp:
        assert resp.status == 200, await resp.text()


async def test_rules_pick_the_lane_by_channel_number_keyword_and_form(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    client, public = await _hub(hub, settings)
    admin = await dispatcher(client, role=Role.ADMIN, name="Admin")
    for key, fi, en, priority in (("lost", "Löytötavarat", "Lost property", 0),
                                  ("invoicing", "Laskutus", "Invoicing", -5),
                                  ("drivers", "Kuljettajat", "Driver support", 10),
                                  ("orders", "Tilaukset", "Orders", 5)):
        status, body = await _post(admin, "lanes", {"key": key, "name_fi": fi, "name_en": en,
                                                    "priority": priority})
        assert status == 201, body
    for rule in ({"lane": "drivers", "position": 0, "contacted": "+358 45 000 0002"},
                 {"lane": "lost", "position": 1, "keywords": ["unoh", "löyt", "lost"]},
                 {"lane": "invoicing", "position": 2, "keywords": ["lasku", "kuitti"]},
                 {"lane": "orders", "position": 3, "form": "order"}):
        status, body = await _post(admin, "routing-rules", rule)
        assert status == 201, body

    forgotten = await submit(admin.http, admin.base, "lane-lost-1",
                             message="Unohdin sateenvarjon autoon eilen")
    invoice = await submit(admin.http, admin.base, "lane-inv-1", phone="040 222 0001",
                           message="Tarvitsen laskun kopion")
    ordered = await submit(admin.http, admin.base, "lane-order-1", phone="040 222 0002",
                           form="order", message="Taksi Kamppiin klo 8")
    plain = await submit(admin.http, admin.base, "lane-plain-1", phone="040 222 0003",
                         message="Hei, kysyisin hinnasta")
    await _sms(client, public, "SM" + "a" * 32, "+358450000002", "Auto 42: kortinlukija rikki")

    found = {r["reference"]: r for r in await admin.open_requests()}
    lanes = {r["reference"]: (r["lane"], r["priority"]) for r in found.values()}
    assert lanes[forgotten["reference"]] == ("lost", 0)
    assert lanes[invoice["reference"]] == ("invoicing", -5)
    assert lanes[ordered["reference"]] == ("orders", 5)
    assert lanes[plain["reference"]] == ("default", 0)
    sms = next(r for r in found.values() if r["channel"] == "sms")
    assert (sms["lane"], sms["priority"]) == ("drivers", 10)

    async with admin.http.get(f"{admin.base}/api/v1/lanes") as resp:
        tabs = (await resp.json())["lanes"]
    assert {t["key"] for t in tabs} == {"default", "lost", "invoicing", "drivers", "orders"}
    assert all(t["open"] for t in tabs)


async def test_a_disabled_rule_or_lane_no_longer_routes(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    client, _ = await _hub(hub, settings)
    admin = await dispatcher(client, role=Role.ADMIN, name="Admin")
    lane = {"key": "lost", "name_fi": "Löytötavarat", "name_en": "Lost property"}
    assert (await _post(admin, "lanes", lane))[0] == 201
    status, _ = await _post(admin, "routing-rules", {"lane": "lost", "keywords": ["lomp"]})
    assert status == 201
    first = await submit(admin.http, admin.base, "lane-off-1", message="Lompakko jäi")
    async with admin.http.put(f"{admin.base}/api/v1/admin/lanes/lost",
                              json={**lane, "active": False}) as resp:
        assert resp.status == 200, await resp.text()
    second = await submit(admin.http, admin.base, "lane-off-2", phone="040 333 0001",
                          message="Lompakko jäi taas")
    lanes = {r["reference"]: r["lane"] for r in await admin.open_requests()}
    assert lanes[first["reference"]] == "lost"
    assert lanes[second["reference"]] == "default"

    async with admin.http.delete(f"{admin.base}/api/v1/admin/lanes/lost") as resp:
        assert resp.status == 409  # a request still waits in it
        refused = await resp.json()
        assert (refused["code"], refused["params"]) == ("lane_not_empty", {"count": 1})
        assert "open requests (1)" in refused["error"]
    async with admin.http.delete(f"{admin.base}/api/v1/admin/lanes/default") as resp:
        assert resp.status == 400


async def test_admin_only_and_bad_fields_get_422_with_the_reason(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings
) -> None:
    client, _ = await _hub(hub, settings)
    admin = await dispatcher(client, role=Role.ADMIN, name="Admin")
    team = await dispatcher(client, name="Tiina")
    lane = {"key": "orders", "name_fi": "Tilaukset", "name_en": "Orders"}
    async with team.http.post(f"{team.base}/api/v1/admin/lanes", json=lane) as resp:
        assert resp.status == 403
    async with team.http.get(f"{team.base}/api/v1/lanes") as resp:
        assert resp.status == 200  # every dispatcher sees the tabs

    bad = [({**lane, "key": "Tilaukset!"}, "key"),
           ({**lane, "strategy": "random"}, "strategy"),
           ({**lane, "offer_timeout_s": 1}, "offer_timeout_s"),
           ({**lane, "opening_hours": {"week": {"mon": [["22:00", "07:00"]]}}}, "ends before"),
           ({**lane, "opening_hours": {"timezone": "Mars/Olympus"}}, "timezone"),
           ({**lane, "opening_hours": {"week": {"maanantai": []}}}, "weekday")]
    for body, reason in bad:
        status, answer = await _post(admin, "lanes", body)
        assert status == 422 and reason in answer["error"], (body, answer)
    assert (await _post(admin, "lanes", lane))[0] == 201
    assert (await _post(admin, "lanes", lane))[0] == 409
    status, answer = await _post(admin, "routing-rules", {"lane": "nowhere"})
    assert status == 422 and "no lane" in answer["error"]
    status, answer = await _post(admin, "routing-rules", {"lane": "orders", "channel": "fax"})
    assert status == 422 and "channel" in answer["error"]


@pytest.mark.parametrize(("at", "is_open"), [
    ("2026-11-30T06:59:00+02:00", False),  # Monday before seven
    ("2026-11-30T07:00:00+02:00", True),
    ("2026-11-30T21:59:59+02:00", True),
    ("2026-11-30T22:00:00+02:00", False),
    ("2026-12-04T23:30:00+02:00", True),  # Friday until midnight
    ("2026-12-06T12:00:00+02:00", False),  # Sunday: no spans
    ("2026-12-24T12:00:00+02:00", False),  # a closed date
    ("2026-06-01T04:30:00+00:00", True),  # 07:30 in Helsinki summer time
])
def test_opening_hours_in_local_time(at: str, is_open: bool) -> None:
    hours = parse_opening_hours({"timezone": "Europe/Helsinki", "week": WEEKDAYS,
                                 "closed_dates": ["2026-12-24"]})
    assert hours.is_open(datetime.fromisoformat(at)) is is_open


def test_next_opening_skips_closed_days() -> None:
    hours = parse_opening_hours({"week": WEEKDAYS, "closed_dates": ["2026-12-07"]})
    saturday_night = datetime(2026, 12, 5, 23, 30, tzinfo=UTC)  # 01:30 Sunday in Helsinki
    opens = hours.next_opening(saturday_night)
    assert opens is not None
    assert opens.astimezone(UTC) == datetime(2026, 12, 8, 5, 0, tzinfo=UTC)  # Tue 07:00
    assert OpeningHours().next_opening(saturday_night) == saturday_night
