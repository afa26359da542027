"""Service notices: what the company tells everyone who gets in touch during a disruption.

A notice is active from `valid_from` until `valid_until` (open-ended when None) unless ended
early. It covers some channels and lanes (no lanes: all); every inbound contact it covers is
answered with it once per passenger (`notice_answers`).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from hub import schema
from hub.clock import utcnow
from hub.database import Database
from hub.model import Channel

log = logging.getLogger(__name__)

n = schema.notices
REFRESH_S = 2.0  # a notice published on another process is in force within this


@dataclass(frozen=True, slots=True)
class Notice:
    id: uuid.UUID
    text_fi: str
    text_en: str
    channels: frozenset[Channel]
    lanes: frozenset[str]
    announcement_only: bool
    valid_from: datetime
    valid_until: datetime | None = None
    ended_at: datetime | None = None

    def active(self, at: datetime) -> bool:
        return (self.ended_at is None and self.valid_from <= at
                and (self.valid_until is None or at < self.valid_until))

    def covers(self, channel: Channel, lane: str | None) -> bool:
        """The notice answers this channel and lane (a lane not yet known counts as covered:
        the phone answers before the call is a request)."""
        return channel in self.channels and (not self.lanes or lane is None
                                             or lane in self.lanes)

    def text(self, language: str) -> str:
        return self.text_en if language == "en" else self.text_fi

    def to_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id), "text": {"fi": self.text_fi, "en": self.text_en},
            "channels": sorted(c.value for c in self.channels), "lanes": sorted(self.lanes),
            "announcement_only": self.announcement_only,
            "valid_from": self.valid_from.isoformat(),
            "valid_until": self.valid_until.isoformat() if self.valid_until else None,
            "ended_at": self.ended_at.isoformat() if self.ended_at else None,
        }


def notice_of(row: Any) -> Notice:
    return Notice(
        id=row["id"], text_fi=row["text_fi"], text_en=row["text_en"],
        channels=frozenset(Channel(c) for c in row["channels"]),
        lanes=frozenset(row["lanes"] or ()), announcement_only=row["announcement_only"],
        valid_from=row["valid_from"], valid_until=row["valid_until"],
        ended_at=row["ended_at"],
    )


class NoticeBoard:
    """The notices not yet over, read again every `REFRESH_S` (at once after a change here)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._notices: list[Notice] = []
        self._loaded_at = float("-inf")
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"<NoticeBoard notices={len(self._notices)}>"

    def invalidate(self) -> None:
        self._loaded_at = float("-inf")

    async def current(self, at: datetime) -> list[Notice]:
        """The notices active at `at`, the newest first."""
        if time.monotonic() - self._loaded_at >= REFRESH_S:
            async with self._lock:
                if time.monotonic() - self._loaded_at >= REFRESH_S:
                    try:
                        async with self._db.read() as conn:
                            self._notices = await unfinished(conn, at)
                    except SQLAlchemyError as exc:
                        log.warning("notices could not be reloaded: %s", exc)
                    self._loaded_at = time.monotonic()
        return [notice for notice in self._notices if notice.active(at)]

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
    if request_id is None:
        return await notices.find(channel, None, now)
    r = schema.contact_requests
    async with db.write() as conn:
        found = (await conn.execute(select(r.c.contact_id, r.c.lane)
                                    .where(r.c.id == request_id))).first()
        if found is None:
            return None
        notice = await notices.find(channel, found.lane, now)
        if notice is None or not await first_answer(conn, notice.id, found.contact_id,
                                                    channel, now):
            return None
    return notice
