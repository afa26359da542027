"""The reverse-proxy example of docs/operations.md, run as written (issue 14, item 7): nginx
with that very configuration block, the test's ports and a certificate made on the fly put
in, in front of a hub that trusts 127.0.0.1 as its proxy. The hub records a login through
the proxy under the client's own address even when the client forges X-Forwarded-For, and
ignores the header on a request that comes straight to it; the console's websocket works
through the proxy; the proxy's answers carry HSTS.

Needs an nginx binary (NGINX=/path/to/nginx, or on the PATH); skipped without one."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from hub.model import Role
from hub.settings import HttpSettings, Settings
from tests.conftest import DispatcherFactory, HubFactory, free_port, server_url
from tests.helpers import WAIT_S, eventually
from tests.tls_certs import Certificates, make_certificates, openssl_available

DOCS = Path(__file__).resolve().parents[2] / "docs" / "operations.md"
NGINX = os.environ.get("NGINX") or shutil.which("nginx")
CLIENT = "127.0.0.2"  # the passenger's or dispatcher's machine, as the proxy sees it
STRANGER = "127.0.0.3"  # someone reaching the hub's port directly
FORGED = "203.0.113.9"

pytestmark = [pytest.mark.skipif(NGINX is None, reason="no nginx binary (set NGINX=...)"),
              pytest.mark.skipif(not openssl_available(), reason="no openssl command")]


def documented_block() -> str:
    """The nginx block of docs/operations.md, as an operator copies it."""
    blocks = re.findall(r"```nginx\n(.*?)```", DOCS.read_text(), re.S)
    assert len(blocks) == 1, "docs/operations.md holds one nginx example"
    return str(blocks[0])


def _configure(folder: Path, certs: Certificates, https: int, http: int, hub: int) -> Path:
    block = documented_block()
    for documented, ours in {
        "listen 443 ssl;": f"listen 127.0.0.1:{https} ssl;",
        "listen 80;": f"listen 127.0.0.1:{http};",
        "/etc/taxiconnect/tls/fullchain.pem": str(certs.cert),
        "/etc/taxiconnect/tls/privkey.pem": str(certs.key),
        "http://127.0.0.1:8080;": f"http://127.0.0.1:{hub};",
    }.items():
        assert documented in block, f"the documented example no longer has {documented!r}"
        block = block.replace(documented, ours)
    temp = folder / "temp"
    temp.mkdir(mode=0o777)
    temp.chmod(0o777)  # nginx's workers run as nobody when the test runs as root
    config = folder / "nginx.conf"
    config.write_text(
        f"daemon off;\nmaster_process off;\npid {folder}/nginx.pid;\nerror_log stderr;\n"
        "events {}\nhttp {\naccess_log off;\n"
        + "".join(f"{kind}_temp_path {temp}/{kind};\n"
                  for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        + block + "}\n")
    return config


@pytest.fixture
def certificates(tmp_path: Path) -> Certificates:
    return make_certificates(tmp_path / "certs")


def _start_nginx(config: Path, folder: Path) -> subprocess.Popen[bytes]:
    assert NGINX is not None
    with (folder / "nginx.log").open("wb") as out:
        return subprocess.Popen([NGINX, "-p", str(folder), "-e", "stderr", "-c", str(config)],
                                stdout=out, stderr=subprocess.STDOUT)


@pytest.fixture
def proxy_port(tmp_path: Path) -> int:
    return free_port()


@pytest.fixture
def nginx(tmp_path: Path, certificates: Certificates, proxy_port: int) -> Iterator[Any]:
    """Starts nginx in front of the hub port it is given; stops it afterwards."""
    started: list[subprocess.Popen[bytes]] = []

    async def start(hub_port: int) -> None:
        config = _configure(tmp_path, certificates, proxy_port, free_port(), hub_port)
        process = _start_nginx(config, tmp_path)
        started.append(process)

        async def listening() -> bool | None:
            if process.poll() is not None:
                raise AssertionError((tmp_path / "nginx.log").read_text())
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", proxy_port)
            except OSError:
                return None
            writer.close()
            return True

        await eventually(listening, WAIT_S, "nginx listening")

    yield start
    for process in started:
        process.terminate()
        process.wait(timeout=10)


async def _failed_login(base: str, login: str, local: str, tls: Any = False) -> str:
    """A wrong password for `login` from the address `local`; the HSTS header answered."""
    connector = aiohttp.TCPConnector(local_addr=(local, 0), ssl=tls)
    async with aiohttp.ClientSession(connector=connector,
                                     timeout=aiohttp.ClientTimeout(total=WAIT_S)) as http, \
            http.post(f"{base}/api/v1/auth/login", json={"login": login, "password": "nope"},
                      headers={"X-Forwarded-For": FORGED}) as response:
        assert response.status == 401
        return response.headers.get("Strict-Transport-Security", "")


async def test_the_documented_nginx_example_passes_the_client_address_and_websockets(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings, nginx: Any,
    proxy_port: int, certificates: Certificates
) -> None:
    client = await hub(dataclasses.replace(settings, http=HttpSettings(
        trusted_proxies=("127.0.0.1",))))
    await nginx(client.port)
    proxied = f"https://127.0.0.1:{proxy_port}"
    tls = certificates.client_context()

    hsts = await _failed_login(proxied, "through-the-proxy", CLIENT, tls)
    assert hsts == "max-age=31536000"
    await _failed_login(server_url(client), "straight-to-the-hub", STRANGER)

    admin = await dispatcher(client, role=Role.ADMIN)
    async with admin.http.get(f"{admin.base}/api/v1/admin/audit?action=login.failed") as resp:
        assert resp.status == 200, await resp.text()
        entries = (await resp.json())["entries"]
    addresses = {e["detail"]["login"]: e["address"] for e in entries}
    assert addresses == {"through-the-proxy": CLIENT, "straight-to-the-hub": STRANGER}

    ws = await admin.http.ws_connect(f"{proxied}/api/v1/console/ws", ssl=tls)
    try:
        hello = await ws.receive_json(timeout=WAIT_S)
        assert hello["type"] == "hello"
    finally:
        await ws.close()
