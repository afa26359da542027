"""`taxiconnect restore DIR`: a backup (hub.backup) back into an empty data folder.

Every file is checked against the manifest before anything is written, and again as it is
copied: a corrupted or incomplete backup is refused, naming the file. The files are copied
into a folder beside the data folder, which then takes its place: a restore that fails half
way leaves no half-restored data folder behind. The configuration in the backup is not
restored: its secrets are masked, so it is the operator's reference, not a working file.

Recordings and voice messages the hub keeps in its data folder are named in the database
relative to it (hub.recording_paths): restored into another folder, with either database,
the hub finds them there. A database from before that (schema revision 0017 or older) names
them by absolute path: the migration the restored hub runs when it starts (0018) points
those at the restored files.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from hub.backup import (
    DATA_DIR,
    FORMAT,
    MANIFEST,
    REDIS_DIR,
    BackedUp,
    copy_private,
    hub_version,
    sqlite_file,
)
from hub.errors import OperatorMustAct
from hub.settings import Settings

CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class Manifest:
    hub_version: str
    schema_revision: str | None
    created_at: str
    files: list[BackedUp]


def read_manifest(folder: Path) -> Manifest:
    """The backup's manifest, every file in it checked (size and SHA-256)."""
    try:
        raw: dict[str, Any] = json.loads((folder / MANIFEST).read_text())
    except FileNotFoundError as exc:
        raise OperatorMustAct(f"{folder} holds no {MANIFEST}: not a finished backup") from exc
    except (OSError, ValueError) as exc:
        raise OperatorMustAct(f"{folder / MANIFEST} cannot be read: {exc}") from exc
    if raw.get("format") != FORMAT:
        raise OperatorMustAct(f"{folder / MANIFEST}: unknown backup format "
                              f"{raw.get('format')!r} (this hub reads {FORMAT})")
    try:
        files = [BackedUp(str(f["path"]), str(f["role"]), int(f["size"]), str(f["sha256"]))
                 for f in raw["files"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise OperatorMustAct(f"{folder / MANIFEST} is damaged: {exc!r}") from exc
    for entry in files:
        _check_name(entry.path)
        _check(folder, entry)
    return Manifest(str(raw.get("hub_version")), raw.get("schema_revision"),
                    str(raw.get("created_at")), files)


def restore(settings: Settings, folder: Path) -> list[str]:
    """Restore the backup in `folder` into the (empty) data folder; the lines to print.
    Blocking."""
    manifest = read_manifest(folder)
    if manifest.schema_revision and manifest.schema_revision not in known_revisions():
        raise OperatorMustAct(
            f"the backup's schema revision {manifest.schema_revision} (hub "
            f"{manifest.hub_version}) is unknown to this hub ({hub_version()}): restore it "
            "with that version or a newer one")
    data_dir = settings.data_dir
    if data_dir.exists() and (not data_dir.is_dir() or any(data_dir.iterdir())):
        raise OperatorMustAct(f"the data folder {data_dir} is not empty: restore goes into "
                              "an empty one (move the old one aside first)")
    database = [f for f in manifest.files if f.role == "database"]
    database_target = sqlite_file(settings)
    if database and database_target is None:
        raise OperatorMustAct("the backup holds a SQLite database, but the hub is configured "
                              "for PostgreSQL: restore with no database.url set")
    if database and database_target is not None and database_target.exists():
        raise OperatorMustAct(f"a database is already at {database_target}: restore puts "
                              "the backup's there only in place of none")
    notes = [f"restored the backup of {manifest.created_at} (hub {manifest.hub_version}, "
             f"schema {manifest.schema_revision or 'not included'}) into {data_dir}"]
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{data_dir.name}.restoring-",
                                    dir=data_dir.parent))
    try:
        for entry in manifest.files:
            target = _target(entry, staging, data_dir, database_target)
            if target is not None:
                _copy_checked(folder, entry, target)
        if data_dir.exists():
            data_dir.rmdir()  # empty, as checked
        staging.rename(data_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if any(f.role == "redis" for f in manifest.files) and not settings.embedded_redis:
        notes.append("Redis is configured by URL: the embedded Redis files restored into "
                     "the data folder are not used; the outbox refills Redis")
    if any(f.role == "config" for f in manifest.files):
        notes.append(f"the configuration is in {folder} with its secrets masked: not "
                     "restored; put it back by hand with the secrets filled in")
    return notes


def known_revisions() -> set[str]:
    """The schema revisions this hub's migrations know."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from hub.database import MIGRATIONS

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return {script.revision for script in ScriptDirectory.from_config(config).walk_revisions()}


def _target(entry: BackedUp, staging: Path, data_dir: Path, database: Path | None
            ) -> Path | None:
    parts = PurePosixPath(entry.path).parts
    if entry.role == "database" and database is not None:
        try:  # inside the data folder (the default): staged with the rest
            return staging / database.resolve().relative_to(data_dir.resolve())
        except ValueError:
            return database
    if entry.role == "redis" and parts[0] == REDIS_DIR:
        return staging.joinpath(*parts[1:])
    if entry.role == "data" and parts[0] == DATA_DIR:
        return staging.joinpath(*parts[1:])
    return None  # the masked configuration, or what this hub does not know


def _check_name(name: str) -> None:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise OperatorMustAct(f"{MANIFEST} names {name!r}, outside the backup: refused")


def _check(folder: Path, entry: BackedUp) -> None:
    path = folder / entry.path
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise OperatorMustAct(f"backup file {entry.path} is missing: {exc}") from exc
    if size != entry.size or _sha256(path) != entry.sha256:
        raise OperatorMustAct(f"backup file {entry.path} is corrupted: it does not match "
                              f"its checksum in {MANIFEST}")


def _copy_checked(folder: Path, entry: BackedUp, target: Path) -> None:
    size, sha = copy_private(folder / entry.path, target)
    if (size, sha) != (entry.size, entry.sha256):
        target.unlink(missing_ok=True)
        raise OperatorMustAct(f"backup file {entry.path} changed while it was restored")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as data:
        for chunk in iter(lambda: data.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


__all__ = ["Manifest", "read_manifest", "restore"]
