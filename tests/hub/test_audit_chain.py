"""The audit trail holds up: audited actions over HTTP appear once with actor, target and
address; the admin API pages and filters it and exports it as spreadsheet-safe CSV; team and
external users are refused (and that is audited); `taxiconnect audit verify` finds the chain
intact, a forged or removed row by its id, and accepts a chain whose oldest rows were purged.
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, delete, func, insert, select, update

from hub import audit, schema
from hub.appkeys import DATABASE, KEYS, REDIS
from hub.audit_chain import GENESIS
from hub.clock import utcnow
from hub.database import MIGRATIONS, Database
from hub.model import Role
from hub.purge import Purge
from hub.schema import UtcDateTime
from hub.settings import Settings
from tests.conftest import DispatcherFactory, HubFactory, server_url
from tests.helpers import Dispatcher, http_session, submit

AUDIT = "/api/v1/admin/audit"
ROOT = Path(__file__).resolve().parents[2]


async def _call(who: Dispatcher, method: str, path: str,
                body: dict[str, Any] | None = None) -> tuple[int, Any]:
    async with who.http.request(method, who.base + path, json=body) as resp:
        if resp.content_type == "application/json":
            return resp.status, await resp.json()
        return resp.status, await resp.text()


async def _entries(admin: Dispatcher, query: str = "") -> list[dict[str, Any]]:
    """Every entry the filters choose, following the cursor to the end."""
    found: list[dict[str, Any]] = []
    path: str | None = f"{AUDIT}?{query}"
    while path:
        status, answer = await _call(admin, "GET", path)
        assert status == 200, answer
        found += answer["entries"]
        cursor = answer["next_cursor"]
        path = f"{AUDIT}?{query}&cursor={cursor}" if cursor else None
    return found


async def _verify(database_url: str, tmp_path: Path) -> tuple[int, str]:
    """`taxiconnect audit verify` as an operator runs it, on the test's database."""
    env = {**os.environ, "TAXICONNECT_DATABASE_URL": database_url,
           "TAXICONNECT_DATA_DIR": str(tmp_path / "verify")}
    env.pop("TAXICONNECT_CONFIG", None)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hub.cli", "audit", "verify", cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode()


def _one(entries: list[dict[str, Any]], action: str, **fields: Any) -> dict[str, Any]:
    matching = [e for e in entries if e["action"] == action
                and all(e[k] == v for k, v in fields.items())]
    assert len(matching) == 1, (action, fields, entries)
    return matching[0]


async def test_audited_actions_are_listed_paged_exported_and_verified(
        hub: HubFactory, dispatcher: DispatcherFactory, database_url: str,
        tmp_path: Path) -> None:
    client = await hub()
    base = server_url(client)
    admin = await dispatcher(client, role=Role.ADMIN)
    team = await dispatcher(client, role=Role.TEAM)
    external = await dispatcher(client, role=Role.EXTERNAL)

    # A failed login naming an account that exists, and one naming none: the login tried
    # is kept, the password never.
    async with http_session() as http:
        for login in (team.agent.login, "=cmd|' /C calc'!A0"):
            async with http.post(f"{base}/api/v1/auth/login",
                                 json={"login": login, "password": "wrong horse"}) as resp:
                assert resp.status == 401
    async with http_session() as http:
        receipt = await submit(http, base, uuid.uuid4().hex)
    request_id = receipt["id"]
    status, found = await _call(admin, "GET", "/api/v1/contacts?q=0407654321")
    assert status == 200 and len(found["contacts"]) == 1
    contact_id = found["contacts"][0]["id"]
    assert (await _call(admin, "GET", f"/api/v1/requests/{request_id}"))[0] == 200
    assert (await _call(admin, "GET", f"/api/v1/contacts/{contact_id}"))[0] == 200
    assert (await _call(admin, "GET", f"/api/v1/contacts/{contact_id}/timeline"))[0] == 200
    # An account change; the new name is what a spreadsheet would run as a formula.
    status, _ = await _call(admin, "PATCH", f"/api/v1/admin/agents/{team.agent.id}",
                            {"name": "=SUM(1,1)"})
    assert status == 200
    # Neither a team user nor an external one reads the trail; each refusal is in it.
    for who in (team, external):
        assert (await _call(who, "GET", AUDIT))[0] == 403
        assert (await _call(who, "GET", AUDIT + ".csv"))[0] == 403
    assert (await _call(external, "GET", f"/api/v1/contacts/{contact_id}"))[0] == 403

    entries = await _entries(admin, "limit=3")
    assert len({e["id"] for e in entries}) == len(entries)
    assert [e["id"] for e in entries] == sorted((e["id"] for e in entries), reverse=True)
    assert all(e["address"] == "127.0.0.1" for e in entries if e["action"] != "agent.add")
    me = str(admin.agent.id)
    failed = _one(entries, "login.failed", subject=str(team.agent.id))
    assert failed["detail"]["login"] == team.agent.login and failed["address"] == "127.0.0.1"
    _one(entries, "login.failed", subject=None)
    _one(entries, "read.contact_search", agent_id=me)
    assert (_one(entries, "read.contact_search"))["detail"]["contacts"] == [contact_id]
    _one(entries, "read.request", agent_id=me, subject=request_id)
    _one(entries, "read.contact", agent_id=me, subject=contact_id)
    _one(entries, "read.contact_timeline", agent_id=me, subject=contact_id)
    change = _one(entries, "agent.update", agent_id=me, subject=str(team.agent.id))
    assert change["agent_login"] == admin.agent.login and change["address"] == "127.0.0.1"
    refused = [e for e in entries if e["action"] == "access.refused"]
    assert sorted((e["agent_id"], e["subject"]) for e in refused) == sorted([
        (str(team.agent.id), f"GET {AUDIT}"), (str(team.agent.id), f"GET {AUDIT}.csv"),
        (str(external.agent.id), f"GET {AUDIT}"), (str(external.agent.id), f"GET {AUDIT}.csv"),
        (str(external.agent.id), f"GET /api/v1/contacts/{contact_id}")])
    assert "wrong horse" not in str(entries)

    # Filters: actor, action prefix, subject, dates.
    mine = await _entries(admin, f"agent={me}&action=read.&limit=2")
    assert mine and all(e["agent_id"] == me and e["action"].startswith("read.") for e in mine)
    about = await _entries(admin, f"subject={contact_id}")
    assert sorted(e["action"] for e in about) == ["read.contact", "read.contact_timeline"]
    newest = entries[0]["at"]
    assert await _entries(admin, f"from={newest.replace('+', '%2B')}&action=login") == []
    assert (await _call(admin, "GET", AUDIT + "?from=yesterday"))[0] == 400
    assert (await _call(admin, "GET", AUDIT + "?subject=a%00b"))[0] == 400
    status, answer = await _call(admin, "GET", f"{AUDIT}?limit=1")
    status, answer = await _call(admin, "GET",
                                 f"{AUDIT}?limit=1&action=read.&cursor={answer['next_cursor']}")
    assert status == 400 and "other filters" in answer["error"]

    # CSV: the same entries, a would-be formula neutralised.
    status, text = await _call(admin, "GET", AUDIT + ".csv?action=login.failed")
    assert status == 200
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 2
    tried = sorted(row["detail"] for row in rows)
    assert any("=cmd|" in detail for detail in tried)
    cells = [cell for row in rows for cell in row.values()]
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in cells)
    status, text = await _call(admin, "GET", f"{AUDIT}.csv?agent={team.agent.id}&action=access.")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {row["action"] for row in rows} == {"access.refused"}
    assert {row["agent_name"] for row in rows} == {"'=SUM(1,1)"}
    status, text = await _call(admin, "GET", AUDIT + ".csv")
    assert status == 200
    all_rows = list(csv.DictReader(io.StringIO(text)))
    assert {row["id"] for row in all_rows} >= {str(e["id"]) for e in entries}
    assert any(row["action"] == "read.audit" and row["detail"].startswith("{")
               for row in all_rows)

    code, out = await _verify(database_url, tmp_path)
    assert code == 0 and "chain intact" in out, out
    async with client.app[DATABASE].read() as conn:
        head = (await conn.execute(select(schema.audit_log.c.id, schema.audit_log.c.hash)
                                   .order_by(schema.audit_log.c.id.desc()).limit(1))).one()
    assert f"head: entry {head.id} {head.hash}" in out

    # A forged entry: a plain UPDATE, as someone with database access would do it.
    async with client.app[DATABASE].write() as conn:
        await conn.execute(update(schema.audit_log).where(
            schema.audit_log.c.id == failed["id"]).values(detail={"login": "someone"}))
    code, out = await _verify(database_url, tmp_path)
    assert code != 0 and f"entry {failed['id']}" in out, out


async def test_a_guesser_hammering_through_a_wait_is_recorded_once_per_wait(
        hub: HubFactory, dispatcher: DispatcherFactory) -> None:
    """Every wrong password is an entry; the refusals while the guesser must wait are one
    entry per wait, so a flood of tries cannot flood the trail (or the database)."""
    client = await hub()
    base = server_url(client)
    admin = await dispatcher(client, role=Role.ADMIN)
    statuses = []
    async with http_session() as http:
        for _ in range(5 + 10):  # the allowance of one login from one address, then more
            async with http.post(f"{base}/api/v1/auth/login",
                                 json={"login": "ville", "password": "guess"}) as resp:
                statuses.append(resp.status)
    assert statuses[:5] == [401] * 5 and statuses.count(429) >= 5, statuses
    entries = await _entries(admin, "action=login.failed")
    reasons = [e["detail"]["reason"] for e in entries if e["detail"]["login"] == "ville"]
    assert reasons.count("wrong") == statuses.count(401)
    assert 1 <= reasons.count("throttled") <= 2, reasons


async def test_a_purged_start_verifies_and_rows_deleted_by_hand_do_not(
        hub: HubFactory, settings: Settings, database_url: str, tmp_path: Path) -> None:
    client: TestClient[Any, Any] = await hub()
    db = client.app[DATABASE]

    async def steps(count: int) -> list[int]:
        ids = []
        for n in range(count):
            async with db.write() as conn:
                ids.append(await audit.record(conn, "test.step", agent_id=None,
                                              detail={"n": n}))
        return ids

    old = await steps(3)
    await asyncio.sleep(0.01)
    boundary = utcnow()
    kept = await steps(4)
    # The purge, at the moment the old entries pass their retention, removes them from the
    # start of the chain and names the start it left: what is kept still verifies.
    purge = Purge(db, client.app[REDIS].client, client.app[KEYS], settings.retention,
                  settings.data_dir)
    report = await purge.run(boundary + timedelta(days=settings.retention.audit_days))
    assert report is not None and report.counts()["audit"] == len(old)
    code, out = await _verify(database_url, tmp_path)
    assert code == 0 and f"starting at entry {kept[0]}" in out, out
    # One deleted from the middle is found at the entry after it.
    async with db.write() as conn:
        await conn.execute(delete(schema.audit_log).where(schema.audit_log.c.id == kept[2]))
    code, out = await _verify(database_url, tmp_path)
    assert code != 0 and f"chain broken at entry {kept[3]}" in out, out
    # The oldest kept entry deleted by hand: the start is no purge's.
    async with db.write() as conn:
        await conn.execute(delete(schema.audit_log).where(schema.audit_log.c.id == kept[0]))
    code, out = await _verify(database_url, tmp_path)
    assert code != 0 and f"chain broken at entry {kept[1]}" in out, out


async def test_processes_appending_at_once_keep_one_chain(database_url: str,
                                                          tmp_path: Path) -> None:
    """Two databases (as two hub processes would hold), forty appends racing."""
    first, second = Database(database_url), Database(database_url)
    try:
        await first.migrate()

        async def append(db: Database, n: int) -> None:
            async with db.write() as conn:
                await audit.record(conn, "test.race", agent_id=None, detail={"n": n})

        await asyncio.gather(*(append(first if n % 2 else second, n) for n in range(40)))
        async with first.read() as conn:
            count = (await conn.execute(select(func.count()).select_from(
                schema.audit_log))).scalar_one()
    finally:
        await first.close()
        await second.close()
    assert count == 40
    code, out = await _verify(database_url, tmp_path)
    assert code == 0 and "40 entries, chain intact" in out, out


def _upgrade_to(conn: Connection, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = conn
    command.upgrade(config, revision)


@pytest.mark.empty_database
async def test_entries_from_before_the_chain_are_chained_by_the_migration(
        database_url: str, tmp_path: Path) -> None:
    """0012: rows written by older versions are chained in id order, a login's `remote`
    moves to the address column, and verify passes on the upgraded database."""
    db = Database(database_url)
    log = sa.table("audit_log", sa.column("at", UtcDateTime()), sa.column("agent_id", sa.Uuid()),
                   sa.column("action", sa.String()), sa.column("subject", sa.String()),
                   sa.column("detail", sa.JSON()))
    at = datetime(2026, 6, 1, 8, 0, 0, 123456, tzinfo=UTC)
    try:
        async with db.write() as conn:
            await conn.run_sync(_upgrade_to, "0011")
            await conn.execute(insert(log), [
                {"at": at, "agent_id": None, "action": "login.failed", "subject": None,
                 "detail": {"remote": "192.0.2.7", "login": "ville"}},
                {"at": at + timedelta(seconds=1), "agent_id": None, "action": "retention.purge",
                 "subject": None, "detail": {"as_of": at.isoformat(), "audit": 0}},
                {"at": at + timedelta(seconds=2), "agent_id": None, "action": "lane.add",
                 "subject": "airport", "detail": {}}])
        await db.migrate()
        async with db.read() as conn:
            rows = (await conn.execute(select(schema.audit_log)
                                       .order_by(schema.audit_log.c.id))).all()
    finally:
        await db.close()
    assert (rows[0].action, rows[0].address, rows[0].detail) == (
        "login.failed", "192.0.2.7", {"login": "ville"})
    assert rows[0].prev_hash == GENESIS
    assert [r.prev_hash for r in rows[1:]] == [r.hash for r in rows[:-1]]
    code, out = await _verify(database_url, tmp_path)
    assert code == 0 and "3 entries, chain intact" in out, out


async def test_a_request_reloaded_by_one_dispatcher_is_one_read_in_the_trail(
        hub: HubFactory, dispatcher: DispatcherFactory) -> None:
    """The console reloads the open request on each of its events: one dispatcher's reloads
    are one entry a while, another dispatcher's read is an entry of its own."""
    client = await hub()
    admin = await dispatcher(client, role=Role.ADMIN)
    anna, ben = await dispatcher(client), await dispatcher(client)
    receipt = await submit(anna.http, anna.base, "tok-audit-reloads-01")
    for _ in range(3):
        await anna.request(receipt["id"])
    await ben.request(receipt["id"])
    reads = [e for e in await _entries(admin, "action=read.request")
             if e["subject"] == receipt["id"]]
    assert sorted(e["agent_id"] for e in reads) == sorted([str(anna.agent.id),
                                                          str(ben.agent.id)]), reads
