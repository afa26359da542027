"""The reports count durations from the timings' integer copies (hub.schema's `*_us`), which
hub.handling writes with the timings themselves: requests driven through the API (taken,
answered, resolved, taken back, reopened and left waiting again, resolved without being
taken, never taken) give, in every grouping, the figures the Python count over their
timestamps gives. Runs on SQLite, and on PostgreSQL with TEST_DATABASE_URL."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from dispatch.report_period import Dimension, Period
from hub.appkeys import DATABASE
from hub.clock import utcnow
from hub.model import Role
from hub.settings import ChannelsSettings, Secret, Settings, SmsSettings, TwilioSettings
from tests.conftest import DispatcherFactory, HubFactory
from tests.dispatch.test_report_counts import reference_report
from tests.gateways import FakeTwilio
from tests.helpers import Dispatcher, submit

ACCOUNT, TOKEN = "ACtimings", "timings-token"


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilio]:
    async with FakeTwilio(account_sid=ACCOUNT, auth_token=TOKEN) as fake:
        yield fake


async def _act(agent: Dispatcher, request_id: str, action: str) -> None:
    async with agent.http.post(f"{agent.base}/api/v1/requests/{request_id}/{action}") as resp:
        assert resp.status == 200, await resp.text()


async def test_figures_from_requests_handled_through_the_api_equal_the_python_count(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings, twilio: FakeTwilio
) -> None:
    client = await hub(dataclasses.replace(  # SMS, so that a form's passenger can be answered
        settings, channels=ChannelsSettings(enabled=("webform", "twilio_sms")),
        sms=SmsSettings(twilio=TwilioSettings(
            auth_token=Secret(TOKEN), account_sid=ACCOUNT,
            from_number="+358451234567", api_url=twilio.url))))
    admin = await dispatcher(client, role=Role.ADMIN)
    ids = [(await submit(admin.http, admin.base, f"timings-{n}",
                         phone=f"040 555 04{n:02d}"))["id"] for n in range(5)]
    answered, again, untaken, _waiting, twice = ids
    await _act(admin, answered, "claim")
    status, body = await admin.reply(answered, "Auto tulossa", "timings-reply")
    assert status == 201, body
    await _act(admin, answered, "resolve")
    await _act(admin, again, "claim")
    await _act(admin, again, "resolve")
    await _act(admin, again, "reopen")  # waits again: no end, the first service start stays
    await _act(admin, untaken, "resolve")  # service starts (and ends) at the resolve
    for action in ("claim", "resolve", "reopen", "claim", "resolve"):
        await _act(admin, twice, action)

    today = utcnow().astimezone(ZoneInfo(settings.timezone)).date()
    first, after = today - timedelta(days=1), today + timedelta(days=1)
    period = Period(first, after, ZoneInfo(settings.timezone))
    for by in Dimension:
        async with admin.http.get(f"{admin.base}/api/v1/reports?from={first}&to={after}"
                                  f"&by={by.value}") as resp:
            assert resp.status == 200, await resp.text()
            got = await resp.json()
        want = await reference_report(client.app[DATABASE], by, period, None)
        assert got["totals"]["contacts"] == 5
        assert (got["totals"]["answered"], got["totals"]["avg_handling_time_s"] is not None) \
            == (4, True)
        assert got["totals"] == want["totals"], by
        assert got["first_response_by_channel"] == want["first_response_by_channel"], by
        assert [row for row in got["rows"] if row["contacts"]] \
            == [row for row in want["rows"] if row["contacts"]], by
