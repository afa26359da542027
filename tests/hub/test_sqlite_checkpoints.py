"""On SQLite the hub's commits leave the write-ahead log to a checkpoint thread of its own
(hub.sqlite_checkpoints): a commit that takes the log past SQLite's usual 1,000 pages does
not copy it back itself, and the thread does it within a moment, so the log stays small."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from sqlalchemy import Connection, text

from hub.database import Database
from hub.sqlite_checkpoints import EVERY_S

PAGES = 1_500  # past SQLite's default wal_autocheckpoint of 1,000, below the hub's backstop


def _fill(conn: Connection) -> None:
    conn.execute(text("CREATE TABLE filler (body BLOB)"))
    conn.execute(text("INSERT INTO filler VALUES (:body)"),
                 [{"body": os.urandom(4000)} for _ in range(PAGES)])


def _size(path: Path) -> int:
    return path.stat().st_size


async def test_commits_leave_the_log_to_the_checkpoint_thread(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    db = Database(f"sqlite+aiosqlite:///{path}")
    try:
        await db.migrate()
        async with db.read() as conn:  # what the migration left in the log: copied back
            await conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
        before = _size(path)

        await db.run_write(_fill)
        assert _size(path) == before  # the commit did not checkpoint
        assert _size(Path(f"{path}-wal")) > PAGES * 4000

        db.checkpoint_in_background()
        for _ in range(int(10 / EVERY_S)):
            await asyncio.sleep(EVERY_S)
            if _size(path) > before + PAGES * 4000:
                break
        assert _size(path) > before + PAGES * 4000  # the thread copied the log back
        async with db.read() as conn:
            count = (await conn.execute(text("SELECT count(*) FROM filler"))).scalar()
        assert count == PAGES
    finally:
        await db.close()
