"""The data subject's rights as the admin API and the command line both exercise them: find
the passenger, export or erase, and leave one audit entry naming the identifier masked."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

from redis.asyncio import Redis

from hub import audit
from hub.database import Database
from hub.keys import Keys
from hub.recording_audio import ProviderAudio
from hub.subject import Identifier, Subject, find_subject
from hub.subject_erase import Erased, erase_subject
from hub.subject_export import archive_name, export_archive

EXPORT = "subject.export"
ERASE = "subject.erase"


@dataclass(frozen=True, slots=True)
class Archive:
    name: str
    data: bytes


async def _subject(db: Database, identifier: Identifier) -> Subject:
    async with db.read() as conn:
        return await find_subject(conn, identifier)


async def export(db: Database, data_dir: Path, identifier: Identifier,
                 provider: ProviderAudio, *, actor: uuid.UUID | None, via: str) -> Archive:
    """The archive of everything about the passenger, the audio `provider` fetches from
    where a provider keeps it included; NotFound for an unknown one."""
    subject = await _subject(db, identifier)
    data = await export_archive(db, data_dir, subject, provider)
    async with db.write() as conn:
        await audit.record(conn, EXPORT, agent_id=actor, subject=identifier.masked, detail={
            "via": via, "contacts": len(subject.contact_ids),
            "requests": len(subject.request_ids), "bytes": len(data)})
    return Archive(archive_name(subject), data)


async def erase(db: Database, redis: Redis, keys: Keys, data_dir: Path,
                identifier: Identifier, *, actor: uuid.UUID | None, via: str) -> Erased:
    """Erase the passenger's personal data; NotFound for an unknown (or erased) one."""
    subject = await _subject(db, identifier)
    erased = await erase_subject(db, redis, keys, data_dir, subject)
    async with db.write() as conn:
        await audit.record(conn, ERASE, agent_id=actor, subject=identifier.masked,
                           detail={"via": via, **erased.counts()})
    return erased
