"""Which console events become which webhook events, their stable ids and their bodies; and
the `[webhooks]` settings as an operator writes them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hub.errors import OperatorMustAct
from hub.settings import load_settings
from hub.webhook_body import WebhookEventType, event_id, webhook_events

REQUEST_ID = "3f9a1c52-6b1e-4d7a-9c1b-2a5e8f0d4c11"
TIMINGS = {"case_started_at": "2026-12-07T08:00:00Z",
           "queued_at": "2026-12-07T08:00:01Z", "service_started_at": None,
           "first_response_at": None, "ended_at": None, "processing_delay_s": 1.0,
           "queue_wait_s": None, "total_service_time_s": None,
           "first_response_delay_s": None}
AGENT = {"id": "8d0c9c43-1a7e-4f0e-8f57-6c1b0c8f2a10", "name": "Aino"}


def summary(version: int = 1, status: str = "queued",
            details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"id": REQUEST_ID, "version": version, "reference": "K-1234", "status": status,
            "channel": "webform", "lane": "default", "priority": 100, "preview": "Taksi",
            "details": details, "contact": {"id": "c", "name": "Aino Virtanen",
                                            "phones": ["+358407654321"], "emails": []},
            "assigned_agent": None, "last_agent": None, "offer": None,
            "last_message_at": None, "timings": TIMINGS}


def event(kind: str, **fields: Any) -> str:
    return json.dumps({"type": kind, **fields}, separators=(",", ":"))


ORDER = {"pickup_address": "Mannerheimintie 1", "pickup_time": "2026-12-07T12:00:00+02:00",
         "destination": "Lentoasema", "passengers": "3"}


def test_a_queued_request_with_pickup_address_and_time_gives_created_and_order_ready() -> None:
    found = webhook_events(event("request.queued", request=summary(details=ORDER),
                                 message_id=None))
    assert [e.type for e in found] == [WebhookEventType.REQUEST_CREATED,
                                       WebhookEventType.ORDER_READY]
    created, ready = (json.loads(e.body) for e in found)
    assert created["request"] == {"id": REQUEST_ID, "reference": "K-1234", "channel": "webform",
                                  "lane": "default", "status": "queued", "version": 1,
                                  "timings": TIMINGS}
    assert "order" not in created and "passenger" not in created
    assert ready["order"] == {**ORDER, "passengers": 3}
    assert ready["passenger"] == {"name": "Aino Virtanen", "phone": "+358407654321"}
    assert ready["occurred_at"] == "2026-12-07T08:00:01Z"


@pytest.mark.parametrize("details", [None, {"pickup_address": "Kamppi"},
                                     {"pickup_time": "2026-12-07T12:00:00+02:00"}])
def test_no_order_without_both_address_and_time(details: dict[str, Any] | None) -> None:
    found = webhook_events(event("request.queued", request=summary(details=details),
                                 message_id=None))
    assert [e.type for e in found] == [WebhookEventType.REQUEST_CREATED]


def test_claims_and_resolves_by_their_handling_action_whatever_event_records_them() -> None:
    claim = {"action": "claim", "agent": AGENT, "at": "2026-12-07T08:01:00Z"}
    resolve = {**claim, "action": "resolve"}
    reply = {**claim, "action": "reply"}
    assert [e.type for e in webhook_events(event(
        "request.claim", request=summary(2, "claimed"), handling=claim))] \
        == [WebhookEventType.REQUEST_CLAIMED]
    assert [e.type for e in webhook_events(event(
        "request.resolve", request=summary(3, "resolved"), handling=resolve))] \
        == [WebhookEventType.REQUEST_RESOLVED]
    assert webhook_events(event("request.reply", request=summary(2, "claimed"),
                                handling=reply, message_id="m")) == []
    took = summary(2, "claimed")
    took["timings"] = {**TIMINGS, "service_started_at": reply["at"]}
    assert [e.type for e in webhook_events(event(
        "request.reply", request=took, handling=reply, message_id="m"))] \
        == [WebhookEventType.REQUEST_CLAIMED]
    assert webhook_events(event("chat.typing", request=summary(), typing=True)) == []


def test_the_id_is_stable_for_the_same_change_and_new_for_the_next() -> None:
    data = event("request.queued", request=summary(), message_id=None)
    assert webhook_events(data)[0].id == webhook_events(data)[0].id \
        == event_id(REQUEST_ID, 1, WebhookEventType.REQUEST_CREATED)
    assert event_id(REQUEST_ID, 2, WebhookEventType.REQUEST_RESOLVED) \
        != event_id(REQUEST_ID, 4, WebhookEventType.REQUEST_RESOLVED)


def test_endpoints_come_from_tables_with_the_secret_from_the_environment(
        tmp_path: Path) -> None:
    config = tmp_path / "hooks.toml"
    config.write_text('[[webhooks.endpoints]]\nname = "dispatch"\n'
                      'url = "https://dispatch.example/hooks"\nsecret = "in-file"\n'
                      'events = ["order.ready"]\n')
    settings = load_settings(config, environ={
        "TAXICONNECT_WEBHOOKS_ENDPOINTS_0_SECRET": "from-env"})
    [endpoint] = settings.webhooks.endpoints
    assert (endpoint.name, endpoint.url, endpoint.events) == (
        "dispatch", "https://dispatch.example/hooks", ("order.ready",))
    assert endpoint.secret.reveal() == "from-env"
    assert "from-env" not in repr(settings)


@pytest.mark.parametrize(("table", "complaint"), [
    ('name = "d"\nurl = "ftp://x"\nsecret = "s"', "http"),
    ('name = "d"\nurl = "https://x"', "secret"),
    ('name = "d e"\nurl = "https://x"\nsecret = "s"', "name"),
    ('name = "d"\nurl = "https://x"\nsecret = "s"\nevents = ["request.queued"]',
     "unknown event"),
])
def test_a_wrong_endpoint_fails_start_up_with_a_reason(tmp_path: Path, table: str,
                                                       complaint: str) -> None:
    config = tmp_path / "hooks.toml"
    config.write_text(f"[[webhooks.endpoints]]\n{table}\n")
    with pytest.raises(OperatorMustAct, match=complaint):
        load_settings(config, environ={})


def test_two_endpoints_need_two_names(tmp_path: Path) -> None:
    config = tmp_path / "hooks.toml"
    one = '[[webhooks.endpoints]]\nname = "d"\nurl = "https://x"\nsecret = "s"\n'
    config.write_text(one + one)
    with pytest.raises(OperatorMustAct, match="name of its own"):
        load_settings(config, environ={})
