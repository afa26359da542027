"""Schemathesis over the OpenAPI the hub serves: generated requests to every operation, as an
anonymous caller, a dispatcher and an administrator; not one answered with a 5xx, and every
answer as the document says (its status codes, media types and body schemas). The
websockets get plain GETs only: schemathesis speaks HTTP (tests/channels/test_chat_ws.py and
tests/dispatch/test_console_ws.py speak to them).

Bounded (a fixed seed and a few examples an operation, about half a minute a role), so it
runs in the test command on both store setups. Routes that end the caller's own session
(logout, an admin changing accounts) are left out of the logged-in runs: the rest of the
run would test only the 401.
"""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from yarl import URL

from hub.model import Role
from tests.conftest import PASSWORD, DispatcherFactory, HubFactory, server_url

ROOT = Path(__file__).resolve().parents[1]
SEED = 20261207
EXAMPLES = 10
RUN_TIMEOUT_S = 240.0
CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,"
          "response_schema_conformance")
ENDS_THE_SESSION = ["--exclude-path", "/api/v1/auth/logout",
                    "--exclude-path-regex", "^/api/v1/admin/agents"]  # the one regex there


async def _cookie(client: TestClient[Any, Any], dispatcher: DispatcherFactory,
                  role: Role) -> str:
    agent = await dispatcher(client, role=role)
    cookies = agent.http.cookie_jar.filter_cookies(URL(agent.base))
    return "; ".join(f"{name}={morsel.value}" for name, morsel in cookies.items())


async def _schemathesis(base: str, tmp_path: Path, *extra: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "schemathesis.cli", "run", f"{base}/api/openapi.json",
        "--checks", CHECKS, "--phases", "examples,fuzzing",
        "--max-examples", str(EXAMPLES), "--seed", str(SEED), "--request-timeout", "10",
        "--generation-database", "none", "--no-color", "-H", f"Origin: {base}", *extra,
        cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    output, _ = await asyncio.wait_for(process.communicate(), RUN_TIMEOUT_S)
    return process.returncode or 0, output.decode(errors="replace")


@pytest.mark.parametrize("role", [None, Role.TEAM, Role.ADMIN],
                         ids=["anonymous", "dispatcher", "admin"])
async def test_no_generated_request_gets_a_server_error(
    hub: HubFactory, dispatcher: DispatcherFactory, tmp_path: Path, role: Role | None
) -> None:
    client = await hub()
    base = server_url(client)
    extra: list[str] = []
    if role is not None:
        extra = ["-H", f"Cookie: {await _cookie(client, dispatcher, role)}", *ENDS_THE_SESSION]
    status, output = await _schemathesis(base, tmp_path, *extra)
    cases = re.search(r"(\d+) generated", output)
    failures = output.partition("FAILURES")[2].partition("SUMMARY")[0]
    assert status == 0 and cases is not None, (failures or output)[-12000:]
    print(f"{role or 'anonymous'}: {cases.group(1)} generated cases, no 5xx, as documented")
    assert PASSWORD not in output
