"""Every file the hub's packages read at run time goes into an installed (non-editable)
package: pyproject's package-data names it. A catalogue or page file left out works in a
checkout and fails only where the hub is installed, as in the container image."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

pytestmark = pytest.mark.store_independent

ROOT = Path(__file__).resolve().parents[1]
SKIPPED = ("__pycache__",)
NOT_READ_AT_RUN_TIME = {"hub": {"migrations/script.py.mako"}}  # alembic's new-revision template


def _data_files(package: str) -> list[str]:
    base = ROOT / package
    return sorted(str(path.relative_to(base)) for path in base.rglob("*")
                  if path.is_file() and path.suffix != ".py"
                  and not any(part in SKIPPED for part in path.parts))


@pytest.mark.parametrize("package", ["hub", "web"])
def test_every_data_file_is_in_the_package_data(package: str) -> None:
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())[
        "tool"]["setuptools"]["package-data"].get(package, [])
    base = ROOT / package
    # setuptools expands each pattern as glob does: `*` stays within a folder.
    packaged = {str(path.relative_to(base)) for pattern in globs for path in base.glob(pattern)}
    missed = [name for name in _data_files(package) if name not in packaged
              and name not in NOT_READ_AT_RUN_TIME.get(package, set())]
    assert missed == [], f"not in [tool.setuptools.package-data] {package}: {missed}"
