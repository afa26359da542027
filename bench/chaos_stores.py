"""The chaos bench's stores: a private PostgreSQL cluster it may restart (never the machine's
shared one), and what the hub's database holds for each submission.
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import sqlite3
import subprocess
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

START_TIMEOUT_S = 60
RUN_AS = "postgres"  # initdb and postgres refuse to run as root


def pg_binary(name: str) -> str | None:
    """`pg_ctl`, `initdb`: on PATH, or in Debian's /usr/lib/postgresql/<version>/bin."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                        key=lambda p: int(re.findall(r"/(\d+)/bin/", p)[0]))
    return candidates[-1] if candidates else None


@dataclass
class PrivatePostgres:
    """A throwaway cluster on its own port in a temporary folder, trust auth on 127.0.0.1."""

    port: int
    folder: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="tc-chaos-pg-")))
    restarts: int = 0

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *argv: str) -> None:
        command = list(argv)
        if os.geteuid() == 0:
            command = ["runuser", "-u", RUN_AS, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=START_TIMEOUT_S,
                              cwd=self.folder)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}):\n"
                               f"{done.stdout}{done.stderr}")

    def start(self) -> None:
        initdb, pg_ctl = pg_binary("initdb"), pg_binary("pg_ctl")
        if initdb is None or pg_ctl is None:
            raise RuntimeError("initdb / pg_ctl not found (PostgreSQL server not installed)")
        self._pg_ctl = pg_ctl
        if os.geteuid() == 0:
            owner = pwd.getpwnam(RUN_AS)
            os.chown(self.folder, owner.pw_uid, owner.pw_gid)
        self._run(initdb, "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
                  "--no-sync")
        self._run(pg_ctl, "-D", str(self.data), "-l", str(self.folder / "postgres.log"), "-w",
                  "-t", str(START_TIMEOUT_S), "-o", self._options(), "start")

    def _options(self) -> str:
        return (f"-p {self.port} -c listen_addresses=127.0.0.1 "
                f"-c unix_socket_directories={self.folder} -c max_connections=200")

    def restart(self) -> None:
        """`pg_ctl restart -m fast`: every connection is dropped, in-flight transactions are
        rolled back, and the server is back once this returns."""
        self._run(self._pg_ctl, "-D", str(self.data), "-l", str(self.folder / "postgres.log"),
                  "-w", "-t", str(START_TIMEOUT_S), "-m", "fast", "-o", self._options(),
                  "restart")
        self.restarts += 1

    def stop(self) -> None:
        pg_ctl = getattr(self, "_pg_ctl", None)
        if pg_ctl is not None and (self.data / "postmaster.pid").exists():
            try:
                self._run(pg_ctl, "-D", str(self.data), "-m", "immediate", "-w", "stop")
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                print(f"# private PostgreSQL did not stop: {exc}", flush=True)
        shutil.rmtree(self.folder, ignore_errors=True)

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = (self.folder / "postgres.log").read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class Stored:
    """What the database holds for one submission id."""

    messages: int = 0
    references: set[str] = field(default_factory=set)


INBOUND_QUERY = ("SELECT m.body, r.reference FROM messages m "
                 "JOIN contact_requests r ON r.id = m.request_id "
                 "WHERE m.direction = 'inbound' AND m.body LIKE {marker}")


async def stored_by_sid(database_url: str, sqlite_path: Path, run_tag: str) -> dict[str, Stored]:
    """Every inbound message whose text carries one of this run's markers, by submission id:
    how many messages and which requests (references) hold it."""
    marker = re.compile(rf"\b({re.escape(run_tag)}-[a-z]+-\d+)\b")
    if database_url.startswith("postgresql"):
        rows = await _postgres_rows(database_url, run_tag)
    else:
        with sqlite3.connect(f"file:{sqlite_path}?mode=ro", uri=True) as conn:
            rows = conn.execute(INBOUND_QUERY.format(marker="?"), (f"%{run_tag}-%",)).fetchall()
    found: dict[str, Stored] = defaultdict(Stored)
    for body, reference in rows:
        for sid in set(marker.findall(body)):
            found[sid].messages += 1
            found[sid].references.add(reference)
    return dict(found)


async def _postgres_rows(url: str, run_tag: str) -> list[tuple[str, str]]:
    import asyncpg
    from sqlalchemy.engine import make_url

    where = make_url(url)
    conn = await asyncpg.connect(host=where.host, port=where.port, user=where.username,
                                 password=where.password, database=where.database)
    try:
        records = await conn.fetch(INBOUND_QUERY.format(marker="$1"), f"%{run_tag}-%")
    finally:
        await conn.close()
    return [(r["body"], r["reference"]) for r in records]
