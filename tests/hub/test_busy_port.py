"""`taxiconnect demo` (and `serve`) on a port another program holds: one clear line and exit
status 1, before anything is started or printed, not "ready", a login, then a traceback."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from hub.settings import Settings
from tests.hub_process import hub_env

# Nothing here touches the stores: the PostgreSQL pass would only repeat it.
pytestmark = pytest.mark.store_independent

START_S = 60.0


@pytest.mark.parametrize("command", [["demo"], ["serve"], ["serve", "--workers", "2"]],
                         ids=["demo", "serve", "workers"])
def test_a_busy_port_is_a_clear_error(tmp_path: Path, settings: Settings,
                                      command: list[str]) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "hub.cli", *command], cwd=tmp_path,
                              env=hub_env(settings, tmp_path / "data", port),
                              capture_output=True, text=True, timeout=START_S, check=False)
    assert done.returncode == 1, done
    assert f"cannot listen for HTTP on 127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr
    assert "console" not in done.stdout.lower()  # nothing announced as ready
