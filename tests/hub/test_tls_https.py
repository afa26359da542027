"""The hub serves HTTPS itself when given a certificate (issue 14, item 7): `serve` and
`serve --workers N` started as an operator starts them, with a certificate made on the fly
by a CA only the test trusts. Answers carry HSTS, the session cookie is Secure, plain HTTP
gets nothing, and a certificate that cannot be read stops the start-up with one line.

The listener does not depend on the stores, and a hub process takes seconds to start: each
serve path runs in one setup only (`serve` in the embedded one, `--workers` with
PostgreSQL)."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from hub.demo import DEMO_LOGIN, DEMO_PASSWORD
from hub.settings import Settings
from tests.conftest import free_port
from tests.helpers import eventually, http_session
from tests.hub_process import START_S, HubProcess, hub_env, kill_leftovers, worker_of
from tests.services import TEST_DATABASE_URL
from tests.tls_certs import Certificates, make_certificates, openssl_available

pytestmark = pytest.mark.skipif(not openssl_available(), reason="no openssl command")

HSTS = "max-age=31536000"


@pytest.fixture
def certificates(tmp_path: Path) -> Certificates:
    return make_certificates(tmp_path / "certs")


def _start(settings: Settings, folder: Path, certs: Certificates, command: str,
           workers: int) -> HubProcess:
    port = free_port()
    env = {**hub_env(settings, folder / "data", port),
           "TAXICONNECT_HTTP_TLS_CERT": str(certs.cert),
           "TAXICONNECT_HTTP_TLS_KEY": str(certs.key)}
    log = folder / f"hub-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "hub.cli", command, "--workers", str(workers)],
            cwd=folder, env=env, stdout=out, stderr=subprocess.STDOUT)
    return HubProcess(process, port, log, env, workers)


@contextlib.asynccontextmanager
async def https_hub(settings: Settings, folder: Path, certs: Certificates, command: str,
                    workers: int = 1) -> AsyncIterator[HubProcess]:
    """`taxiconnect COMMAND [--workers N]` with the certificate, ready over HTTPS."""
    hub = _start(settings, folder, certs, command, workers)
    try:
        async def ready() -> bool | None:
            if hub.process.poll() is not None:
                raise AssertionError(f"the hub exited:\n{hub.tail()}")
            status, _, _ = await _get(hub.port, certs.client_context(), "/readyz")
            return True if status == 200 else None

        await eventually(ready, START_S, "the hub ready over HTTPS")
        yield hub
        assert await hub.stop() == 0, hub.tail()
    finally:
        kill_leftovers([hub], {folder / "data"})


async def _get(port: int, tls: ssl.SSLContext, path: str,
               hub: HubProcess | None = None) -> tuple[int | None, dict[str, str], int | None]:
    """One request on a connection of its own: the status (None: no answer), the headers,
    and (given the hub) the pid of the worker that answered."""
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=tls,
                                                       server_hostname="localhost")
    except (OSError, ssl.SSLError):
        return None, {}, None
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
        # A worker still starting holds the connection in its backlog until it serves.
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), START_S)
        # Asked while the connection is still open: the worker holding its other end.
        worker = None if hub is None else worker_of(
            hub.workers(), port, writer.get_extra_info("sockname")[:2])
    except (OSError, ssl.SSLError, TimeoutError, asyncio.IncompleteReadError):
        return None, {}, None
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), headers, worker


@pytest.mark.skipif(bool(TEST_DATABASE_URL), reason="the listener does not depend on the "
                    "stores: the single-process case runs once, in the embedded setup")
async def test_serve_answers_over_https_with_hsts(
    tmp_path: Path, settings: Settings, certificates: Certificates
) -> None:
    async with https_hub(settings, tmp_path, certificates, "serve") as hub:
        connector = aiohttp.TCPConnector(ssl=certificates.client_context())
        async with http_session(connector=connector) as http, \
                http.get(f"https://localhost:{hub.port}/healthz") as health:
            assert health.status == 200
            assert health.headers["Strict-Transport-Security"] == HSTS
        async with http_session() as plain:
            with pytest.raises(aiohttp.ClientError):
                await plain.get(f"http://127.0.0.1:{hub.port}/healthz")
        # A client that does not know the test's CA is refused the handshake: the hub
        # presents the certificate it was given, nothing else.
        assert (await _get(hub.port, ssl.create_default_context(), "/healthz"))[0] is None


@pytest.mark.skipif(not TEST_DATABASE_URL, reason="the listener does not depend on the stores: "
                    "this slower multi-process case runs once, in the PostgreSQL setup")
async def test_every_worker_serves_https_and_the_session_cookie_is_secure(
    tmp_path: Path, settings: Settings, certificates: Certificates
) -> None:
    async with https_hub(settings, tmp_path, certificates, "demo", workers=2) as hub:
        served: set[int | None] = set()

        async def both_workers() -> bool | None:
            status, headers, worker = await _get(hub.port, certificates.client_context(),
                                                 "/healthz", hub)
            assert status == 200 and headers["Strict-Transport-Security"] == HSTS
            served.add(worker)
            return True if len(served - {None}) == 2 else None

        await eventually(both_workers, 20, "both workers answering over HTTPS")
        connector = aiohttp.TCPConnector(ssl=certificates.client_context())
        async with http_session(connector=connector) as http, \
                http.post(f"https://localhost:{hub.port}/api/v1/auth/login",
                          json={"login": DEMO_LOGIN, "password": DEMO_PASSWORD}) as login:
            assert login.status == 200
            cookie = login.cookies["tc_session"]
            assert cookie["secure"] and cookie["httponly"]


@pytest.mark.parametrize("workers", [[], ["--workers", "2"]], ids=["serve", "workers"])
def test_an_unreadable_certificate_is_one_clear_line(
    tmp_path: Path, settings: Settings, certificates: Certificates, workers: list[str]
) -> None:
    missing = tmp_path / "no-such-cert.pem"
    env = {**hub_env(settings, tmp_path / "data", free_port()),
           "TAXICONNECT_HTTP_TLS_CERT": str(missing),
           "TAXICONNECT_HTTP_TLS_KEY": str(certificates.key)}
    done = subprocess.run([sys.executable, "-m", "hub.cli", "serve", *workers], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=START_S, check=False)
    assert done.returncode == 1, done
    assert done.stderr.strip() == (f"taxiconnect: http.tls_cert: cannot read {missing}: "
                                   "No such file or directory")
    assert "console" not in done.stdout.lower()  # nothing announced as ready
