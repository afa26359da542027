"""How long the disk takes to make a write durable, measured where the hub keeps its data:
on the embedded defaults every commit waits for one fsync (SQLite in WAL mode with
synchronous=FULL, so that an acknowledged contact survives a power cut too), so the disk's
fsync time is the floor under every POST's latency, and its tail shows in POST p99."""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

WRITE = b"\0" * 4096  # about what one small commit appends to the WAL
SAMPLES = 200


def fsync_ms(folder: Path, samples: int = SAMPLES) -> dict[str, float]:
    """p50, p99 and max of `samples` fsyncs of a 4 KiB append in `folder`, in ms."""
    took: list[float] = []
    handle, name = tempfile.mkstemp(prefix="fsync-", dir=folder)
    try:
        for _ in range(samples):
            os.write(handle, WRITE)
            began = time.perf_counter()
            os.fsync(handle)
            took.append((time.perf_counter() - began) * 1000)
    finally:
        os.close(handle)
        os.unlink(name)
    cuts = statistics.quantiles(took, n=100, method="inclusive")
    return {"p50": round(cuts[49], 2), "p99": round(cuts[98], 2), "max": round(max(took), 2)}
