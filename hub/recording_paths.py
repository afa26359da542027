"""Where the audio of a recording or voice message is, as the database names it.

A file the hub keeps in its data folder (channels.phone.recording_files) is named relative
to that folder (`recordings/<name>`), so a data folder restored or moved elsewhere still
finds its files, whatever the database (SQLite or PostgreSQL). A provider's URL stays as it
is. An absolute path (or file:// URL) is what rows from before migration 0018 may still
hold: one inside the data folder is read as before.
"""

from __future__ import annotations

from pathlib import Path


def local_file(data_dir: Path, location: str) -> Path | None:
    """The file of a recording the hub keeps in its data folder; None for a provider's URL
    and for a path that leads out of the data folder (`..`, a symbolic link, an absolute
    path elsewhere): those are not the hub's to serve or delete."""
    if "://" in location and not location.startswith("file://"):
        return None
    named = location.removeprefix("file://")
    if not named:
        return None
    root = data_dir.resolve()
    found = (root / named).resolve()  # an absolute path replaces the root
    return found if found.is_relative_to(root) and found != root else None


def stored_location(data_dir: Path, location: str) -> str:
    """How the database names `location`: relative to the data folder when the file is in
    it, else as given."""
    found = local_file(data_dir, location)
    if found is None:
        return location
    return found.relative_to(data_dir.resolve()).as_posix()


def absolute_location(data_dir: Path, location: str) -> str:
    """A stored location as the channels name files: a path relative to the data folder
    joined to it; a URL or absolute path as stored."""
    if "://" in location or Path(location).is_absolute():
        return location
    return str(data_dir / location)
