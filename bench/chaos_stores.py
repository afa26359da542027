"""The chaos bench's stores: a private PostgreSQL cluster it may restart or cut the hub's
connections to (never the machine's shared one), and what the hub's database holds for each
submission.
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
DATABASE = "postgres"  # the private cluster's, the hub's


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
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{DATABASE}"

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

    async def drop_connections(self) -> int:
        """Terminate every client connection to the hub's database but the bench's own, as
        a failover, a proxy or an administrator would: how many were cut."""
        import asyncpg

        conn = await asyncpg.connect(host="127.0.0.1", port=self.port, user="postgres",
                                     database=DATABASE)
        try:
            cut: int = await conn.fetchval(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) "
                "FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() "
                "AND backend_type = 'client backend'", DATABASE)
        finally:
            await conn.close()
        return cut

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
    missing: str = ""  # a call: what its acknowledged hang-up should have left and did not


# A message is found by the marker in its text or its idempotency key (a call's carries the
# callId, its text none).
INBOUND_QUERY = ("SELECT m.body, m.idempotency_key, r.reference FROM messages m "
                 "JOIN contact_requests r ON r.id = m.request_id "
                 "WHERE m.direction = 'inbound' "
                 "AND (m.body LIKE {marker} OR m.idempotency_key LIKE {marker})")
CALLS_QUERY = ("SELECT c.call_key, c.state, r.reference, r.callback FROM calls c "
               "JOIN contact_requests r ON r.id = c.request_id "
               "WHERE c.provider = 'cti' AND c.call_key LIKE {marker}")
ENDED, CALLBACK_REQUESTED = "ended", "requested"  # hub.call_events, hub.model


async def stored_by_sid(database_url: str, sqlite_path: Path, run_tag: str) -> dict[str, Stored]:
    """Every inbound message carrying one of this run's markers, by submission id: how
    many messages and which requests (references) hold it; for a call, also whether it
    ended as a missed call whose request waits for a callback."""
    marker = re.compile(rf"\b({re.escape(run_tag)}-[a-z]+-\d+)\b")
    like = f"%{run_tag}-%"
    if database_url.startswith("postgresql"):
        rows, calls = await _postgres_rows(database_url, like)
    else:
        with sqlite3.connect(f"file:{sqlite_path}?mode=ro", uri=True) as conn:
            rows = conn.execute(INBOUND_QUERY.format(marker="?"), (like, like)).fetchall()
            calls = conn.execute(CALLS_QUERY.format(marker="?"), (like,)).fetchall()
    found: dict[str, Stored] = defaultdict(Stored)
    for body, key, reference in rows:
        for sid in set(marker.findall(f"{body}\n{key or ''}")):
            found[sid].messages += 1
            found[sid].references.add(reference)
    for call_key, state, reference, callback in calls:
        stored = found[call_key]
        if state != ENDED:
            stored.missing = f"call {state}, not ended"
        elif callback != CALLBACK_REQUESTED:
            stored.missing = f"request {reference} not a callback request ({callback})"
    return dict(found)


async def _postgres_rows(url: str, like: str) -> tuple[list[tuple[str, str | None, str]],
                                                      list[tuple[str, str, str, str | None]]]:
    import asyncpg
    from sqlalchemy.engine import make_url

    where = make_url(url)
    conn = await asyncpg.connect(host=where.host, port=where.port, user=where.username,
                                 password=where.password, database=where.database)
    try:
        records = await conn.fetch(INBOUND_QUERY.format(marker="$1"), like)
        calls = await conn.fetch(CALLS_QUERY.format(marker="$1"), like)
    finally:
        await conn.close()
    return ([(r["body"], r["idempotency_key"], r["reference"]) for r in records],
            [(c["call_key"], c["state"], c["reference"], c["callback"]) for c in calls])
