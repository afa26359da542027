"""The load generator: web form POSTs at a fixed rate (open loop) or with a fixed number in
flight (closed loop), run in processes of their own so that its CPU is not the server's.

It speaks just enough HTTP/1.1 over asyncio streams (keep-alive, Content-Length bodies):
a general client would cost several times more CPU per request, on a machine whose other
core is the server's. Latency is counted from the moment a request was due, not from when a
connection became free, so a server that falls behind is not flattered (no coordinated
omission).
"""

from __future__ import annotations

import asyncio
import itertools
import re
import resource
import signal
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnContext, SpawnProcess
from typing import NamedTuple
from urllib.parse import urlencode

from servers import die_with_parent

HOST = "127.0.0.1"
FORM_PATH = "/form"
START_TIMEOUT_S = 30.0  # how long a worker waits for the go, and the bench for "ready"
START_MARGIN_S = 0.5  # between "go" and the first request, for every worker to be waiting
PREOPEN_CONNECTIONS = 16  # opened before the clock starts, so the first requests pay no connect
REFERENCE = re.compile(rb'<strong class="reference">([^<]+)</strong>')
CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)")


class Sample(NamedTuple):
    seq: int
    due: float  # time.monotonic() when the request was due
    sent: float  # when it was written (0: never got a connection)
    done: float  # when the answer, the error or the timeout came
    status: int  # 0: no HTTP answer
    reference: str
    retry_after: bool
    error: str  # "", "timeout" or an exception name


@dataclass(frozen=True, slots=True)
class LoadSpec:
    """One worker's share of a load phase."""

    port: int
    mode: str  # "open" (fixed rate) or "closed" (fixed concurrency)
    seconds: float
    rate: float = 0.0  # all workers together, requests per second
    concurrency: int = 0  # this worker's requests in flight (closed loop)
    worker: int = 0
    workers: int = 1
    first_seq: int = 0  # numbers tokens and phone numbers, unique in the run
    max_requests: int = 1_000_000  # this worker's hard bound
    phone_base: int = 0
    token_prefix: str = "bench"
    max_connections: int = 4000  # enough to push the hub past its 503 threshold
    timeout_s: float = 10.0


class ProtocolError(Exception):
    """An answer this small client does not understand (e.g. a chunked body)."""


Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class Pool:
    """Keep-alive connections to one server, at most `size` at a time."""

    def __init__(self, port: int, size: int) -> None:
        self._port = port
        self._slots = asyncio.Semaphore(size)
        self._idle: list[Stream] = []

    async def preopen(self, count: int) -> None:
        for _ in range(count):
            self._idle.append(await asyncio.open_connection(HOST, self._port))

    async def acquire(self) -> Stream:
        await self._slots.acquire()
        try:
            return self._idle.pop() if self._idle else await asyncio.open_connection(
                HOST, self._port)
        except BaseException:
            self._slots.release()
            raise

    def release(self, stream: Stream, reuse: bool) -> None:
        if reuse:
            self._idle.append(stream)
        else:
            stream[1].close()
        self._slots.release()

    def close(self) -> None:
        for _reader, writer in self._idle:
            writer.close()
        self._idle.clear()


def form_request(spec: LoadSpec, seq: int) -> bytes:
    body = urlencode({
        "name": "Bench Passenger",
        "phone": f"+3584{spec.phone_base + seq:09d}",
        "message": f"Taksi Kamppiin, tilaus {seq}",
        "pickup_address": "Mannerheimintie 1, Helsinki",
        "submission_token": f"{spec.token_prefix}-{seq}",
        "language": "fi",
    }).encode()
    head = (f"POST {FORM_PATH} HTTP/1.1\r\nHost: {HOST}:{spec.port}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


async def exchange(stream: Stream, request: bytes) -> tuple[int, bytes, bool, bool]:
    """Send one request; returns status, body, whether Retry-After came, whether to reuse."""
    reader, writer = stream
    writer.write(request)
    head = (await reader.readuntil(b"\r\n\r\n")).lower()
    length = CONTENT_LENGTH.search(head)
    if length is None:
        raise ProtocolError("an answer without Content-Length")
    body = await reader.readexactly(int(length.group(1)))
    return int(head[9:12]), body, b"\r\nretry-after:" in head, b"connection: close" not in head


async def one_request(pool: Pool, spec: LoadSpec, seq: int, due: float,
                      samples: list[Sample]) -> None:
    stream: Stream | None = None
    sent, status, body, retry_after, reuse, error = 0.0, 0, b"", False, False, ""
    try:
        async with asyncio.timeout(spec.timeout_s - (time.monotonic() - due)):
            stream = await pool.acquire()
            sent = time.monotonic()
            status, body, retry_after, reuse = await exchange(stream, form_request(spec, seq))
    except TimeoutError:
        error = "timeout"
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
            ProtocolError, ValueError) as exc:
        error = type(exc).__name__
    finally:
        if stream is not None:
            pool.release(stream, reuse and not error)
    found = REFERENCE.search(body) if 200 <= status < 300 else None
    reference = found.group(1).decode() if found else ""
    samples.append(Sample(seq, due, sent, time.monotonic(), status, reference, retry_after,
                          error))


async def open_loop(pool: Pool, spec: LoadSpec, start_at: float) -> list[Sample]:
    """Requests due at start + j / rate for this worker's j, sent whatever came back."""
    samples: list[Sample] = []
    tasks: set[asyncio.Task[None]] = set()
    total = int(spec.rate * spec.seconds)
    mine = range(spec.worker, total, spec.workers)[: spec.max_requests]
    for j in mine:
        due = start_at + j / spec.rate
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(one_request(pool, spec, spec.first_seq + j, due, samples))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.wait(tasks, timeout=spec.timeout_s + 1)
    return samples


async def closed_loop(pool: Pool, spec: LoadSpec, start_at: float) -> list[Sample]:
    """`concurrency` users, each sending its next request as soon as the last is answered."""
    samples: list[Sample] = []
    numbers = itertools.islice(itertools.count(), spec.max_requests)
    end = start_at + spec.seconds

    async def user() -> None:
        for j in numbers:
            now = time.monotonic()
            if now >= end:
                return
            await one_request(pool, spec, spec.first_seq + j * spec.workers + spec.worker,
                              now, samples)

    await asyncio.sleep(max(0.0, start_at - time.monotonic()))
    await asyncio.gather(*(user() for _ in range(spec.concurrency)))
    return samples


async def _run(spec: LoadSpec, start_at: float) -> list[Sample]:
    size = spec.concurrency if spec.mode == "closed" else spec.max_connections
    pool = Pool(spec.port, size)
    try:
        await pool.preopen(min(size, PREOPEN_CONNECTIONS))
        if spec.mode == "closed":
            return await closed_loop(pool, spec, start_at)
        return await open_loop(pool, spec, start_at)
    finally:
        pool.close()


def worker_main(conn: Connection, spec: LoadSpec) -> None:
    """Process entry: say ready, wait for the start time, run, send back the samples."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the bench stops us in order
    die_with_parent()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # one descriptor per connection
    conn.send("ready")
    if not conn.poll(START_TIMEOUT_S):
        return
    start_at: float = conn.recv()
    samples = asyncio.run(_run(spec, start_at))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    conn.send((samples, usage.ru_utime + usage.ru_stime))
    conn.close()


def run_workers(ctx: SpawnContext, specs: list[LoadSpec]) -> tuple[list[Sample], float, float]:
    """In the bench: one process per spec, all started on the same clock tick; returns their
    samples, the start time and the CPU seconds they used."""
    started: list[tuple[SpawnProcess, Connection]] = []
    try:
        for spec in specs:
            mine, theirs = ctx.Pipe()
            process = ctx.Process(target=worker_main, args=(theirs, spec), daemon=True)
            process.start()
            theirs.close()
            started.append((process, mine))
        for _process, pipe in started:
            if not pipe.poll(START_TIMEOUT_S):
                raise RuntimeError("a load process did not start")
            pipe.recv()
        start_at = time.monotonic() + START_MARGIN_S
        for _process, pipe in started:
            pipe.send(start_at)
        longest = max(spec.seconds + spec.timeout_s for spec in specs)
        deadline = start_at + longest + 30
        samples: list[Sample] = []
        cpu = 0.0
        for _process, pipe in started:
            if not pipe.poll(max(0.0, deadline - time.monotonic())):
                raise RuntimeError("a load process did not finish in time")
            got, used = pipe.recv()
            samples.extend(got)
            cpu += used
        return samples, start_at, cpu
    finally:
        for process, pipe in started:
            pipe.close()
            process.join(2)
            if process.is_alive():
                process.terminate()
                process.join(5)
