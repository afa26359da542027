"""`taxiconnect audit verify`: walk the audit trail's hash chain and name the first broken link.

Reads in pages by id on the read engine, one short read per page, so a verify of a long
trail holds no connection for long and never blocks the hub's writers.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from hub import schema
from hub.audit_chain import ChainWalk, Entry
from hub.database import Database

PAGE = 2000


async def _page(conn: AsyncConnection, after: int) -> list[Entry]:
    log = schema.audit_log
    rows = await conn.execute(
        select(log.c.id, log.c.at, log.c.agent_id, log.c.action, log.c.subject, log.c.address,
               log.c.detail, log.c.prev_hash, log.c.hash)
        .where(log.c.id > after).order_by(log.c.id).limit(PAGE))
    return [Entry(id=row.id, at=row.at, agent_id=row.agent_id, action=row.action,
                  subject=row.subject, address=row.address, detail=row.detail,
                  prev_hash=row.prev_hash, hash=row.hash) for row in rows]


async def walk(db: Database) -> ChainWalk:
    """The whole chain checked, oldest kept entry first."""
    chain, after = ChainWalk(), 0
    while True:
        async with db.read() as conn:
            entries = await _page(conn, after)
        chain.feed(entries)
        if len(entries) < PAGE:
            chain.finish()
            return chain
        after = entries[-1].id


async def verify(database_url: str, data_dir: Path | None = None) -> tuple[bool, str]:
    """(intact, the line to print) for the database at `database_url` (of the hub whose
    data folder is `data_dir`: its migrations may name its files)."""
    db = Database(database_url)
    try:
        await db.migrate(data_dir=data_dir)
        chain = await walk(db)
    finally:
        await db.close()
    return chain.broken is None, chain.summary()
