"""A throwaway 3-master Redis Cluster for tests, started with the machine's `redis-server`.

`LocalCluster` starts three `redis-server --cluster-enabled yes` processes on free loopback
ports, each in a temporary directory of its own (no persistence), joins them with
`redis-cli --cluster create ... --cluster-replicas 0 --cluster-yes`, waits until every node
reports `cluster_state:ok`, and stops them again. Its `url` is the hub's cluster URL
(`redis+cluster://127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3`).
"""

from __future__ import annotations

import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

HOST = "127.0.0.1"
MASTERS = 3
CLUSTER_BUS_OFFSET = 10_000  # Redis's cluster bus listens on the client port + 10000
# Below Linux's ephemeral range (32768-60999), bus ports (+10000) included: an outgoing
# connection could take a port probed free before redis-server binds it.
PORT_RANGE = (10_000, 22_000)
PORT_TRIES = 200
START_TIMEOUT_S = 30.0


def find_redis() -> tuple[str, str] | None:
    """Paths of `redis-server` and `redis-cli`, or None when either is missing."""
    server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    return (server, cli) if server and cli else None


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
        return True


def free_cluster_port(taken: set[int]) -> int:
    """A port free now whose cluster bus port is free too (random, so that two xdist workers
    starting clusters at the same moment rarely pick the same one)."""
    for _ in range(PORT_TRIES):
        port = random.randint(*PORT_RANGE)
        if port in taken or port + CLUSTER_BUS_OFFSET in taken:
            continue
        if _free(port) and _free(port + CLUSTER_BUS_OFFSET):
            return port
    raise RuntimeError("no free port pair for a Redis Cluster node")


class LocalCluster:
    """Three cluster-enabled redis-server masters on loopback; a context manager."""

    def __init__(self) -> None:
        found = find_redis()
        if found is None:
            raise RuntimeError("redis-server / redis-cli not installed (apt-get install "
                               "redis-server)")
        self._server, self._cli = found
        self.dir = Path(tempfile.mkdtemp(prefix="tc-cluster-"))
        taken: set[int] = set()
        self.ports: list[int] = []
        for _ in range(MASTERS):
            port = free_cluster_port(taken)
            taken.update((port, port + CLUSTER_BUS_OFFSET))
            self.ports.append(port)
        self._procs: list[subprocess.Popen[bytes]] = []
        self.startup_s = 0.0

    def __repr__(self) -> str:
        running = sum(1 for p in self._procs if p.poll() is None)
        return f"LocalCluster(ports={self.ports}, running={running}, dir={str(self.dir)!r})"

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"{HOST}:{port}" for port in self.ports)

    @property
    def node_urls(self) -> list[str]:
        return [f"redis://{HOST}:{port}" for port in self.ports]

    def start(self) -> LocalCluster:
        started = time.monotonic()
        deadline = started + START_TIMEOUT_S
        try:
            for port in self.ports:
                self._procs.append(self._start_node(port))
            for port in self.ports:
                self._wait(deadline, port, lambda p: self._cli_out(p, "ping") == "PONG",
                           "answer PING")
            create = subprocess.run(
                [self._cli, "--cluster", "create", *(f"{HOST}:{p}" for p in self.ports),
                 "--cluster-replicas", "0", "--cluster-yes"],
                capture_output=True, text=True, timeout=START_TIMEOUT_S, check=False)
            if create.returncode != 0:
                raise RuntimeError(f"redis-cli --cluster create failed:\n{create.stdout}"
                                   f"{create.stderr}")
            for port in self.ports:
                self._wait(deadline, port, self._cluster_ok, "reach cluster_state:ok")
        except BaseException:
            self.stop()  # orphaned servers would keep the ports and the directory
            raise
        self.startup_s = time.monotonic() - started
        return self

    def stop(self) -> None:
        procs, self._procs = self._procs, []
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        shutil.rmtree(self.dir, ignore_errors=True)

    def _start_node(self, port: int) -> subprocess.Popen[bytes]:
        node_dir = self.dir / str(port)
        node_dir.mkdir()
        with open(node_dir / "stdout.log", "wb") as out:
            return subprocess.Popen(
                [self._server, "--port", str(port), "--bind", HOST,
                 "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                 "--cluster-node-timeout", "5000", "--dir", str(node_dir),
                 "--save", "", "--appendonly", "no", "--protected-mode", "no"],
                stdout=out, stderr=subprocess.STDOUT, cwd=node_dir)

    def _cli_out(self, port: int, *command: str) -> str:
        done = subprocess.run([self._cli, "-h", HOST, "-p", str(port), *command],
                              capture_output=True, text=True, timeout=5, check=False)
        return done.stdout.strip()

    def _cluster_ok(self, port: int) -> bool:
        info = self._cli_out(port, "cluster", "info")
        return "cluster_state:ok" in info and f"cluster_known_nodes:{MASTERS}" in info

    def _wait(self, deadline: float, port: int, ready: Callable[[int], bool],
              what: str) -> None:
        while not ready(port):
            for proc in self._procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"redis-server exited ({proc.returncode}):\n"
                                       f"{self._logs()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"Redis Cluster node {port} did not {what}:\n{self._logs()}")
            time.sleep(0.05)

    def _logs(self) -> str:
        return "".join(
            (self.dir / str(port) / "stdout.log").read_text(errors="replace")
            for port in self.ports if (self.dir / str(port) / "stdout.log").exists())


SENTINEL_SERVICE = "tc-master"
SENTINEL_CONF = """\
port {port}
bind {host}
dir {dir}
sentinel monitor {service} {host} {master_port} 1
sentinel down-after-milliseconds {service} 1000
sentinel failover-timeout {service} 5000
sentinel known-replica {service} {host} {replica_port}
"""


class LocalSentinel:
    """A master, one replica and one Sentinel watching them, on free loopback ports; a
    context manager. Its `url` is the hub's Sentinel URL; `failover()` swaps the roles."""

    def __init__(self) -> None:
        found = find_redis()
        if found is None:
            raise RuntimeError("redis-server / redis-cli not installed (apt-get install "
                               "redis-server)")
        self._server, self._cli = found
        self.dir = Path(tempfile.mkdtemp(prefix="tc-sentinel-"))
        taken: set[int] = set()
        self.master_port, self.replica_port, self.sentinel_port = (
            self._port(taken) for _ in range(3))
        self._procs: list[subprocess.Popen[bytes]] = []

    def __repr__(self) -> str:
        return (f"LocalSentinel(master={self.master_port}, replica={self.replica_port}, "
                f"sentinel={self.sentinel_port}, dir={str(self.dir)!r})")

    def __enter__(self) -> LocalSentinel:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"redis+sentinel://{HOST}:{self.sentinel_port}/{SENTINEL_SERVICE}/0"

    def start(self) -> LocalSentinel:
        deadline = time.monotonic() + START_TIMEOUT_S
        try:
            self._procs.append(self._run("master", "--port", str(self.master_port)))
            self._procs.append(self._run("replica", "--port", str(self.replica_port),
                                         "--replicaof", HOST, str(self.master_port)))
            conf = self.dir / "sentinel.conf"
            conf.write_text(SENTINEL_CONF.format(
                port=self.sentinel_port, host=HOST, dir=self.dir, service=SENTINEL_SERVICE,
                master_port=self.master_port, replica_port=self.replica_port))
            self._procs.append(self._run("sentinel", str(conf), "--sentinel", conf=False))
            self._wait(deadline, lambda: self.replica_synced(self.master_port),
                       "see its replica in sync")
            self._wait(deadline, self._sentinel_ready, "have its Sentinel see both servers")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        procs, self._procs = self._procs, []
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        shutil.rmtree(self.dir, ignore_errors=True)

    def master(self) -> int:
        """The port of the master the Sentinel names now."""
        answer = self._cli_out(self.sentinel_port, "sentinel", "get-master-addr-by-name",
                               SENTINEL_SERVICE).split()
        return int(answer[-1])

    def replica_synced(self, master_port: int) -> bool:
        info = self._cli_out(master_port, "info", "replication")
        return "role:master" in info and "connected_slaves:1" in info and "state=online" in info

    def failover(self) -> int:
        """Promote the replica by the Sentinel, wait until the old master follows it;
        returns the new master's port."""
        old = self.master()
        deadline = time.monotonic() + START_TIMEOUT_S
        # NOGOODSLAVE until the Sentinel has polled the replica itself (every second or so
        # at first): ask again until it agrees.
        self._wait(deadline, lambda: self._cli_out(
            self.sentinel_port, "sentinel", "failover", SENTINEL_SERVICE) == "OK",
            "accept SENTINEL FAILOVER")
        self._wait(deadline, lambda: self.master() != old, "fail over")
        new = self.master()
        # What the Sentinel does to the old master on its next look, up to 10 s later: until
        # then the old master accepts writes from clients still connected to it.
        self._cli_out(old, "replicaof", HOST, str(new))
        self._wait(deadline, lambda: self.replica_synced(new), "resync after the failover")
        return new

    def _sentinel_ready(self) -> bool:
        """The Sentinel finds the master up (as clients ask it: flags exactly "master") and
        knows the replica; before that, clients hear "No master found"."""
        fields = self._cli_out(self.sentinel_port, "sentinel", "master",
                               SENTINEL_SERVICE).splitlines()
        master = dict(zip(fields[::2], fields[1::2], strict=False))
        replicas = self._cli_out(self.sentinel_port, "sentinel", "replicas", SENTINEL_SERVICE)
        return master.get("flags") == "master" and str(self.replica_port) in replicas

    def _port(self, taken: set[int]) -> int:
        port = free_cluster_port(taken)
        taken.add(port)
        return port

    def _run(self, name: str, *args: str, conf: bool = True) -> subprocess.Popen[bytes]:
        # No 5 s wait for more replicas before a full sync (Redis 7's diskless default).
        extra = ["--bind", HOST, "--dir", str(self.dir), "--save", "", "--appendonly", "no",
                 "--dbfilename", f"{name}.rdb", "--repl-diskless-sync-delay", "0"] if conf else []
        with open(self.dir / f"{name}.log", "wb") as out:
            return subprocess.Popen([self._server, *args, *extra], stdout=out,
                                    stderr=subprocess.STDOUT, cwd=self.dir)

    def _cli_out(self, port: int, *command: str) -> str:
        done = subprocess.run([self._cli, "-h", HOST, "-p", str(port), *command],
                              capture_output=True, text=True, timeout=5, check=False)
        return done.stdout.strip()

    def _wait(self, deadline: float, ready: Callable[[], bool], what: str) -> None:
        while not ready():
            for proc in self._procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"a redis-server exited ({proc.returncode}):\n"
                                       f"{self._logs()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"Redis Sentinel setup did not {what}:\n{self._logs()}")
            time.sleep(0.05)

    def _logs(self) -> str:
        return "".join(path.read_text(errors="replace") for path in sorted(self.dir.glob("*.log")))
