"""The database: one writer engine and one reader engine, and schema migrations.

SQLite allows one writer at a time. Writes go through a single connection that opens its
transactions with BEGIN IMMEDIATE, so concurrent writers (in this process or another) wait
for the lock instead of failing on a stale snapshot; reads use a pool of their own and never
wait for a write in WAL mode. On PostgreSQL both engines are ordinary pools, apart, each with
a bounded wait (POOL_TIMEOUT_S).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import NullPool, QueuePool

from hub.data_dir import make_database_private
from hub.errors import OperatorMustAct
from hub.sqlite_checkpoints import BACKSTOP_PAGES, Checkpointer
from hub.tls import client_context

T = TypeVar("T")
log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000
# PostgreSQL: each process holds at most 2 x (POOL_SIZE + POOL_OVERFLOW) connections, half
# for write transactions and half for reads, so a write that reads on the side can never
# wait for a connection its own kind holds. A unit of work that waits longer than
# POOL_TIMEOUT_S for one gets sqlalchemy's TimeoutError: a 503 with Retry-After, at once,
# never a 500 after the client gave up.
POOL_SIZE = 5
POOL_OVERFLOW = 5
POOL_TIMEOUT_S = 5.0
MIGRATION_LOCK_ID = 0x7A71C0  # any constant shared by every hub process
# How long close() lets work still in flight (a handler finishing, a worker's last batch)
# give its connections back before the pools are disposed.
CLOSE_GRACE_S = 5.0


class Database:
    """hide_parameters: errors and echo never print statement parameters, which hold
    passengers' numbers, addresses and messages."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = make_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        if self.is_sqlite:
            database = self.url.database
            if database and database != ":memory:":
                make_database_private(Path(database))
            self.writer = create_async_engine(self.url, echo=echo, pool_size=1, max_overflow=0,
                                              hide_parameters=True)
            self.reader = create_async_engine(self.url, echo=echo, pool_size=4, max_overflow=4,
                                              hide_parameters=True)
            _configure_sqlite(self.writer.sync_engine, immediate=True)
            _configure_sqlite(self.reader.sync_engine, immediate=False)
            # The hot write path (ingest) runs each whole transaction as one call in a thread
            # of its own: one hop instead of one per statement through the async driver.
            self._batch_writer: Engine | None = create_engine(
                self.url.set(drivername="sqlite+pysqlite"), echo=echo, pool_size=1,
                max_overflow=0, hide_parameters=True)
            _configure_sqlite(self._batch_writer, immediate=True)
            self._batch_thread: ThreadPoolExecutor | None = ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="sqlite-writer")
            checkpoints = create_engine(self.url.set(drivername="sqlite+pysqlite"),
                                        echo=echo, poolclass=NullPool, hide_parameters=True)
            _configure_sqlite(checkpoints, immediate=False)
            self.checkpointer: Checkpointer | None = Checkpointer(checkpoints)
        else:
            self.url, tls = _libpq_tls(self.url)
            pool: dict[str, Any] = {"pool_size": POOL_SIZE, "max_overflow": POOL_OVERFLOW,
                                    "pool_timeout": POOL_TIMEOUT_S, "hide_parameters": True,
                                    "connect_args": tls}
            self.writer = create_async_engine(self.url, echo=echo, **pool)
            self.reader = create_async_engine(self.url, echo=echo, **pool)
            self._batch_writer = None
            self._batch_thread = None
            self.checkpointer = None

    def __repr__(self) -> str:
        return f"<Database {self.url.render_as_string(hide_password=True)}>"

    @property
    def dialect(self) -> str:
        return self.writer.dialect.name

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction: committed on normal exit, rolled back on an exception."""
        async with self.writer.begin() as conn:
            yield conn

    async def run_write(self, work: Callable[[Connection], T]) -> T:
        """Run `work` (synchronous SQLAlchemy Core) in one write transaction.

        On SQLite the whole transaction runs in the writer thread in one go; on PostgreSQL
        it runs on the async pool, each statement awaited.
        """
        if self._batch_writer is not None and self._batch_thread is not None:
            engine = self._batch_writer

            def in_transaction() -> T:
                with engine.begin() as conn:
                    return work(conn)

            return await asyncio.get_running_loop().run_in_executor(
                self._batch_thread, in_transaction)
        async with self.writer.begin() as conn:
            return await conn.run_sync(work)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        async with self.reader.connect() as conn:
            yield conn

    async def ping(self) -> None:
        async with self.read() as conn:
            await conn.execute(text("SELECT 1"))

    async def migrate(self, revision: str = "head", *, data_dir: Path | None = None) -> None:
        """Bring the schema to the newest migration (or to `revision`: tests of the upgrade
        path); safe when several processes start at once. `data_dir`: the hub's data
        folder, for migrations that name its files (0018); without it they leave them."""
        try:
            if self._batch_writer is not None and self._batch_thread is not None:
                await asyncio.get_running_loop().run_in_executor(
                    self._batch_thread, _upgrade_sqlite, self._batch_writer, revision, data_dir)
                return
            async with self.write() as conn:
                await conn.execute(
                    text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK_ID}
                )
                await conn.run_sync(_upgrade, revision, data_dir)
        # CommandError: a revision unknown here; OSError: unreachable, TLS refused
        except (SQLAlchemyError, CommandError, OSError) as exc:
            raise OperatorMustAct(f"database migration failed on {self!r}: {exc}") from exc

    def checkpoint_in_background(self) -> None:
        """On SQLite, checkpoint from a thread of its own (hub.sqlite_checkpoints) rather than
        in whichever commit fills the log: for a serving hub, not for a command's few writes."""
        if self.checkpointer is not None:
            self.checkpointer.start()

    async def close(self) -> None:
        await self._wait_for_connections_back()
        if self.checkpointer is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.checkpointer.stop)
        if self._batch_writer is not None and self._batch_thread is not None:
            await asyncio.get_running_loop().run_in_executor(
                self._batch_thread, self._batch_writer.dispose)
            self._batch_thread.shutdown(wait=True)
        await self.writer.dispose()
        if self.reader is not self.writer:
            await self.reader.dispose()


    async def _wait_for_connections_back(self) -> None:
        """Disposing a pool closes only the connections checked in: one still checked out
        would be dropped unclosed when its work ends (its transaction cut, the driver's
        connection left to the garbage collector)."""
        deadline = time.monotonic() + CLOSE_GRACE_S
        # Polled: the pools have no awaitable "all checked in".
        while in_use := self._connections_in_use():
            if time.monotonic() >= deadline:
                break
            await asyncio.sleep(0.02)
        if in_use:
            log.warning("closing the database with %d connection(s) still in use", in_use)

    def _connections_in_use(self) -> int:
        engines = {self.writer, self.reader}
        return sum(engine.pool.checkedout() for engine in engines
                   if isinstance(engine.pool, QueuePool))


def _libpq_tls(url: URL) -> tuple[URL, dict[str, Any]]:
    """libpq's `sslmode` and `sslrootcert` in the URL (from `[database]` or written there
    by the operator) as asyncpg's `ssl`, which takes neither name: what is left of the URL,
    and the connect arguments."""
    mode = str(url.query.get("sslmode", ""))
    ca_file = str(url.query.get("sslrootcert", ""))
    if not mode and not ca_file:
        return url, {}
    rest = url.difference_update_query(["sslmode", "sslrootcert"])
    mode = mode or "verify-full"  # a CA named: it is there to be checked against
    if mode not in ("disable", "allow", "prefer", "require", "verify-ca", "verify-full"):
        raise OperatorMustAct(f"database sslmode {mode!r}: disable, require, verify-ca or "
                              "verify-full")
    if mode == "disable":
        return rest, {"ssl": False}
    if mode in ("allow", "prefer"):
        return rest, {"ssl": mode}  # asyncpg's own: TLS if the server offers it, unverified
    context = client_context("database.ssl_ca_file", ca_file)
    if mode != "verify-full":
        context.check_hostname = False
    if mode == "require":
        context.verify_mode = ssl.CERT_NONE
    return rest, {"ssl": context}


def _upgrade(connection: Connection, revision: str, data_dir: Path | None) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    config.attributes["data_dir"] = data_dir
    command.upgrade(config, revision)


def _upgrade_sqlite(engine: Engine, revision: str, data_dir: Path | None) -> None:
    """SQLite alters a table by rebuilding it (copy, drop, rename); with foreign keys
    enforced, the drop fails once another table's rows refer to it (0007 on any database with
    messages in it). So they are off for the migration, which is possible only outside a
    transaction, and the whole database is checked before a migration that ran commits
    (not at every start). BEGIN IMMEDIATE keeps a second process out until then."""
    with engine.connect() as conn:
        dbapi = conn.connection.dbapi_connection
        assert dbapi is not None
        dbapi.execute("PRAGMA foreign_keys=OFF")
        try:
            with conn.begin():
                before = MigrationContext.configure(conn).get_current_revision()
                _upgrade(conn, revision, data_dir)
                after = MigrationContext.configure(conn).get_current_revision()
                broken = None if after == before else conn.exec_driver_sql(
                    "PRAGMA foreign_key_check").first()
                if broken is not None:
                    raise OperatorMustAct(
                        f"database migration left a dangling reference in table {broken[0]}")
        finally:
            dbapi.execute("PRAGMA foreign_keys=ON")


def _configure_sqlite(engine: Engine, *, immediate: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let us issue BEGIN ourselves (pysqlite's own transaction handling defers it).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit survives power loss too; group commit keeps the fsyncs few.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")
        cursor.close()

    begin = "BEGIN IMMEDIATE" if immediate else "BEGIN"

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql(begin)
