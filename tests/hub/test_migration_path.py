"""The upgrade path: a database holding data written at every earlier schema revision
migrates to the head, keeps every row, and the hub started on it serves them (SQLite, or
PostgreSQL by TEST_DATABASE_URL).

One database is walked up the chain a revision at a time. At each revision it first has
every row written so far read back as that revision should show it (a migration that moves
data, 0010's callback details and 0012's audit addresses, says so in the row's
expectations), then gets rows of its own: an agent, a passenger, a request on every channel
with its messages and handling, and whatever else that revision's tables hold (deliveries,
calls and recordings, lanes, canned replies, groups, opt-outs, unsealed audit entries),
written with only the tables and columns present at that revision. Recordings the hub kept
in its data folder were named by absolute path until 0018: one inside the data folder, one
of a data folder moved here from elsewhere, become relative (and are played); one elsewhere
stays as it was, and is not played, nor is one whose relative path leads out of the folder.
The last step is the hub's own start-up migration, as an operator's upgrade runs it; the
started hub then serves every request through its API, lets the agents of the first and the
previous revision log in, shows the migrated audit trail, whose chain `taxiconnect audit
verify` finds intact, and takes a new contact.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import os
import sqlite3
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Table, and_, func, insert, inspect, select, update
from sqlalchemy.engine import make_url

from hub import schema
from hub.appkeys import DATABASE
from hub.cli import main
from hub.database import MIGRATIONS, Database
from hub.migrate_check import schema_revision
from hub.model import Channel
from hub.passwords import hash_password
from hub.reference import format_reference
from hub.settings import ChannelsSettings, PhoneSettings, Secret, Settings
from tests.conftest import PASSWORD, HubFactory, log_in
from tests.helpers import order

pytestmark = pytest.mark.empty_database  # the migrations run on it from nothing


def _chain() -> list[str]:
    """Every revision, oldest first."""
    return [script.revision
            for script in reversed(list(ScriptDirectory(str(MIGRATIONS)).walk_revisions()))]


CHAIN = _chain()
CALLBACK_COLUMNS = "0010"  # moved a callback's strings out of `details` into columns
AUDIT_CHAIN = "0012"  # sealed the audit trail; moved `remote` out of `detail`
RELATIVE_RECORDINGS = "0018"  # named the data folder's recordings relative to it
OLD_DATA_DIR = Path("/srv/old-machine/taxiconnect/data")  # where a moved data folder was
START = datetime(2026, 9, 1, 6, 30, tzinfo=UTC)  # revision n's data is n days later
TAXI_NUMBER = "+358912345678"


def _reached(revision: str, migration: str) -> bool:
    return CHAIN.index(revision) >= CHAIN.index(migration)


@dataclass
class Row:
    """One row written at some revision: what it held then, and what later migrations make
    of it (`changes`, by the revision that makes them)."""

    table: Table
    key: dict[str, Any]
    written: dict[str, Any]
    changes: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def expected(self, revision: str) -> dict[str, Any]:
        found = dict(self.written)
        for migration, change in self.changes:
            if _reached(revision, migration):
                found |= change
        return found


@dataclass
class Seed:
    """What one revision's step wrote, for the checks through the API."""

    revision: str
    tables: set[str]
    agent_login: str
    agent_name: str
    phone: str
    requests: dict[Channel, uuid.UUID]
    references: dict[Channel, str]
    rows: list[Row]
    audio: dict[str, bytes | None] = field(default_factory=dict)  # by provider id; None: 404


def _body(revision: str, channel: Channel) -> str:
    return f"Taxi to Mannerheimintie {CHAIN.index(revision) + 1}, {channel.value} ({revision})"


def _seed(conn: Connection, revision: str, password_hash: str, data_dir: Path) -> Seed:
    """Rows of everything the schema at `revision` holds, through its tables and columns."""
    inspector = inspect(conn)
    present = {name: {column["name"] for column in inspector.get_columns(name)}
               for name in inspector.get_table_names()}
    rows: list[Row] = []

    def add(table: Table, values: dict[str, Any], *,
            changes: Sequence[tuple[str, dict[str, Any]]] = ()) -> None:
        if table.name not in present:
            return
        written = {k: v for k, v in values.items() if k in present[table.name]}
        conn.execute(insert(table).values(written))
        key = {c.name: written[c.name] for c in table.primary_key.columns if c.name in written}
        rows.append(Row(table, key or {"subject": written["subject"]}, written, list(changes)))

    n = CHAIN.index(revision) + 1
    at = START + timedelta(days=n)
    agent_id, contact_id = uuid.uuid4(), uuid.uuid4()
    login, name = f"upgrade{revision}", f"Dispatcher {revision}"
    phone = f"+35840{n:07d}"
    add(schema.agents, {"id": agent_id, "login": login, "name": name, "role": "admin",
                        "email": f"dispatcher{n}@taxi.example", "password_hash": password_hash,
                        "active": True, "created_at": at, "updated_at": at})
    add(schema.contacts, {"id": contact_id, "name": f"Passenger {revision}", "created_at": at,
                          "updated_at": at})
    for kind, value in (("phone", phone), ("email", f"passenger{n}@mail.example")):
        add(schema.contact_identities, {"kind": kind, "value": value, "contact_id": contact_id,
                                        "created_at": at})

    number = conn.execute(select(schema.counters.c.value)
                          .where(schema.counters.c.name == "request")).scalar_one()
    requests: dict[Channel, uuid.UUID] = {}
    references: dict[Channel, str] = {}
    inbound: dict[Channel, uuid.UUID] = {}
    for channel in Channel:
        number += 1
        request_id, message_id = uuid.uuid4(), uuid.uuid4()
        requests[channel], inbound[channel] = request_id, message_id
        references[channel] = format_reference(number)
        values: dict[str, Any] = {
            "id": request_id, "number": number, "reference": references[channel],
            "contact_id": contact_id, "channel": channel.value, "status": "queued",
            "lane": "default", "priority": 100, "details": {}, "case_started_at": at,
            "queued_at": at, "last_message_at": at, "preview": _body(revision, channel)[:200],
            "updated_at": at}
        changes: list[tuple[str, dict[str, Any]]] = []
        if channel is Channel.PHONE:  # a missed call: the passenger wants a callback
            values |= {"details": {"to": TAXI_NUMBER}, "callback": "requested",
                       "callback_requested_at": at, "missed_calls": 1, "last_missed_at": at}
            if not _reached(revision, CALLBACK_COLUMNS):
                values["details"] = {"to": TAXI_NUMBER, "callback": "true", "missed_calls": "1",
                                     "missed_at": at.isoformat(),
                                     "last_missed_at": at.isoformat()}
                changes.append((CALLBACK_COLUMNS, {
                    "details": {"to": TAXI_NUMBER}, "callback": "requested",
                    "callback_requested_at": at, "missed_calls": 1, "last_missed_at": at}))
        elif channel is Channel.SMS:  # claimed and answered
            values |= {"status": "claimed", "assigned_agent_id": agent_id,
                       "last_agent_id": agent_id, "service_started_at": at,
                       "first_response_at": at + timedelta(minutes=1)}
        elif channel is Channel.EMAIL:  # claimed and resolved
            values |= {"status": "resolved", "last_agent_id": agent_id,
                       "service_started_at": at, "ended_at": at + timedelta(minutes=5)}
        add(schema.contact_requests, values, changes=changes)
        body = _body(revision, channel)
        add(schema.messages, {
            "id": message_id, "request_id": request_id, "channel": channel.value,
            "direction": "inbound", "idempotency_key": f"{channel.value}-{revision}",
            "subject": "Taxi tomorrow" if channel is Channel.EMAIL else None, "body": body,
            "details": {}, "created_at": at,
            "fingerprint": hashlib.sha256(body.encode()).hexdigest()})
    conn.execute(update(schema.counters).where(schema.counters.c.name == "request")
                 .values(value=number))

    reply_id = uuid.uuid4()
    add(schema.messages, {
        "id": reply_id, "request_id": requests[Channel.SMS], "channel": "sms",
        "direction": "outbound", "idempotency_key": None, "subject": None,
        "body": "A taxi is on its way", "details": {}, "agent_id": agent_id,
        "created_at": at + timedelta(minutes=1)})
    for channel, actions in ((Channel.SMS, ("claim",)), (Channel.EMAIL, ("claim", "resolve"))):
        for minute, action in enumerate(actions):
            add(schema.handling_events, {
                "id": uuid.uuid4(), "request_id": requests[channel], "agent_id": agent_id,
                "action": action, "at": at + timedelta(minutes=minute)})
    add(schema.deliveries, {
        "id": uuid.uuid4(), "message_id": reply_id, "request_id": requests[Channel.SMS],
        "adapter": "twilio", "recipient": phone, "state": "delivered",
        "provider_id": f"SM{revision}", "attempts": 1, "created_at": at, "updated_at": at})
    add(schema.sms_opt_outs, {"phone": f"+35850{n:07d}", "keyword": "STOP", "at": at})
    call_id = uuid.uuid4()
    add(schema.calls, {
        "id": call_id, "provider": "twilio", "call_key": f"CA{revision}", "direction": "in",
        "caller": phone, "called": TAXI_NUMBER, "state": "ended", "cause": "no-answer",
        "request_id": requests[Channel.PHONE], "message_id": inbound[Channel.PHONE],
        "started_at": at, "ended_at": at + timedelta(seconds=20), "updated_at": at})
    add(schema.recordings, {
        "id": uuid.uuid4(), "call_id": call_id, "request_id": requests[Channel.PHONE],
        "kind": "voicemail", "provider": "twilio", "provider_id": f"RE{revision}",
        "location": f"https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE{revision}",
        "duration_s": 9, "completed_at": at, "created_at": at})
    audio: dict[str, bytes | None] = {}
    if "recordings" in present:
        kept, spool = data_dir / "recordings", data_dir.parent / "spool"
        kept.mkdir(parents=True, exist_ok=True)
        spool.mkdir(exist_ok=True)
        for provider_id, location, relative in (
                (f"in-{revision}", kept / f"in-{revision}.wav", f"recordings/in-{revision}.wav"),
                (f"moved-{revision}", OLD_DATA_DIR / "recordings" / f"moved-{revision}.wav",
                 f"recordings/moved-{revision}.wav"),
                # Outside the data folder: kept as named, never played from the hub.
                (f"elsewhere-{revision}", spool / f"{revision}.wav", None),
                (f"escape-{revision}", f"recordings/../../spool/{revision}.wav", None)):
            audio[provider_id] = None if relative is None else f"RIFF {provider_id}".encode()
            (data_dir / (relative or location)).write_bytes(audio[provider_id] or b"outside")
            add(schema.recordings, {
                "id": uuid.uuid4(), "call_id": call_id, "request_id": requests[Channel.PHONE],
                "kind": "recording", "provider": "cti", "provider_id": provider_id,
                "location": str(location), "duration_s": 1, "completed_at": at,
                "created_at": at},
                changes=[(RELATIVE_RECORDINGS, {"location": relative})] if relative else [])
    lane = f"airport{n}"
    add(schema.lanes, {
        "key": lane, "name_fi": f"Lentoasema {n}", "name_en": f"Airport {n}", "position": n,
        "priority": 50, "strategy": "manual", "offer_timeout_s": 30, "last_agent_window_s": 0,
        "capacity": 0, "target_wait_s": 120,
        "opening_hours": {"timezone": "Europe/Helsinki", "week": {}, "closed_dates": []},
        "active": True, "updated_at": at})
    add(schema.canned_replies, {
        "id": uuid.uuid4(), "title": f"On its way {n}", "language": "fi",
        "body": "Taksi on matkalla", "lane": lane, "position": n, "updated_by": agent_id,
        "updated_at": at})
    group_id = uuid.uuid4()
    add(schema.staff_groups, {"id": group_id, "name": f"Night drivers {n}", "created_at": at,
                              "updated_at": at})
    add(schema.group_members, {"id": uuid.uuid4(), "group_id": group_id, "name": "Driver",
                               "phone": f"+35845{n:07d}", "created_at": at})
    # From 0012 on an entry is sealed into the chain as the hub writes it (this test's
    # logins are); the entries at risk in an upgrade are the unsealed ones written before.
    if "hash" not in present.get("audit_log", {"hash"}):
        address = f"192.0.2.{n}"
        add(schema.audit_log, {
            "at": at, "agent_id": agent_id, "action": "login",
            "subject": f"upgrade-{revision}", "detail": {"remote": address, "how": "password"}},
            changes=[(AUDIT_CHAIN, {"detail": {"how": "password"}, "address": address})])
    return Seed(revision, set(present), login, name, phone, requests, references, rows,
                audio)


def _check_rows(conn: Connection, rows: list[Row], revision: str) -> None:
    for row in rows:
        expected = row.expected(revision)
        table = row.table
        found = conn.execute(
            select(*(table.c[name] for name in expected))
            .where(and_(*(table.c[k] == v for k, v in row.key.items())))).mappings().all()
        assert [dict(f) for f in found] == [expected], (revision, table.name, row.key)


@pytest.fixture
def cli_database(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                 ) -> Iterator[None]:
    """`main()` run in this process reads the test's database; its umask is given back."""
    for name in [n for n in os.environ if n.startswith("TAXICONNECT_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("TAXICONNECT_DATABASE_URL", database_url)
    monkeypatch.setenv("TAXICONNECT_DATA_DIR", str(tmp_path / "cli-data"))
    monkeypatch.chdir(tmp_path)
    umask = os.umask(0o022)
    os.umask(umask)
    yield
    os.umask(umask)


async def _get(client: Any, path: str) -> Any:
    response = await client.get(path)
    assert response.status == 200, (path, await response.text())
    return await response.json()


def _check_request(seed: Seed, channel: Channel, found: dict[str, Any]) -> None:
    where = (seed.revision, channel.value)
    assert (found["reference"], found["channel"]) == (seed.references[channel], channel.value)
    assert found["contact"]["phones"] == [seed.phone], where
    assert [(m["direction"], m["body"]) for m in found["messages"]][:1] \
        == [("inbound", _body(seed.revision, channel))], where
    if channel is Channel.PHONE:
        assert found["status"] == "queued"
        assert found["details"]["to"] == TAXI_NUMBER
        assert (found["details"]["callback"], found["details"]["missed_calls"]) \
            == ("true", "1"), where  # the API shows a callback as it always has
        calls = "calls" in seed.tables
        assert [(c["state"], c["caller"]) for c in found["calls"]] \
            == ([("ended", seed.phone)] if calls else []), where
        assert sorted(r["kind"] for r in found["recordings"]) \
            == (["recording"] * 4 + ["voicemail"] if calls else []), where
    elif channel is Channel.SMS:
        assert (found["status"], found["assigned_agent"]["name"]) \
            == ("claimed", seed.agent_name), where
        reply = found["messages"][1]
        assert (reply["direction"], reply["agent"]["name"]) == ("outbound", seed.agent_name)
        assert [d["state"] for d in reply["deliveries"]] \
            == (["delivered"] if "deliveries" in seed.tables else []), where
        assert [h["action"] for h in found["history"]] == ["claim"], where
    elif channel is Channel.EMAIL:
        assert (found["status"], found["last_agent"]["name"]) \
            == ("resolved", seed.agent_name), where
        assert found["messages"][0]["subject"] == "Taxi tomorrow"
        assert [(h["action"], h["agent"]["name"]) for h in found["history"]] \
            == [("claim", seed.agent_name), ("resolve", seed.agent_name)], where


@pytest.mark.usefixtures("cli_database")
async def test_data_from_every_revision_survives_the_upgrade_and_is_served(
        database_url: str, hub: HubFactory, settings: Settings) -> None:
    password_hash = hash_password(PASSWORD)
    seeds: list[Seed] = []
    db = Database(database_url)
    try:
        for revision in CHAIN[:-1]:
            await db.migrate(revision)
            written = [row for seed in seeds for row in seed.rows]
            async with db.read() as conn:
                await conn.run_sync(_check_rows, written, revision)
            async with db.write() as conn:
                seeds.append(await conn.run_sync(_seed, revision, password_hash,
                                                 settings.data_dir))
    finally:
        await db.close()

    # Starts on the old database: its start-up migrates to the head. A phone adapter plays
    # the recordings.
    client = await hub(dataclasses.replace(
        settings, channels=ChannelsSettings(enabled=("webform", "phone_cti")),
        phone=PhoneSettings(cti_secret=Secret("cti-secret"))))
    async with client.app[DATABASE].read() as conn:
        await conn.run_sync(_check_rows, [row for seed in seeds for row in seed.rows],
                            CHAIN[-1])
        newest = (await conn.execute(select(func.max(schema.contact_requests.c.number))))\
            .scalar_one()

    first, previous = seeds[0], seeds[-1]
    await log_in(client, previous.agent_login)
    await log_in(client, first.agent_login)
    agents = {a["name"] for a in (await _get(client, "/api/v1/agents"))["agents"]}
    assert {seed.agent_name for seed in seeds} <= agents
    for seed in seeds:
        for channel, request_id in seed.requests.items():
            found = (await _get(client, f"/api/v1/requests/{request_id}"))["request"]
            _check_request(seed, channel, found)
            played = channel is Channel.PHONE and seed in (first, previous)
            for recording in found["recordings"] if played else []:
                if recording["name"] in seed.audio:
                    await _check_audio(client, recording, seed.audio[recording["name"]])
    audit = await _get(client, f"/api/v1/admin/audit?subject=upgrade-{first.revision}")
    assert [(e["action"], e["address"], e["detail"]) for e in audit["entries"]] \
        == [("login", "192.0.2.1", {"how": "password"})]

    created = await client.post("/api/v1/contact-requests", json=order("tok-after-upgrade"))
    assert created.status == 201, await created.text()
    new_reference = (await created.json())["reference"]
    assert int(new_reference[:-1]) == newest + 1

    await asyncio.to_thread(main, ["audit", "verify"])  # exits 1 on a broken chain


async def _check_audio(client: Any, recording: dict[str, Any], audio: bytes | None) -> None:
    """A recording in the data folder is played from there; one elsewhere is not."""
    response = await client.get(recording["audio_url"])
    if audio is None:
        assert response.status == 404, (recording["name"], await response.text())
    else:
        assert response.status == 200, (recording["name"], await response.text())
        assert await response.read() == audio


@pytest.mark.usefixtures("cli_database")
async def test_sqlite_refuses_an_upgrade_that_would_keep_a_dangling_reference(
        database_url: str) -> None:
    """SQLite migrates with foreign keys off (a table rebuild drops the table others refer
    to); the references are checked before the upgrade commits, and a broken one is named."""
    if not database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL alters tables in place, foreign keys on")
    db = Database(database_url)
    try:
        await db.migrate(CHAIN[-2])
    finally:
        await db.close()
    at = START.isoformat()
    with contextlib.closing(sqlite3.connect(make_url(database_url).database or "")) as raw:
        raw.execute("PRAGMA foreign_keys=OFF")  # as a hand edit or an old bug might have
        raw.execute("INSERT INTO messages (id, request_id, channel, direction, body, details, "
                    "created_at) VALUES (?, ?, 'sms', 'inbound', 'x', '{}', ?)",
                    (uuid.uuid4().hex, uuid.uuid4().hex, at))
        raw.commit()

    with pytest.raises(SystemExit) as refused:
        await asyncio.to_thread(main, ["migrate"])
    assert refused.value.code == ("taxiconnect: database migration left a dangling reference "
                                  "in table messages")
    assert (await schema_revision(database_url)).current == CHAIN[-2]  # rolled back whole
