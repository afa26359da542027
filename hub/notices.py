"""Service notices: what the company tells everyone who gets in touch during a disruption.

A notice is active from `valid_from` until `valid_until` (open-ended when None) unless ended
early. It covers some channels and lanes (no lanes: all); every inbound contact it covers is
answered with it once per passenger (`notice_answers`), in Finnish, English, or Swedish when
the notice has a Swedish text (Finnish otherwise: `Notice.text`).
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from hub import schema
from hub.clock import utcnow
from hub.database import Database
from hub.model import Channel, Notice
from hub.refreshing import Refreshing

log = logging.getLogger(__name__)

n = schema.notices
REFRESH_S = 2.0  # a notice published on another process is in force within this


def notice_of(row: Any) -> Notice:
    return Notice(
        id=row["id"], text_fi=row["text_fi"], text_en=row["text_en"], text_sv=row["text_sv"],
        channels=frozenset(Channel(c) for c in row["channels"]),
        lanes=frozenset(row["lanes"] or ()), announcement_only=row["announcement_only"],
        valid_from=row["valid_from"], valid_until=row["valid_until"],
        ended_at=row["ended_at"],
    )


class NoticeBoard:
    """The notices not yet over, read again every `REFRESH_S` (at once after a change here)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._notices: Refreshing[list[Notice]] = Refreshing("notices", self._load, [],
                                                             max_age_s=REFRESH_S)

    def __repr__(self) -> str:
        return f"<NoticeBoard notices={len(self._notices.value)}>"

    def invalidate(self) -> None:
        self._notices.invalidate()

    async def close(self) -> None:
        await self._notices.close()

    async def current(self, at: datetime) -> list[Notice]:
        """The notices active at `at`, the newest first."""
        return [notice for notice in await self._notices.get() if notice.active(at)]

    async def _load(self) -> list[Notice]:
        async with self._db.read() as conn:
            return await unfinished(conn, utcnow())

    async def find(self, channel: Channel, lane: str | None, at: datetime) -> Notice | None:
        return next((x for x in await self.current(at) if x.covers(channel, lane)), None)


async def unfinished(conn: AsyncConnection, at: datetime) -> list[Notice]:
    """Notices not ended and not past their end (some may start later), the newest first."""
    rows = (await conn.execute(
        select(n).where(n.c.ended_at.is_(None),
                        or_(n.c.valid_until.is_(None), n.c.valid_until > at))
        .order_by(n.c.valid_from.desc(), n.c.created_at.desc())
    )).mappings().all()
    return [notice_of(row) for row in rows]


async def had_notice(conn: AsyncConnection, notice_id: uuid.UUID,
                     contact_id: uuid.UUID) -> bool:
    a = schema.notice_answers
    return (await conn.execute(select(a.c.notice_id).where(
        a.c.notice_id == notice_id, a.c.contact_id == contact_id))).first() is not None


async def first_answer(conn: AsyncConnection, notice_id: uuid.UUID, contact_id: uuid.UUID,
                       channel: Channel, at: datetime) -> bool:
    """Record that the passenger got the notice; False when they had got it already."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    done = await conn.execute(
        dialect.insert(schema.notice_answers)
        .values(notice_id=notice_id, contact_id=contact_id, channel=channel.value, at=at)
        .on_conflict_do_nothing(index_elements=["notice_id", "contact_id"]))
    return done.rowcount == 1


async def notice_for(db: Database, notices: NoticeBoard, channel: Channel,
                     request_id: uuid.UUID | None) -> Notice | None:
    """The active notice for a passenger whom the channel answers in its own response (the
    web form's confirmation, the phone's greeting), or None when there is none or they have
    had it. Without a request (an announcement-only call) nothing is recorded."""
    now = utcnow()
    if request_id is None or not await notices.current(now):
        return await notices.find(channel, None, now) if request_id is None else None
    r = schema.contact_requests
    async with db.read() as conn:
        found = (await conn.execute(select(r.c.contact_id, r.c.lane)
                                    .where(r.c.id == request_id))).first()
    if found is None:
        return None
    notice = await notices.find(channel, found.lane, now)
    if notice is None:
        return None
    async with db.write() as conn:
        if not await first_answer(conn, notice.id, found.contact_id, channel, now):
            return None
    return notice
