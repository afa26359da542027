"""`taxiconnect migrate --check` through the command line's main(), and `taxiconnect migrate`
run by two processes at once, on the test database (SQLite, or PostgreSQL by
TEST_DATABASE_URL).

A fresh database and one at an older revision fail the check with one line naming the
revisions; a migrated one passes; the check changes nothing (the database stays behind, and
a SQLite file that was not there is not created).
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text

from hub.cli import main
from hub.database import MIGRATIONS, Database
from hub.migrate_check import schema_revision

pytestmark = pytest.mark.empty_database  # the migrations run on it from nothing

REPO = Path(__file__).resolve().parents[2]
MIGRATE_TIMEOUT_S = 60


@pytest.fixture
def cli_env(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The command line's world: this test's database, a data folder of its own, no config
    file found by accident, and the process umask given back (main() sets its own)."""
    for name in [n for n in os.environ if n.startswith("TAXICONNECT_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("TAXICONNECT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TAXICONNECT_DATABASE_URL", database_url)
    monkeypatch.chdir(tmp_path)
    umask = os.umask(0o022)
    os.umask(umask)
    yield
    os.umask(umask)


def _check(capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """Run `taxiconnect migrate --check`: its exit code and everything it printed."""
    try:
        main(["migrate", "--check"])
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
        if isinstance(exc.code, str):
            print(exc.code, file=sys.stderr)
    out = capsys.readouterr()
    return code, (out.out + out.err).strip()


def _revisions() -> tuple[str, str]:
    """The head revision and the one before it."""
    head = ScriptDirectory(str(MIGRATIONS)).get_revision("head")
    assert head is not None and isinstance(head.down_revision, str)
    return head.revision, head.down_revision


@pytest.mark.usefixtures("cli_env")
def test_check_fails_on_a_fresh_database_and_passes_once_migrated(
        tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    head, _ = _revisions()
    code, said = _check(capsys)
    assert code != 0
    assert said.splitlines() == [
        f"taxiconnect: the database has no schema yet (head is {head}): "
        "run `taxiconnect migrate`"]
    assert not (tmp_path / "data").exists()  # the check created no SQLite file (nor folder)
    code, _ = _check(capsys)
    assert code != 0  # and no schema: it is still behind

    main(["migrate"])
    assert capsys.readouterr().out.strip() == "database schema is up to date"
    assert _check(capsys) == (0, f"the database is at the head revision {head}")


@pytest.mark.usefixtures("cli_env")
async def test_check_names_both_revisions_when_the_database_is_behind(
        database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    head, previous = _revisions()
    db = Database(database_url)
    try:
        await db.migrate(previous)
    finally:
        await db.close()

    code, said = await asyncio.to_thread(_check, capsys)
    assert code != 0
    assert said.splitlines() == [
        f"taxiconnect: the database is at revision {previous}, behind the head revision "
        f"{head}: back it up, then run `taxiconnect migrate`"]
    assert (await schema_revision(database_url)).current == previous  # nothing changed


@pytest.mark.usefixtures("cli_env")
async def test_a_database_from_a_newer_version_is_named_and_left_alone(
        database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """After the software was rolled back without restoring the backup: the check says so,
    and `migrate` refuses with one line instead of a traceback."""
    head, _ = _revisions()
    db = Database(database_url)
    try:
        await db.migrate()
        async with db.write() as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    finally:
        await db.close()

    code, said = await asyncio.to_thread(_check, capsys)
    assert code != 0
    assert said.splitlines() == [
        f"taxiconnect: the database is at revision 9999, which this version does not know "
        f"(its head is {head}): was it migrated by a newer TaxiConnect?"]
    with pytest.raises(SystemExit) as refused:
        await asyncio.to_thread(main, ["migrate"])
    assert str(refused.value.code).startswith("taxiconnect: database migration failed on ")
    assert "9999" in str(refused.value.code) and "\n" not in str(refused.value.code)
    assert (await schema_revision(database_url)).current == "9999"


async def test_two_processes_migrating_at_once_both_succeed(
        tmp_path: Path, database_url: str) -> None:
    """Two hub processes started together on a new database (`--workers`, or two machines):
    both migrate, one waits for the other (PostgreSQL's advisory lock, SQLite's write lock),
    and the schema ends at the head once."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAXICONNECT_")}
    env |= {"TAXICONNECT_DATABASE_URL": database_url,
            "TAXICONNECT_DATA_DIR": str(tmp_path / "data")}

    async def migrate() -> tuple[int | None, bytes]:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "hub.cli", "migrate", cwd=REPO, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        out, _ = await asyncio.wait_for(process.communicate(), MIGRATE_TIMEOUT_S)
        return process.returncode, out

    results = await asyncio.gather(migrate(), migrate())
    for code, out in results:
        assert (code, out.decode().strip()) == (0, "database schema is up to date"), out
    found = await schema_revision(database_url)
    assert (found.at_head, found.current) == (True, _revisions()[0])
