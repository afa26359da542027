"""The hub reaches Redis and PostgreSQL over TLS when configured (issue 14, item 7): a
private redis-server listening on a TLS port only, and a private PostgreSQL cluster with
ssl on, both with a certificate made on the fly by a CA only the test trusts. A contact
posted to the hub reaches a console through TLS Redis; PostgreSQL reports the hub's own
connection as encrypted; a server the CA did not sign is refused with a clear reason.

These start servers of their own, so they run once, in the embedded setup (no
TEST_DATABASE_URL), where the machine's binaries are what they need."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import pwd
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import NoReturn

import pytest
from sqlalchemy import text

from hub.appkeys import DATABASE
from hub.database import Database
from hub.errors import OperatorMustAct
from hub.redis_client import open_redis
from hub.settings import DatabaseSettings, RedisSettings, Secret, Settings
from tests.conftest import DispatcherFactory, HubFactory, free_port
from tests.helpers import eventually, submit
from tests.services import TEST_DATABASE_URL
from tests.tls_certs import Certificates, make_certificates, openssl_available

ROOT = Path(__file__).resolve().parents[2]
REDIS_SERVER = shutil.which("redis-server")

pytestmark = [
    pytest.mark.skipif(bool(TEST_DATABASE_URL),
                       reason="starts private servers: runs once, in the embedded setup"),
    pytest.mark.skipif(not openssl_available(), reason="no openssl command"),
]


def _missing(reason: str) -> NoReturn:
    """A server the test needs is not here: skipped on a developer's machine, a failure in
    CI, whose machine installs them all."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must provide it")
    pytest.skip(reason)


def _private_postgres() -> type:
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        from chaos_stores import PrivatePostgres, pg_binary
    finally:
        sys.path.remove(str(ROOT / "bench"))
    if pg_binary("initdb") is None or pg_binary("pg_ctl") is None:
        _missing("PostgreSQL's initdb and pg_ctl are not installed")

    class TlsPostgres(PrivatePostgres):  # type: ignore[misc, valid-type]
        """The chaos bench's private cluster, with ssl on and the test's certificate."""

        certs: Certificates

        def _options(self) -> str:
            return (f"{super()._options()} -c ssl=on -c ssl_cert_file={self.certs.cert} "
                    f"-c ssl_key_file={self.certs.key}")

    return TlsPostgres


@pytest.fixture
def certificates(tmp_path: Path) -> Certificates:
    return make_certificates(tmp_path / "certs")


def _start_redis(binary: str, port: int, certs: Certificates, folder: Path,
                 log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [binary, "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
             "--tls-cert-file", str(certs.cert), "--tls-key-file", str(certs.key),
             "--tls-ca-cert-file", str(certs.ca), "--tls-auth-clients", "no",
             "--save", "", "--appendonly", "no", "--dir", str(folder)],
            stdout=out, stderr=subprocess.STDOUT)


@pytest.fixture
async def tls_redis(tmp_path: Path, certificates: Certificates) -> AsyncIterator[int]:
    """A redis-server with its plain port closed and a TLS port open; yields the port."""
    if REDIS_SERVER is None:
        _missing("no redis-server on this machine")
    port = free_port()
    log = tmp_path / "redis-tls.log"
    server = _start_redis(REDIS_SERVER, port, certificates, tmp_path, log)
    try:
        async def listening() -> bool | None:
            if server.poll() is not None:
                _missing(f"redis-server without TLS: {log.read_text()[-300:]}")
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                return None
            writer.close()
            return True

        await eventually(listening, 10, "redis-server listening on its TLS port")
        yield port
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture
def tls_postgres(certificates: Certificates) -> Iterator[str]:
    """A private PostgreSQL cluster with ssl on; yields its URL (no TLS settings in it)."""
    cluster = _private_postgres()(port=free_port())
    # The server reads its key as its own user, and only a key nobody else can read.
    mine = Certificates(certificates.ca, cluster.folder / "server.pem",
                        cluster.folder / "server.key")
    shutil.copy(certificates.cert, mine.cert)
    shutil.copy(certificates.key, mine.key)
    os.chmod(mine.key, 0o600)
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        for path in (mine.cert, mine.key):
            os.chown(path, owner.pw_uid, owner.pw_gid)
    cluster.certs = mine
    try:
        cluster.start()
        yield str(cluster.url)
    finally:
        cluster.stop()


def _with_redis(settings: Settings, port: int, ca_file: Path) -> Settings:
    return dataclasses.replace(settings, redis=RedisSettings(
        url=Secret(f"rediss://localhost:{port}/0"), ca_file=str(ca_file),
        prefix=settings.redis.prefix))


async def test_a_contact_reaches_the_console_through_redis_over_tls(
    tls_redis: int, hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings,
    certificates: Certificates
) -> None:
    client = await hub(_with_redis(settings, tls_redis, certificates.ca))
    watching = await dispatcher(client)
    console = await watching.console()
    receipt = await submit(watching.http, watching.base, "tok-tls-redis-0001")
    await console.until(lambda e: e.get("request", {}).get("id") == receipt["id"])


async def test_a_redis_server_the_ca_did_not_sign_is_refused(
    tmp_path: Path, settings: Settings, tls_redis: int
) -> None:
    stranger = make_certificates(tmp_path / "stranger")
    with pytest.raises(OperatorMustAct, match="certificate verify failed"):
        await open_redis(_with_redis(settings, tls_redis, stranger.ca))


async def test_the_hub_talks_to_postgresql_over_verified_tls(
    tls_postgres: str, hub: HubFactory, settings: Settings, certificates: Certificates
) -> None:
    configured = dataclasses.replace(settings, database=DatabaseSettings(
        url=Secret(tls_postgres), sslmode="verify-full", ssl_ca_file=str(certificates.ca)))
    client = await hub(configured)
    response = await client.post("/api/v1/contact-requests",
                                 json={"name": "Aino", "phone": "040 765 4321",
                                       "message": "Taksi", "submission_token": "tok-tls-pg-01"})
    assert response.status == 201, await response.text()
    db = client.app[DATABASE]
    query = text("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
    async with db.read() as conn:
        assert tuple((await conn.execute(query)).one()) in {(True, "TLSv1.2"), (True, "TLSv1.3")}
    async with db.write() as conn:
        assert (await conn.execute(query)).one()[0] is True

    stranger = make_certificates(Path(str(settings.data_dir)) / "stranger")
    refused = Database(dataclasses.replace(configured, database=DatabaseSettings(
        url=Secret(tls_postgres), ssl_ca_file=str(stranger.ca))).database_url)
    try:
        with pytest.raises(OperatorMustAct, match="certificate verify failed"):
            await refused.migrate()
    finally:
        await refused.close()
