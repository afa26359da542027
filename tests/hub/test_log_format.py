"""`log_format = "json"`: a hub run as an operator runs it (`serve --workers 2`, access log on)
writes one JSON object a line, the access log's included, each with its time in UTC, level,
logger, message and, from a worker, the worker; a passenger's number and address stay masked
as in the text log. An unknown format stops start-up with one line."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest

from hub.log_format import JsonFormatter
from hub.log_privacy import MaskingFilter
from hub.settings import Settings
from tests.conftest import free_port
from tests.hub_process import REPO, HubProcess, hub_env, kill_leftovers, start_hub

# Nothing here touches the stores: the PostgreSQL pass would only repeat it.
pytestmark = pytest.mark.store_independent

PHONE = "+358 40 765 4777"
EMAIL = "kaisa.lokinen@example.fi"
FIELDS = {"time", "level", "logger", "message"}


@pytest.fixture
def json_hub(tmp_path: Path, settings: Settings) -> Iterator[HubProcess]:
    hub = start_hub(settings, tmp_path, free_port(), "--workers", "2", env_settings={
        "TAXICONNECT_LOG_FORMAT": "json", "TAXICONNECT_HTTP_ACCESS_LOG": "true",
        "TAXICONNECT_LOG_LEVEL": "info"})
    yield hub
    kill_leftovers([hub], {tmp_path / "data"})


async def test_every_line_is_a_json_object_with_masked_data(json_hub: HubProcess) -> None:
    await json_hub.ready()
    async with aiohttp.ClientSession() as http:
        form = {"name": "Kaisa Lokinen", "phone": PHONE, "email": EMAIL,
                "message": "Taksi asemalle", "submission_token": "log-format-0001"}
        async with http.post(f"{json_hub.base}/form?phone={PHONE}", data=form) as answer:
            assert answer.status == 201, await answer.text()
    assert await json_hub.stop() == 0

    text = json_hub.log.read_text(encoding="utf-8")
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert all(isinstance(line, dict) and set(line) >= FIELDS for line in lines), lines
    for line in lines:
        assert datetime.fromisoformat(line["time"]).utcoffset() == UTC.utcoffset(None)
    access = [line for line in lines if line["logger"] == "hub.access"
              and '"POST /form?…" 201' in line["message"]]
    assert len(access) == 1 and access[0]["worker"] in (0, 1) and access[0]["level"] == "INFO"
    assert {line.get("worker") for line in lines} >= {None, 0, 1}  # the parent and each worker
    assert any("/console" in line["message"] for line in lines)  # the address, as a line too
    for personal in (EMAIL, "765 4777", "7654777", "Kaisa"):
        assert personal not in text, f"{personal!r} in the hub's log"


def test_an_unknown_format_stops_start_up_with_one_line(tmp_path: Path,
                                                         settings: Settings) -> None:
    env = {**hub_env(settings, tmp_path / "data", free_port()), "TAXICONNECT_LOG_FORMAT": "yaml"}
    done = subprocess.run([sys.executable, "-m", "hub.cli", "serve"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "taxiconnect: log_format 'yaml': one of ['text', 'json']"], done.stderr


def test_a_traceback_is_masked_in_its_json_line() -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter(worker=3))
    handler.addFilter(MaskingFilter())
    log = logging.getLogger("tests.log_format")
    log.addHandler(handler)
    log.propagate = False
    try:
        try:
            raise ValueError(f"no route for {PHONE} <{EMAIL}>")
        except ValueError:
            log.exception("sending to %s failed", PHONE)
    finally:
        log.removeHandler(handler)
        log.propagate = True
    [line] = [json.loads(text) for text in out.getvalue().splitlines()]
    assert line["message"] == "sending to +***77 failed"
    assert line["worker"] == 3 and line["level"] == "ERROR"
    assert "ValueError: no route for +***77 <***@example.fi>" in line["exception"]
    assert "765" not in out.getvalue() and EMAIL not in out.getvalue()
