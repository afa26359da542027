"""Recordings and voice messages of calls: metadata kept in the database, the audio where
the provider keeps it, or in the hub's data folder (named relative to it:
hub.recording_paths). Each is stored once per provider id; a transcription that arrives
later is added to it. Every time someone plays one, a listen (with an id of its own) and an
audit entry are written."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from hub import audit, schema
from hub.clock import utcnow
from hub.database import Database
from hub.error_codes import ErrorCode
from hub.errors import RetryLater
from hub.events import EventType
from hub.model import Agent
from hub.outbox import OutboxRelay, new_row, write_rows
from hub.read_json import RecordingJson
from hub.read_models import recording_json, summaries_by_id
from hub.recording_paths import absolute_location, stored_location

rec, k = schema.recordings, schema.calls


@dataclass(frozen=True, slots=True)
class RecordingReport:
    """A recording (or voicemail) of a call, as the provider reports it: `call_keys` are the
    provider's ids of the call, the leg's own first; `transcription` when one came with it."""

    provider: str
    call_keys: tuple[str, ...]
    provider_id: str
    location: str | None
    duration_s: int | None
    completed_at: datetime | None
    transcription: str | None = None
    # `recording` or `voicemail` when the provider says which; else a message left while
    # nobody had answered is a voice message.
    kind: str | None = None


@dataclass(frozen=True, slots=True)
class StoredRecording:
    """A stored recording, as a console's player needs it: where its audio is (a file in the
    data folder by its absolute path), and the agent its request is assigned to."""

    id: uuid.UUID
    request_id: uuid.UUID
    kind: str
    location: str
    assigned_agent_id: uuid.UUID | None


class Recordings:
    def __init__(self, db: Database, relay: OutboxRelay, data_dir: Path) -> None:
        self._db = db
        self._relay = relay
        self._data_dir = data_dir

    async def add(self, report: RecordingReport) -> bool | None:
        """Store a recording, or add what a later report tells of it. None when no call
        with its keys is known yet; False when it adds nothing (a repeated callback). A file
        in the data folder is stored by its path relative to the folder."""
        if report.location:
            report = replace(report, location=stored_location(self._data_dir, report.location))
        try:
            return await self._add(report)
        except (SQLAlchemyError, OSError) as exc:
            raise RetryLater(ErrorCode.DATABASE_UNAVAILABLE, retry_after_s=5) from exc

    async def _add(self, report: RecordingReport) -> bool | None:
        async with self._db.write() as conn:
            call = (await conn.execute(
                select(k.c.id, k.c.request_id, k.c.answered_at)
                .where(k.c.provider == report.provider, k.c.call_key.in_(report.call_keys))
                .order_by(k.c.started_at))).first()
            if call is None:
                return None
            found = (await conn.execute(
                select(rec).where(rec.c.provider == report.provider,
                                  rec.c.provider_id == report.provider_id).with_for_update()
            )).first()
            if found is None:
                recording_id = await self._insert(conn, report, call)
                if recording_id is None:
                    return False
            else:
                recording_id = found.id
                changes = {name: value for name, value in (
                    ("transcription", report.transcription), ("duration_s", report.duration_s),
                    ("location", report.location), ("completed_at", report.completed_at),
                ) if value is not None and getattr(found, name) in (None, "")}
                if not changes:
                    return False
                await conn.execute(update(rec).where(rec.c.id == found.id).values(**changes))
            rows = [new_row("events", {
                "type": EventType.CALL_RECORDING,
                "request": (await summaries_by_id(conn, [call.request_id]))[
                    str(call.request_id)],
                "recording": await _recording_json(conn, recording_id),
            })]
            await write_rows(conn, rows)
        self._relay.notify(rows)
        return True

    async def call_known(self, provider: str, call_keys: tuple[str, ...]) -> bool:
        """Whether a call with one of these provider keys is stored."""
        try:
            async with self._db.read() as conn:
                found = (await conn.execute(select(k.c.id).where(
                    k.c.provider == provider, k.c.call_key.in_(call_keys)).limit(1))).first()
        except (SQLAlchemyError, OSError) as exc:
            raise RetryLater(ErrorCode.DATABASE_UNAVAILABLE, retry_after_s=5) from exc
        return found is not None

    async def location_of(self, provider: str, provider_id: str) -> str | None:
        """Where the stored recording with this provider id is kept (a file in the data
        folder by its absolute path, as the channels name it); None: none stored."""
        try:
            async with self._db.read() as conn:
                found = (await conn.execute(select(rec.c.location).where(
                    rec.c.provider == provider, rec.c.provider_id == provider_id))).scalar()
        except (SQLAlchemyError, OSError) as exc:
            raise RetryLater(ErrorCode.DATABASE_UNAVAILABLE, retry_after_s=5) from exc
        return None if found is None else absolute_location(self._data_dir, str(found))

    async def get(self, recording_id: uuid.UUID) -> StoredRecording | None:
        r = schema.contact_requests
        async with self._db.read() as conn:
            row = (await conn.execute(
                select(rec.c.id, rec.c.request_id, rec.c.kind, rec.c.location,
                       r.c.assigned_agent_id).join(r, r.c.id == rec.c.request_id)
                .where(rec.c.id == recording_id))).first()
        if row is None:
            return None
        return StoredRecording(row.id, row.request_id, row.kind,
                               absolute_location(self._data_dir, row.location),
                               row.assigned_agent_id)

    async def listen(self, recording: StoredRecording, agent: Agent) -> uuid.UUID:
        """Record that `agent` plays the recording now; returns the listen's own id."""
        listen_id, now = uuid.uuid4(), utcnow()
        async with self._db.write() as conn:
            await conn.execute(insert(schema.recording_listens), {
                "id": listen_id, "recording_id": recording.id, "agent_id": agent.id,
                "at": now})
            await audit.record(conn, "recording.listen", agent_id=agent.id,
                               subject=str(recording.id),
                               detail={"listen_id": str(listen_id), "kind": recording.kind,
                                       "request_id": str(recording.request_id)})
        return listen_id

    @staticmethod
    async def _insert(conn: AsyncConnection, report: RecordingReport,
                      call: Any) -> uuid.UUID | None:
        if not report.location:
            return None  # a transcription of a recording never reported: nothing to play
        recording_id = uuid.uuid4()
        try:
            async with conn.begin_nested():
                await conn.execute(insert(rec), {
                    "id": recording_id, "call_id": call.id, "request_id": call.request_id,
                    # A message left while nobody had answered is a voice message.
                    "kind": report.kind or ("recording" if call.answered_at is not None
                                            else "voicemail"),
                    "provider": report.provider, "provider_id": report.provider_id,
                    "location": report.location, "duration_s": report.duration_s,
                    "completed_at": report.completed_at,
                    "transcription": report.transcription, "created_at": utcnow(),
                })
        except IntegrityError:
            return None  # the same callback, committed a moment ago by another process
        return recording_id


async def _recording_json(conn: AsyncConnection, recording_id: uuid.UUID) -> RecordingJson:
    listens = (select(func.count()).where(schema.recording_listens.c.recording_id == rec.c.id)
               .scalar_subquery().label("listens"))
    return recording_json((await conn.execute(
        select(rec, listens).where(rec.c.id == recording_id))).mappings().one())
