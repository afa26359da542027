"""The hub's folders hold passengers' data (the SQLite database, the embedded Redis's files,
mail attachments): readable by the hub's user only."""

from __future__ import annotations

import contextlib
import stat
from pathlib import Path


def make_private(folder: Path) -> None:
    """Create `folder` (0700), and tighten one an older installation left open: the folder
    and the files directly in it (the database's and Redis's); new files are private anyway
    (the command line's umask)."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    for path in (folder, *folder.iterdir()):
        with contextlib.suppress(OSError):  # not ours to change: left as the operator set it
            path.chmod((path.stat().st_mode & 0o700) | (0o700 if path.is_dir() else 0o600))


SQLITE_COMPANIONS = ("", "-wal", "-shm", "-journal")  # the files SQLite keeps beside a database


def make_database_private(database: Path) -> None:
    """A SQLite database's own files readable by the hub's user only, and its folder created
    private when missing. A folder that exists is left alone: the database may sit in a
    folder the operator shares with other things (the data folder is tightened by
    `make_private` when the hub starts)."""
    if not database.parent.exists():
        database.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    for suffix in SQLITE_COMPANIONS:
        path = database.with_name(database.name + suffix)
        with contextlib.suppress(OSError):  # absent yet, or not ours to change
            path.chmod(stat.S_IMODE(path.stat().st_mode) & 0o600)
