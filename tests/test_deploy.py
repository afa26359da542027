"""docs/operations.md, "Running as a service", followed as far as a test machine allows
(issue 16, item 1): no systemd running, no root, no container tool or registry in CI.

- The unit files pass `systemd-analyze verify`, with the `ExecStart` path pointed at this
  checkout's installation, and without a warning.
- The documented installation, in a temporary folder: the configuration file of step 3, the
  commands of step 5 with the outcomes the section states, then the unit's own `ExecStart`
  command line in the unit's working folder: the hub gets ready, the administrator logs in,
  the backup unit's commands make a backup of it and delete those past the retention, the
  Containerfile's HEALTHCHECK passes against it, and SIGTERM stops it, exit 0, within the
  unit's TimeoutStopSec.
- The Containerfile copies only files the repository has and the build context keeps, and
  runs the unit's command through the package's console script. `.ci/container-check`
  builds and runs the image where a container tool and a registry are at hand.

The files do not depend on the stores: this runs once, on the embedded defaults.
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import free_port
from tests.hub_process import HubProcess, kill_leftovers
from tests.log_scan import PROCESS_LOGS
from tests.services import TEST_DATABASE_URL

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
UNIT = DEPLOY / "taxiconnect.service"
BACKUP_UNIT = DEPLOY / "taxiconnect-backup.service"
UNITS = [UNIT, BACKUP_UNIT, DEPLOY / "taxiconnect-backup.timer"]
BACKUPS = "/var/backups/taxiconnect"  # where the docs keep the nightly backups
KEPT_DAYS = 90  # backups kept (docs/operations.md, Backups and retention)
CONTAINERFILE = DEPLOY / "Containerfile"
JOURNAL = DEPLOY / "journald@taxiconnect.conf"  # the hub's own journal: its log retention
DOCS = REPO / "docs" / "operations.md"
INSTALLED = "/opt/taxiconnect/.venv"  # where the docs install the package
CONFIG = "/etc/taxiconnect/taxiconnect.toml"
# This checkout's installation: the console script beside the interpreter running the tests.
SCRIPT = Path(sys.executable).parent / "taxiconnect"
CLI_S = 60.0  # one command: a cold interpreter importing the hub on a busy 2-core machine
ADMIN_SECRET = "service-admin-pw-1"  # the first administrator's password, fed on stdin

# (the command after `taxiconnect`, its exit status, what its output says): step 5, in order.
STEP_5 = [
    ("migrate --check", 1, "the database has no schema yet"),
    ("migrate", 0, "database schema is up to date"),
    ('user add admin --name "Hub admin" --role admin', 0, ""),
    ("migrate --check", 0, "the database is at the head revision"),
]

pytestmark = pytest.mark.skipif(
    bool(TEST_DATABASE_URL),
    reason="the service files do not depend on the stores: run once, on the embedded defaults")


def _section() -> str:
    text = DOCS.read_text()
    start = text.index("## Running as a service\n")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def _directives(unit: Path) -> dict[str, list[str]]:
    """Every `Key=value` of a unit file, by key, in order."""
    found: dict[str, list[str]] = {}
    for line in unit.read_text().splitlines():
        if "=" in line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def _instructions() -> list[tuple[str, str]]:
    """The Containerfile's instructions, continuation lines joined: (keyword, arguments)."""
    joined = re.sub(r"\\\n", " ", CONTAINERFILE.read_text())
    found = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def _exec_form(instructions: list[tuple[str, str]], keyword: str) -> list[str]:
    [value] = [rest for kw, rest in instructions if kw == keyword]
    if keyword == "HEALTHCHECK":
        value = value[value.index("CMD ") + len("CMD "):]
    parsed = json.loads(value)  # the exec form: no shell between the runtime and the hub
    assert isinstance(parsed, list) and all(isinstance(p, str) for p in parsed)
    return parsed


def _unit_command(config: Path) -> list[str]:
    """The unit's ExecStart, as this machine runs it."""
    [command] = _directives(UNIT)["ExecStart"]
    assert command.startswith(f"{INSTALLED}/bin/taxiconnect --config {CONFIG} "), command
    argv = shlex.split(command)
    return [str(SCRIPT), argv[1], str(config), *argv[3:]]


def test_the_unit_files_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("no systemd-analyze (Debian package systemd)")
    for unit in UNITS:
        ours = unit.read_text().replace(INSTALLED, str(SCRIPT.parent.parent))
        (tmp_path / unit.name).write_text(ours)
    run = subprocess.run([analyze, "verify", *(u.name for u in UNITS)], cwd=tmp_path,
                         capture_output=True, text=True, timeout=CLI_S)
    # verify exits 0 on an unknown key or a bad value too, with a warning naming the file.
    warnings = [line for line in (run.stdout + run.stderr).splitlines() if "taxiconnect" in line]
    assert run.returncode == 0 and not warnings, run.stdout + run.stderr


def test_the_unit_stops_within_the_hubs_graceful_stop() -> None:
    from hub.workers import WORKER_STOP_TIMEOUT_S

    unit = _directives(UNIT)
    assert unit["KillMode"] == ["mixed"] and unit["KillSignal"] == ["SIGTERM"]
    assert float(unit["TimeoutStopSec"][0]) > WORKER_STOP_TIMEOUT_S
    assert unit["User"] == ["taxiconnect"] and unit["NoNewPrivileges"] == ["yes"]
    assert unit["ProtectSystem"] == ["strict"]
    assert unit["ReadWritePaths"] == ["/var/lib/taxiconnect"] == unit["WorkingDirectory"]


def _days(timespan: str) -> float:
    """A systemd time span of one unit ("90day", "3month"), in days (systemd.time(7))."""
    parsed = re.fullmatch(r"(\d+)\s*([a-zA-Z]+)", timespan)
    assert parsed is not None, timespan
    number, unit = parsed.groups()
    per_unit = {"day": 1, "d": 1, "week": 7, "w": 7, "month": 30.44, "M": 30.44,
                "year": 365.25, "y": 365.25}
    return int(number) * per_unit[unit]


def test_the_hubs_log_is_kept_by_its_own_retention() -> None:
    """The units log to a journal namespace whose file sets a retention in the documented
    range (1 day - 36 months), and the documented installation installs that file."""
    namespace = JOURNAL.stem.partition("@")[2]
    for unit in (UNIT, BACKUP_UNIT):
        assert _directives(unit)["LogNamespace"] == [namespace], unit.name
    journal = _directives(JOURNAL)
    assert journal["Storage"] == ["persistent"]
    [retention] = journal["MaxRetentionSec"]
    assert 1 <= _days(retention) <= 36 * 30.44, retention
    assert f"deploy/{JOURNAL.name} /etc/systemd/" in _section()
    assert f"journalctl --namespace={namespace} -u taxiconnect" in DOCS.read_text()


def test_the_containerfile_copies_what_the_repository_has_and_runs_the_units_command() -> None:
    instructions = _instructions()
    ignore = [line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()
              if line.strip() and not line.startswith("#")]
    assert ignore[0] == "*", "the build context is a list of what it keeps"
    kept = {pattern[1:] for pattern in ignore if pattern.startswith("!")}
    copies = [shlex.split(rest) for kw, rest in instructions if kw in ("COPY", "ADD")]
    assert copies
    for *sources, _ in copies:
        for source in sources:
            assert not source.startswith("--"), f"COPY {source}: from another stage or URL"
            assert (REPO / source).exists(), f"COPY {source}: no such file in the repository"
            assert any(fnmatch.fnmatch(source, k) for k in kept), \
                f"COPY {source}: left out of the build context by .dockerignore"
    # The hub's own packages all go in (a missing one fails only at import, in production).
    packages = tomllib.loads((REPO / "pyproject.toml").read_text())
    scripts = packages["project"]["scripts"]
    wanted = {p.rstrip("*") for p in packages["tool"]["setuptools"]["packages"]["find"]["include"]}
    assert wanted <= {s for *sources, _ in copies for s in sources}

    entrypoint = _exec_form(instructions, "ENTRYPOINT")
    assert entrypoint == [f"{INSTALLED}/bin/taxiconnect"] and "taxiconnect" in scripts
    assert any(f"python -m venv {INSTALLED}" in rest for kw, rest in instructions if kw == "RUN")
    # The command the test below starts from the unit: `serve --workers 2`.
    assert _exec_form(instructions, "CMD") == _unit_command(Path(CONFIG))[3:]
    users = [rest for kw, rest in instructions if kw == "USER"]
    assert users and users[-1] not in ("root", "0")
    for kw, rest in instructions:
        if kw in ("ENV", "ARG"):
            assert not re.search(r"SECRET|TOKEN|PASSWORD|_URL", rest, re.I), f"{kw} {rest}"


async def _cli(args: str, config: Path, folder: Path, env: dict[str, str],
               stdin: str = "") -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        str(SCRIPT), "--config", str(config), *shlex.split(args), cwd=folder, env=env,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out, _ = await asyncio.wait_for(process.communicate(stdin.encode()), CLI_S)
    assert process.returncode is not None
    return process.returncode, out.decode(errors="replace")


def _backup_commands(config: Path, backups: Path) -> list[list[str]]:
    """The backup unit's ExecStart and ExecStartPost, as this machine runs them."""
    unit = _directives(BACKUP_UNIT)
    commands = []
    for line in unit["ExecStart"] + unit["ExecStartPost"]:
        for installed, ours in {f"{INSTALLED}/bin/taxiconnect": str(SCRIPT), CONFIG: str(config),
                                BACKUPS: str(backups), "%%": "%"}.items():
            line = line.replace(installed, ours)
        commands.append(shlex.split(line))
    return commands


def _start_unit(config: Path, state: Path, env: dict[str, str], port: int) -> HubProcess:
    """The unit's ExecStart in its WorkingDirectory, as systemd starts it; not waited for."""
    log = state.parent / "serve.log"
    PROCESS_LOGS.append(log)
    with log.open("wb") as out:
        process = subprocess.Popen(_unit_command(config), cwd=state, env=env, stdout=out,
                                   stderr=subprocess.STDOUT)
    return HubProcess(process, port, log, env, count=2)


async def test_the_documented_installation_serves_and_stops(tmp_path: Path) -> None:
    if not SCRIPT.exists():
        pytest.skip(f"no console script beside the interpreter ({SCRIPT})")
    section = _section()
    state = tmp_path / "var-lib-taxiconnect"  # the unit's StateDirectory and WorkingDirectory
    state.mkdir(mode=0o700)
    port = free_port()

    # Step 3: the configuration file as shown, its data folder and port moved here.
    [toml] = re.findall(r"```toml\n(.*?)```", section, re.S)
    toml = re.sub(r"(?m)^ {3}", "", toml)
    for documented, ours in {'data_dir = "/var/lib/taxiconnect/data"': f'data_dir = "{state}/data"',
                             "port = 8080": f"port = {port}"}.items():
        assert documented in toml, f"the documented configuration no longer has {documented!r}"
        toml = toml.replace(documented, ours)
    config = tmp_path / "taxiconnect.toml"
    config.write_text(toml)
    # The secrets file (empty is fine, the docs say): what the unit's EnvironmentFile reads.
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAXICONNECT_")}

    async def step(args: str, status: int, says: str) -> None:
        assert f"taxiconnect {args}\n" in section, f"step 5 no longer runs `taxiconnect {args}`"
        code, out = await _cli(args, config, state, env, stdin=ADMIN_SECRET + "\n")
        assert code == status and says in out, f"taxiconnect {args}: exit {code}\n{out}"

    # Step 5, in order, with the outcomes the section states; the last, which changes
    # nothing, while the hub starts (a second less on the suite's clock).
    for args, status, says in STEP_5[:-1]:
        await step(args, status, says)

    # Step 6: the unit's ExecStart, in its WorkingDirectory.
    hub = _start_unit(config, state, env, port)
    process = hub.process
    try:
        await asyncio.gather(hub.ready(), step(*STEP_5[-1]))
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{hub.base}/readyz") as ready:
                assert ready.status == 200 and (await ready.json())["status"] == "ready"
            async with http.post(f"{hub.base}/api/v1/auth/login",
                                 json={"login": "admin", "password": ADMIN_SECRET}) as login:
                assert login.status == 200, await login.text()
                assert (await login.json())["agent"]["role"] == "admin"

        # The nightly backup, as its unit runs it: a new dated folder with its manifest,
        # and the folders past the retention gone.
        backups = tmp_path / "backups"
        backups.mkdir(mode=0o700)
        expired, recent = backups / "20260101-0315", backups / "20260102-0315"
        for folder, age_days in ((expired, KEPT_DAYS + 1), (recent, KEPT_DAYS - 2)):
            folder.mkdir()
            then = time.time() - age_days * 86400
            os.utime(folder, (then, then))
        for command in _backup_commands(config, backups):
            run = await asyncio.to_thread(subprocess.run, command, cwd=state, env=env,
                                          capture_output=True, text=True, timeout=CLI_S)
            assert run.returncode == 0, run.stdout + run.stderr
        made = sorted(set(backups.iterdir()) - {expired, recent})
        assert [re.fullmatch(r"\d{8}-\d{4}", m.name) is not None for m in made] == [True]
        assert (made[0] / "manifest.json").is_file()
        assert not expired.exists() and recent.exists()

        # The image's HEALTHCHECK, run by this interpreter against this hub.
        check = _exec_form(_instructions(), "HEALTHCHECK")
        assert check[0] == f"{INSTALLED}/bin/python"
        passed = await asyncio.to_thread(
            subprocess.run, [sys.executable, *check[1:]], timeout=CLI_S,
            env={**env, "TAXICONNECT_HTTP_PORT": str(port)}, capture_output=True)
        assert passed.returncode == 0, passed.stderr
        failed = await asyncio.to_thread(
            subprocess.run, [sys.executable, *check[1:]], timeout=CLI_S,
            env={**env, "TAXICONNECT_HTTP_PORT": str(free_port())}, capture_output=True)
        assert failed.returncode != 0, "the health check passes with no hub"

        timeout_s = float(_directives(UNIT)["TimeoutStopSec"][0])
        # The unit's KillSignal, to the parent only (KillMode=mixed).
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(asyncio.to_thread(process.wait), timeout_s)
        assert code == 0, hub.tail()
    finally:
        kill_leftovers([hub], {state / "data"})
