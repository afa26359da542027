"""`taxiconnect migrate --check`: is the database at the newest schema revision?

Read only: it opens a connection of its own without the hub's SQLite settings (no WAL
switch), never creates the alembic version table, and does not create a SQLite file that is
not there yet. An operator runs it before an upgrade and after, or a deploy script gates on
its exit code.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from hub.database import MIGRATIONS
from hub.errors import OperatorMustAct


@dataclass(frozen=True, slots=True)
class SchemaRevision:
    """Where the database's schema is (`current`, None before the first migration) and
    where this version of the hub wants it (`head`); `known` is False for a revision this
    version has no migration of (a newer version migrated the database)."""

    current: str | None
    head: str
    known: bool

    @property
    def at_head(self) -> bool:
        return self.current == self.head

    def describe(self) -> str:
        """One line for the operator."""
        if self.at_head:
            return f"the database is at the head revision {self.head}"
        if self.current is None:
            return (f"the database has no schema yet (head is {self.head}): "
                    "run `taxiconnect migrate`")
        if not self.known:
            return (f"the database is at revision {self.current}, which this version does "
                    f"not know (its head is {self.head}): was it migrated by a newer "
                    "TaxiConnect?")
        return (f"the database is at revision {self.current}, behind the head revision "
                f"{self.head}: back it up, then run `taxiconnect migrate`")


def _scripts() -> ScriptDirectory:
    return ScriptDirectory(str(MIGRATIONS))


def head_revision() -> str:
    head = _scripts().get_current_head()
    if head is None:  # a packaging fault: the migrations folder is empty
        raise OperatorMustAct(f"no schema migrations found in {MIGRATIONS}")
    return head


def _current(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


async def schema_revision(database_url: str) -> SchemaRevision:
    """The database's schema revision against this version's head, without changing it."""
    scripts = _scripts()
    head = head_revision()
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        database = url.database
        if not database or database == ":memory:" or not await asyncio.to_thread(
                Path(database).exists):
            return SchemaRevision(None, head, True)
    engine = create_async_engine(url, poolclass=NullPool, hide_parameters=True)
    try:
        async with engine.connect() as conn:
            current = await conn.run_sync(_current)
    except (SQLAlchemyError, OSError) as exc:
        where = url.render_as_string(hide_password=True)
        cause = getattr(exc, "orig", None) or exc  # the driver's words, not sqlalchemy's wrapper
        first_line = (str(cause).splitlines() or [type(cause).__name__])[0]
        raise OperatorMustAct(
            f"cannot read the schema revision of {where}: {first_line}") from exc
    finally:
        await engine.dispose()
    known = current is None or current in {script.revision for script in scripts.walk_revisions()}
    return SchemaRevision(current, head, known)
