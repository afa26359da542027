"""Static assets and pages: the dispatcher console and the passenger form's style."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).parent
