"""Handling actions record their agent and the request's timings."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import pytest

from tests.conftest import DispatcherFactory, HubFactory
from tests.helpers import Dispatcher, submit

PAUSE_S = 0.05  # between steps, so that every duration is measurably above zero


async def _act(agent: Dispatcher, request_id: str, action: str,
               body: dict[str, Any] | None = None) -> dict[str, Any]:
    async with agent.http.post(f"{agent.base}/api/v1/requests/{request_id}/{action}",
                               json=body or {}) as resp:
        assert resp.status == 200, await resp.text()
        found: dict[str, Any] = (await resp.json())["request"]
        return found


def _at(timings: dict[str, Any], name: str) -> datetime:
    value = timings[name]
    assert value is not None, (name, timings)
    parsed = datetime.fromisoformat(value)
    assert parsed.utcoffset() is not None, f"{name} has no zone"
    return parsed


def _seconds(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds()


async def test_timings_after_claim_and_resolve_are_ordered_and_consistent(
    hub: HubFactory, dispatcher: DispatcherFactory
) -> None:
    agent = await dispatcher(await hub())
    receipt = await submit(agent.http, agent.base, "tok-timings-0001")
    queued = await agent.wait_for_status(receipt["id"], "queued")
    assert queued["timings"]["service_started_at"] is None
    assert queued["timings"]["queue_wait_s"] is None
    await asyncio.sleep(PAUSE_S)
    await _act(agent, receipt["id"], "claim")
    await asyncio.sleep(PAUSE_S)
    await _act(agent, receipt["id"], "resolve")

    found = await agent.request(receipt["id"])
    assert found["status"] == "resolved"
    t = found["timings"]
    case, queued_at = _at(t, "case_started_at"), _at(t, "queued_at")
    service, ended = _at(t, "service_started_at"), _at(t, "ended_at")
    assert case <= queued_at <= service <= ended
    assert service > queued_at and ended > service  # the pauses are in there
    assert t["processing_delay_s"] == pytest.approx(_seconds(case, service), abs=0.001)
    assert t["queue_wait_s"] == pytest.approx(_seconds(queued_at, service), abs=0.001)
    assert t["total_service_time_s"] == pytest.approx(_seconds(service, ended), abs=0.001)
    assert t["processing_delay_s"] >= t["queue_wait_s"] >= PAUSE_S
    assert t["total_service_time_s"] >= PAUSE_S
    assert t["first_response_at"] is None and t["first_response_delay_s"] is None

    history = found["history"]
    assert [h["action"] for h in history] == ["claim", "resolve"]
    # The handling events are the moments the timings record (read apart by microseconds).
    assert _seconds(service, _at(history[0], "at")) == pytest.approx(0, abs=0.01)
    assert _seconds(ended, _at(history[1], "at")) == pytest.approx(0, abs=0.01)


async def test_service_start_is_the_first_claim_and_survives_release_and_reopen(
    hub: HubFactory, dispatcher: DispatcherFactory
) -> None:
    client = await hub()
    first, second = await dispatcher(client), await dispatcher(client)
    receipt = await submit(first.http, first.base, "tok-timings-0002")
    await first.wait_for_status(receipt["id"], "queued")
    claimed = await _act(first, receipt["id"], "claim")
    started = claimed["timings"]["service_started_at"]
    await asyncio.sleep(PAUSE_S)
    await _act(first, receipt["id"], "release")
    await _act(second, receipt["id"], "claim")
    await _act(second, receipt["id"], "notes", {"text": "Asiakas soittaa takaisin"})
    resolved = await _act(second, receipt["id"], "resolve")
    reopened = await _act(first, receipt["id"], "reopen")

    assert resolved["timings"]["service_started_at"] == started
    assert reopened["status"] == "queued"
    assert reopened["timings"]["ended_at"] is None
    assert reopened["timings"]["total_service_time_s"] is None
    found = await first.request(receipt["id"])
    assert found["last_agent"] == {"id": str(first.agent.id), "name": first.agent.name}
    actions = [(h["action"], h["agent"]["id"]) for h in found["history"]]
    one, two = str(first.agent.id), str(second.agent.id)
    assert actions == [("claim", one), ("release", one), ("claim", two), ("note", two),
                       ("resolve", two), ("reopen", one)]
    assert found["history"][3]["note"] == "Asiakas soittaa takaisin"


async def test_every_change_grows_the_request_version(
    hub: HubFactory, dispatcher: DispatcherFactory
) -> None:
    client = await hub()
    agent = await dispatcher(client)
    receipt = await submit(agent.http, agent.base, "version-0001", phone="+358405550001")
    first = (await agent.request(receipt["id"]))["version"]
    claimed = await _act(agent, receipt["id"], "claim")
    assert claimed["version"] == first + 1
    again = await submit(agent.http, agent.base, "version-0002", phone="+358405550001",
                         message="Missä taksi?")
    assert again["id"] == receipt["id"]  # threaded into the open request
    assert (await agent.request(receipt["id"]))["version"] == first + 2
