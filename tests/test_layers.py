"""The layers of the design are contracts that run: import-linter's, in pyproject.toml."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

# Nothing here touches the stores: the PostgreSQL pass would only repeat it.
pytestmark = pytest.mark.store_independent

ROOT = Path(__file__).resolve().parents[1]
# The `lint-imports` command, run by this interpreter: no script path to find, and the same
# environment as the tests. No cache: it would be written into the checkout.
LINT_IMPORTS = "import sys; from importlinter.cli import lint_imports_command; " \
               "sys.exit(lint_imports_command())"


def test_import_contracts_hold() -> None:
    done = subprocess.run([sys.executable, "-c", LINT_IMPORTS, "--no-cache"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"lint-imports failed:\n{done.stdout}\n{done.stderr}"
    assert "0 broken" in done.stdout
