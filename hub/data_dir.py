"""The hub's folders hold passengers' data (the SQLite database, the embedded Redis's files,
mail attachments): readable by the hub's user only."""

from __future__ import annotations

import contextlib
from pathlib import Path


def make_private(folder: Path) -> None:
    """Create `folder` (0700), and tighten one an older installation left open: the folder
    and the files directly in it (the database's and Redis's); new files are private anyway
    (the command line's umask)."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    for path in (folder, *folder.iterdir()):
        with contextlib.suppress(OSError):  # not ours to change: left as the operator set it
            path.chmod((path.stat().st_mode & 0o700) | (0o700 if path.is_dir() else 0o600))
