"""The register's export: everything the hub keeps about one passenger, as one ZIP archive.

`export.json` holds the passenger rows (merged ones too), identities, every request with its
timings and agents, messages in and out, calls, recordings and voice messages with their
listens, deliveries, handling events, notice answers, SMS opt-outs and staff-group
memberships under the same number or address; `files/` holds the mail attachments and the
audio of every recording: the files the hub keeps under its data folder, and the audio a
provider keeps (a Twilio `RecordingUrl`), fetched for the archive through the phone channel
(hub.recording_audio). A recording's row names its file (`file`), keeps the provider's
`location` and `completed_at`, and says why when the provider's audio could not be had
(`audio_missing`: gone, failing, too slow); a file of the hub's that has gone from the disk
is listed in `files_missing`. Neither fails the export.

All rows are read in one read transaction; files are read and audio fetched after it has
ended, a few fetches at a time, within the export's time for them.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import uuid
import zipfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from hub import schema
from hub.attachment_store import file_refs, stored_path
from hub.clock import utcnow
from hub.database import Database
from hub.model import Timings
from hub.read_models import timings_json
from hub.recording_audio import Audio, AudioMissing, ProviderAudio
from hub.recording_paths import local_file
from hub.subject import Subject

r, m, k = schema.contact_requests, schema.messages, schema.calls
rec, lis, dl = schema.recordings, schema.recording_listens, schema.deliveries
he, ag = schema.handling_events, schema.agents

FORMAT = 1  # export.json's layout version, for whoever reads archives years later
SAFE_NAME = re.compile(r"[^\w.-]+")
# Provider fetches in flight at once: an export is an admin's rare errand, not worth a
# burst at the provider's API.
PARALLEL_FETCHES = 4
# All of an export's provider fetches, from the first: past it, the rest are listed as
# missing, so an admin's download (or `taxiconnect export`) ends in minutes, not hours.
AUDIO_BUDGET_S = 120.0


@dataclass(frozen=True, slots=True)
class StoredFile:
    """A file of the subject's on the hub's disk and its name in the archive."""

    source: Path
    name: str


async def export_archive(db: Database, data_dir: Path, subject: Subject,
                         provider: ProviderAudio) -> bytes:
    """The ZIP archive's bytes; `provider` fetches the audio a provider keeps."""
    async with db.read() as conn:
        document = await _document(conn, subject)
    files = _files(document, data_dir)
    fetched = await _provider_audio(document["recordings"], provider)
    return await asyncio.to_thread(_zip, document, files, fetched)


def archive_name(subject: Subject) -> str:
    """A download name without the number or address in it."""
    return f"taxiconnect-export-{subject.contact_ids[0]}-{utcnow():%Y%m%dT%H%M%SZ}.zip"


async def _document(conn: AsyncConnection, subject: Subject) -> dict[str, Any]:
    contacts, requests = list(subject.contact_ids), list(subject.request_ids)
    agents = {row.id: row.name for row in await conn.execute(select(ag.c.id, ag.c.name))}
    request_rows = await _rows(conn, select(r).where(r.c.id.in_(requests))
                               .order_by(r.c.case_started_at))
    for row in request_rows:
        row["timings"] = timings_json(Timings(
            case_started_at=row["case_started_at"], queued_at=row["queued_at"],
            service_started_at=row["service_started_at"],
            first_response_at=row["first_response_at"], ended_at=row["ended_at"]))
        row["last_agent_name"] = agents.get(row["last_agent_id"])
        row["assigned_agent_name"] = agents.get(row["assigned_agent_id"])
    recordings = await _rows(conn, select(rec).where(rec.c.request_id.in_(requests))
                             .order_by(rec.c.created_at))
    listens = await _rows(conn, select(lis).where(lis.c.recording_id.in_(
        [row["id"] for row in recordings])).order_by(lis.c.at))
    handling = await _rows(conn, select(he).where(he.c.request_id.in_(requests))
                           .order_by(he.c.at))
    for rows in (listens, handling):
        for row in rows:
            row["agent_name"] = agents.get(row["agent_id"])
    oo, na, i = schema.sms_opt_outs, schema.notice_answers, schema.contact_identities
    gm = schema.group_members
    deliveries = await _rows(conn, select(dl).where(or_(
        dl.c.request_id.in_(requests), dl.c.recipient.in_(subject.phones + subject.emails)))
        .order_by(dl.c.created_at))
    return {
        "format": FORMAT,
        "exported_at": utcnow().isoformat(),
        "asked_for": {"kind": subject.identifier.kind.value,
                      "value": subject.identifier.value},
        "contacts": await _rows(conn, select(schema.contacts).where(
            schema.contacts.c.id.in_(contacts))),
        "identities": await _rows(conn, select(i).where(i.c.contact_id.in_(contacts))
                                  .order_by(i.c.created_at)),
        "requests": request_rows,
        "messages": await _rows(conn, select(m).where(m.c.request_id.in_(requests))
                                .order_by(m.c.created_at)),
        "calls": await _rows(conn, select(k).where(k.c.request_id.in_(requests))
                             .order_by(k.c.started_at)),
        "recordings": recordings,
        "recording_listens": listens,
        "deliveries": deliveries,
        "handling_events": handling,
        "notice_answers": await _rows(conn, select(na).where(na.c.contact_id.in_(contacts))),
        "sms_opt_outs": await _rows(conn, select(oo).where(oo.c.phone.in_(subject.phones))),
        "group_members": await _rows(conn, select(gm).where(or_(
            gm.c.phone.in_(subject.phones), gm.c.email.in_(subject.emails)))),
    }


async def _rows(conn: AsyncConnection, query: Any) -> list[dict[str, Any]]:
    return [dict(row) for row in (await conn.execute(query)).mappings()]


def attachment_hashes(details: Any) -> list[tuple[str, str]]:
    """(sha256, file name) of each attachment a message's details list."""
    return [(ref.sha256, ref.name) for ref in file_refs(details)]


def _files(document: dict[str, Any], data_dir: Path) -> list[StoredFile]:
    files: list[StoredFile] = []
    seen: set[Path] = set()
    for message in document["messages"]:
        listed = []
        for digest, name in attachment_hashes(message["details"]):
            path = stored_path(data_dir, digest)
            archived = f"files/attachments/{digest[:12]}-{SAFE_NAME.sub('_', name)[:80]}"
            listed.append(archived)
            if path not in seen:
                seen.add(path)
                files.append(StoredFile(path, archived))
        if listed:
            message["files"] = listed
    for recording in document["recordings"]:
        kept = local_file(data_dir, str(recording["location"]))
        if kept is not None:
            recording["file"] = f"files/recordings/{recording['id']}{kept.suffix}"
            files.append(StoredFile(kept, recording["file"]))
    return files


async def _provider_audio(recordings: list[dict[str, Any]],
                          provider: ProviderAudio) -> dict[str, bytes]:
    """The audio of the recordings the hub does not keep, by archive name; each such
    recording gets its `file`, or `audio_missing` with why."""
    wanted = [row for row in recordings if "file" not in row]
    gate = asyncio.Semaphore(PARALLEL_FETCHES)
    deadline = asyncio.get_running_loop().time() + AUDIO_BUDGET_S

    async def fetch(location: str) -> Audio | AudioMissing:
        try:
            async with asyncio.timeout_at(deadline), gate:
                return await provider.fetch(location)
        except TimeoutError:
            return AudioMissing(f"the export's {AUDIO_BUDGET_S:g} s for fetching audio ran out")

    found = await asyncio.gather(*(fetch(str(row["location"])) for row in wanted))
    fetched: dict[str, bytes] = {}
    for row, audio in zip(wanted, found, strict=True):
        if isinstance(audio, Audio):
            row["file"] = f"files/recordings/{row['id']}{SAFE_NAME.sub('_', audio.suffix)[:8]}"
            fetched[row["file"]] = audio.data
        else:
            row["audio_missing"] = audio.why
    return fetched


def _zip(document: dict[str, Any], files: list[StoredFile], fetched: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        missing = []
        for stored in files:
            try:
                archive.writestr(stored.name, stored.source.read_bytes())
            except FileNotFoundError:  # purged meanwhile, or never written
                missing.append(stored.name)
        for name, data in fetched.items():
            archive.writestr(name, data)
        document["files_missing"] = missing
        archive.writestr("export.json", json.dumps(document, default=_json, indent=1,
                                                   ensure_ascii=False))
    return buffer.getvalue()


def _json(value: object) -> object:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot export {type(value).__name__}")
