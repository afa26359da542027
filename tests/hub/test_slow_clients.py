"""A client that opens connections and sends its request headers slowly, or never, cannot
hold the hub's sockets: each is closed once `http.idle_timeout_s` has passed, by the hub as
an operator starts it (`serve`, and `serve --workers 2`)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from hub.settings import Settings
from tests.conftest import free_port
from tests.hub_process import kill_leftovers, start_hub

# Nothing here touches the stores: the PostgreSQL pass would only repeat it.
pytestmark = pytest.mark.store_independent

IDLE_TIMEOUT_S = 2.0
SOCKETS = 20


async def _held_for(port: int) -> float:
    """Open a connection, send half a request, trickle a header line now and then; return
    how long the hub kept the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.monotonic()
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: hub\r\n")
    await writer.drain()
    try:
        for n in range(60):
            try:
                if await asyncio.wait_for(reader.read(1), 0.5) == b"":
                    break  # closed by the hub
            except TimeoutError:
                writer.write(f"X-Slow-{n}: 1\r\n".encode())
                await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()
    return time.monotonic() - started


@pytest.mark.parametrize("workers", [(), ("--workers", "2")], ids=["one", "workers"])
async def test_slow_header_connections_are_closed(tmp_path: Path, settings: Settings,
                                                  workers: tuple[str, ...]) -> None:
    port = free_port()
    hub = start_hub(settings, tmp_path, port, *workers,
                    env_settings={"TAXICONNECT_HTTP_IDLE_TIMEOUT_S": str(IDLE_TIMEOUT_S)})
    try:
        await hub.ready()
        held = await asyncio.gather(*(_held_for(port) for _ in range(SOCKETS)))
        # Closed at the timeout (with the loop's timer rounding), not after 30 s of trickle.
        assert max(held) < IDLE_TIMEOUT_S + 3, held
        assert await hub.stop() == 0
    finally:
        kill_leftovers([hub], {tmp_path / "data"})
