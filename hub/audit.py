"""The audit trail: who did what to personal data and accounts, when and from where, kept in
the database as a hash chain (hub.audit_chain says how it is sealed and checked).

`record()` appends one entry inside the caller's transaction. Appends are serialised so that
each entry chains to the one committed before it: on PostgreSQL by a transaction-scoped
advisory lock (several hub processes append at once), on SQLite by its single writer. The
lock is held until the caller commits, so call `record()` as the last statement of a write
transaction, and await nothing else (Redis, HTTP) between it and the commit.
"""

from __future__ import annotations

import json
import uuid
from contextvars import ContextVar
from typing import Any

from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from hub import schema
from hub.audit_chain import GENESIS, seal
from hub.clock import utcnow
from hub.json_types import JsonDocument

# Any constant shared by every hub process (apart from the migration lock's).
CHAIN_LOCK_ID = 0x7A71C1
# The client address of the HTTP request being served, set by hub.audit_web's middleware,
# so that every entry written while serving it says where it came from.
CLIENT_ADDRESS: ContextVar[str | None] = ContextVar("audit_client_address", default=None)
ADDRESS_CHARS = 64  # an IPv6 address with a zone fits

_NEXT_ON_POSTGRES = text(
    "SELECT nextval(pg_get_serial_sequence('audit_log', 'id')), "
    "(SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1)")


async def record(conn: AsyncConnection, action: str, *, agent_id: uuid.UUID | None,
                 subject: str | None = None, detail: JsonDocument | None = None,
                 address: str | None = None) -> int:
    """Append one entry inside the caller's transaction and return its id. Never put message
    bodies, passwords or passengers' numbers in `detail`. `address` defaults to the client
    address of the HTTP request being served, if any."""
    # Stored as JSON and read back: hash what will be read back (tuples become lists).
    clean_detail = json.loads(json.dumps(dict(detail or {})))
    where = address if address is not None else CLIENT_ADDRESS.get()
    entry_id, prev_hash = await _next_place(conn)
    at = utcnow()  # taken under the lock: times rise with ids, as the purge relies on
    fields: dict[str, Any] = {
        "id": entry_id, "at": at, "agent_id": agent_id, "action": action,
        "subject": subject[:200] if subject else subject,
        "address": where[:ADDRESS_CHARS] if where else None, "detail": clean_detail}
    fields["hash"] = seal(**fields, prev_hash=prev_hash)
    await conn.execute(insert(schema.audit_log), {**fields, "prev_hash": prev_hash})
    return entry_id


async def _next_place(conn: AsyncConnection) -> tuple[int, str]:
    """The new entry's id and the hash it chains to, with the chain locked for this
    transaction."""
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": CHAIN_LOCK_ID})
        row = (await conn.execute(_NEXT_ON_POSTGRES)).one()
        return int(row[0]), row[1] or GENESIS
    # SQLite: the write transaction (BEGIN IMMEDIATE) already excludes every other writer.
    log = schema.audit_log
    last = (await conn.execute(
        select(log.c.id, log.c.hash).order_by(log.c.id.desc()).limit(1))).first()
    return (last.id + 1, last.hash) if last else (1, GENESIS)


async def chain_start(conn: AsyncConnection) -> dict[str, Any] | None:
    """Where the chain now starts: the oldest entry's id and stored previous hash (None when
    the trail is empty). The purge writes it into its own entry, so that `audit verify` can
    tell entries purged from the start from entries deleted there by hand."""
    log = schema.audit_log
    first = (await conn.execute(
        select(log.c.id, log.c.prev_hash).order_by(log.c.id).limit(1))).first()
    return {"id": first.id, "prev_hash": first.prev_hash} if first else None
