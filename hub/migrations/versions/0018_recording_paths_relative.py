"""recordings kept in the data folder named relative to it

A recording or voice message the hub keeps in its data folder was named by its absolute
path: restored or moved into another folder (a backup restored on another machine, with
PostgreSQL restored by its own tools), the hub no longer found its audio. From here on the
hub names such a file relative to the data folder (hub.recording_paths); this rewrites the
rows written before, in batches of recordings by id.

The data folder is the hub's that runs the migration (`Database.migrate(data_dir=...)`):
- an absolute path (or file:// URL) inside it becomes relative;
- one outside it whose file is gone, while the data folder holds the same file under the
  same trailing folders (`recordings/<name>`), is a data folder restored or moved from
  that place: it becomes relative too;
- anything else (a provider's URL, a file elsewhere that is still there) stays as it is.
Run without a data folder (a tool that only reads the database), rows are left alone: the
hub still reads an absolute path inside its data folder.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-08
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path, PurePosixPath

import sqlalchemy as sa
from alembic import context, op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

BATCH = 5_000  # recordings per read and per UPDATE batch: short statements
recordings = sa.table("recordings", sa.column("id", sa.Uuid()),
                      sa.column("location", sa.Text()))


def upgrade() -> None:
    data_dir = _data_dir()
    if data_dir is not None:
        _rewrite(lambda location: _relative(location, data_dir))


def downgrade() -> None:
    data_dir = _data_dir()
    if data_dir is not None:
        _rewrite(lambda location: _absolute(location, data_dir))


def _data_dir() -> Path | None:
    given = context.config.attributes.get("data_dir")
    return None if given is None else Path(given).resolve()


def _rewrite(new_location: Callable[[str], str | None]) -> None:
    conn = op.get_bind()
    after = None
    while True:
        query = sa.select(recordings.c.id, recordings.c.location).order_by(recordings.c.id)
        if after is not None:
            query = query.where(recordings.c.id > after)
        rows = conn.execute(query.limit(BATCH)).all()
        if not rows:
            return
        changed = [{"key": row.id, "new": new} for row in rows
                   if (new := new_location(row.location)) is not None and new != row.location]
        if changed:
            conn.execute(sa.update(recordings).where(recordings.c.id == sa.bindparam("key"))
                         .values(location=sa.bindparam("new")), changed)
        after = rows[-1].id


def _relative(location: str, root: Path) -> str | None:
    if "://" in location and not location.startswith("file://"):
        return None  # a provider's URL
    named = location.removeprefix("file://")
    if not named.startswith("/"):
        return None  # relative already
    path = Path(named).resolve()
    if path.is_relative_to(root) and path != root:
        return path.relative_to(root).as_posix()
    if path.exists():
        return None  # a file elsewhere that is still there: not the data folder's
    parts = PurePosixPath(named).parts[1:]
    for start in range(len(parts)):  # the longest trailing part the data folder holds
        tail = PurePosixPath(*parts[start:])
        found = (root / tail).resolve()
        if found.is_relative_to(root) and found.is_file():
            return found.relative_to(root).as_posix()
    return None


def _absolute(location: str, root: Path) -> str | None:
    if "://" in location or location.startswith("/"):
        return None
    return str(root / location)

