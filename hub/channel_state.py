"""What channel adapters remember between messages and across restarts: where each polled
mailbox was left, and the parts of concatenated SMS still waiting for the rest."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from hub import schema
from hub.clock import utcnow
from hub.database import Database

mb = schema.imap_mailboxes
sp = schema.sms_parts


@dataclass(frozen=True, slots=True)
class SmsPart:
    part_id: str
    set_key: str
    part: int
    total: int
    body: str
    details: dict[str, Any]
    received_at: datetime


class ChannelState:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def mailbox_position(self, mailbox: str) -> tuple[int, int] | None:
        """(UIDVALIDITY, last UID taken) of a mailbox, or None before its first poll."""
        async with self._db.read() as conn:
            row = (await conn.execute(select(mb.c.uidvalidity, mb.c.last_uid)
                                      .where(mb.c.mailbox == mailbox))).first()
        return (int(row[0]), int(row[1])) if row else None

    async def save_mailbox_position(self, mailbox: str, uidvalidity: int,
                                    last_uid: int) -> None:
        now = utcnow()
        async with self._db.write() as conn:
            changed = await conn.execute(
                update(mb).where(mb.c.mailbox == mailbox)
                .values(uidvalidity=uidvalidity, last_uid=last_uid, updated_at=now))
            if changed.rowcount == 0:
                await conn.execute(insert(mb), {"mailbox": mailbox, "uidvalidity": uidvalidity,
                                                "last_uid": last_uid, "updated_at": now})

    async def add_sms_part(self, gateway: str, part: SmsPart) -> list[SmsPart]:
        """Keep one part (a retried part is kept once); returns every part of its set held
        so far."""
        async with self._db.write() as conn:
            try:
                async with conn.begin_nested():
                    await conn.execute(insert(sp), {
                        "gateway": gateway, "part_id": part.part_id, "set_key": part.set_key,
                        "part": part.part, "total": part.total, "body": part.body,
                        "details": part.details, "received_at": part.received_at,
                    })
            except IntegrityError:
                pass  # the gateway retried this part
            return await _parts(conn, gateway, part.set_key)

    async def waiting_sets(self, gateway: str, older_than: datetime) -> list[list[SmsPart]]:
        """Sets whose first part arrived before `older_than`: their wait is over."""
        async with self._db.read() as conn:
            keys = (await conn.execute(
                select(sp.c.set_key).where(sp.c.gateway == gateway)
                .group_by(sp.c.set_key).having(func.min(sp.c.received_at) < older_than)
            )).scalars().all()
            return [await _parts(conn, gateway, key) for key in keys]

    async def drop_sms_parts(self, gateway: str, parts: list[SmsPart]) -> None:
        """Forget the parts just delivered, and only those: a part of the same set that
        arrived meanwhile stays for the next delivery."""
        async with self._db.write() as conn:
            await conn.execute(delete(sp).where(
                sp.c.gateway == gateway, sp.c.part_id.in_([p.part_id for p in parts])))


async def _parts(conn: AsyncConnection, gateway: str, set_key: str) -> list[SmsPart]:
    rows = await conn.execute(
        select(sp.c.part_id, sp.c.set_key, sp.c.part, sp.c.total, sp.c.body, sp.c.details,
               sp.c.received_at)
        .where(sp.c.gateway == gateway, sp.c.set_key == set_key).order_by(sp.c.part))
    return [SmsPart(*row) for row in rows]
