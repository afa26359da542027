"""`mypy --strict` over hub/, channels/ and dispatch/ (the settings in pyproject.toml): the
app's state, the stream replies and every signature between packages are checked types."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

# Nothing here touches the stores: the PostgreSQL pass would only repeat it.
pytestmark = pytest.mark.store_independent

ROOT = Path(__file__).resolve().parents[1]


def test_the_packages_are_strictly_typed(tmp_path: Path) -> None:
    # The cache goes to the test's own folder, never into the checkout.
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "mypy-cache")],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, f"mypy failed:\n{done.stdout}\n{done.stderr}"
    assert "Success: no issues found" in done.stdout
