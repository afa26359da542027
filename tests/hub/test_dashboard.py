"""The Grafana dashboard in deploy/grafana charts what the hub really serves: after one contact,
every metric any panel's query names is on /metrics (parsed with prometheus-client's own
parser), with the suffix its type gives it, and the dashboard is one Grafana can import."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import HubFactory

# Nothing here touches the stores: the PostgreSQL pass would only repeat it.
pytestmark = pytest.mark.store_independent

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / \
    "taxiconnect-dashboard.json"
METRIC = re.compile(r"\b(?:taxiconnect|process)_\w+")
# The sample names each family type serves (prometheus-client's exposition).
SUFFIXES = {"counter": ("_total", "_created"), "gauge": ("",),
            "histogram": ("_bucket", "_sum", "_count", "_created"), "summary": ("_sum", "_count")}


def _panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for panel in dashboard["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))  # a collapsed row holds its own
    return found


def test_the_dashboard_is_one_grafana_imports() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert dashboard["schemaVersion"] >= 36
    assert [i["name"] for i in dashboard["__inputs"]] == ["DS_PROMETHEUS"]
    panels = _panels(dashboard)
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    charts = [p for p in panels if p["type"] != "row"]
    assert len(charts) >= 10
    for panel in charts:
        assert panel["title"] and panel["targets"], panel.get("title")
        assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]
        assert {"h", "w", "x", "y"} <= set(panel["gridPos"]), panel["title"]
        for target in panel["targets"]:
            assert target["expr"] and target["refId"], panel["title"]
            assert target["expr"].count("(") == target["expr"].count(")"), target["expr"]


async def test_every_metric_the_dashboard_queries_is_served(hub: HubFactory) -> None:
    client = await hub()
    async with client.post("/form", data={
            "name": "Aino Kojelauta", "phone": "040 765 4888", "message": "Taksi Toriin",
            "submission_token": "dashboard-form-1"}) as resp:
        assert resp.status == 201, await resp.text()
    async with client.get("/metrics") as resp:  # the test client is on loopback
        assert resp.status == 200
        text = await resp.text()
    served = {family.name + suffix for family in text_string_to_metric_families(text)
              for suffix in SUFFIXES.get(family.type, ("",))}
    samples = {s.name for family in text_string_to_metric_families(text)
               for s in family.samples}

    queried: dict[str, str] = {}
    for panel in _panels(json.loads(DASHBOARD.read_text(encoding="utf-8"))):
        for target in panel.get("targets", []):
            for name in METRIC.findall(target["expr"]):
                queried[name] = panel["title"]
    missing = {name: title for name, title in queried.items() if name not in served}
    assert not missing, f"queried but not served: {missing}"
    # What a contact makes happen has real series behind it, not just a declared family.
    for name in ("taxiconnect_ingest_committed_total", "taxiconnect_ingest_commit_seconds_bucket",
                 "taxiconnect_http_answer_seconds_bucket", "taxiconnect_queue_depth",
                 "taxiconnect_queue_longest_wait_seconds", "process_cpu_seconds_total"):
        assert name in queried and name in samples, name
