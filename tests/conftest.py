"""Fixtures that start the hub against real Redis and a real database."""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from playwright.async_api import Page, async_playwright
from redis.asyncio import Redis

from hub.agents import add_agent
from hub.app import create_app
from hub.appkeys import DATABASE
from hub.log_privacy import PrivateAccessLogger
from hub.model import Agent, Role
from hub.settings import (
    AnswersSettings,
    IngestSettings,
    QueueSettings,
    Settings,
    load_settings,
)
from tests.connection_origins import record_connection_origins
from tests.helpers import Dispatcher, http_session
from tests.log_scan import PROCESS_LOGS, SuiteLog, harvest_literals
from tests.services import (
    TEST_DATABASE_URL,
    TEST_REDIS_URL,
    embedded_redis,
    fresh_database,
    migrated_template,
)

PASSWORD = "correct horse battery"

_suite_log: SuiteLog | None = None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """CI runs the suite twice, on the embedded stores and on Redis + PostgreSQL. What does
    not depend on the stores (types, layers, parsers, the HTTP listener, log formats) runs
    on the first pass only: the second would spend minutes proving the same thing.

    The browser tests (`*_browser.py`) too: they prove what the pages show and do, over
    the same API whose every route and store behaviour the API, websocket and protocol
    tests prove on both passes. In Chromium they cost a quarter of a pass."""
    if not TEST_DATABASE_URL:
        return
    once = pytest.mark.skip(reason="store-independent: run on the embedded pass")
    for item in items:
        if (item.get_closest_marker("store_independent") is not None
                or item.path.name.endswith("_browser.py")):
            item.add_marker(once)


def pytest_sessionstart(session: pytest.Session) -> None:
    global _suite_log
    if TEST_DATABASE_URL:
        record_connection_origins()
    _suite_log = SuiteLog()
    _suite_log.start()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The run fails when its log carries what the tests fed the hub (tests/log_scan.py)."""
    if _suite_log is None:
        return
    _suite_log.stop(PROCESS_LOGS)
    if not _suite_log.owner:
        return  # an xdist worker: the controller reads every worker's log at its end
    leaks = _suite_log.leaks(harvest_literals())
    if not leaks:
        shutil.rmtree(_suite_log.folder, ignore_errors=True)
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    lines = [f"personal data or a secret in the log: {leak.kind} at {leak.source}:{leak.line}"
             for leak in leaks[:50]]
    lines.append(f"(the run's logs are kept in {_suite_log.folder})")
    if reporter is not None:
        reporter.section("log privacy", sep="=", red=True)
        for line in lines:
            reporter.write_line(line)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    if TEST_REDIS_URL:
        yield TEST_REDIS_URL
    else:
        with embedded_redis() as url:
            yield url


@pytest.fixture(scope="session")
def migrated_database() -> Iterator[str]:
    with migrated_template() as template:
        yield template


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The test's own database at the newest schema; empty for a test marked
    `empty_database` (the migrations' own tests)."""
    if request.node.get_closest_marker("empty_database") is not None:
        template = None
    else:
        template = request.getfixturevalue("migrated_database")
    with fresh_database(tmp_path, template) as url:
        yield url


@pytest.fixture
def settings(tmp_path: Path, redis_url: str, database_url: str) -> Settings:
    """Settings for one test: its own data folder, database and Redis key prefix."""
    base = load_settings(None, environ={
        "TAXICONNECT_DATA_DIR": str(tmp_path / "data"),
        "TAXICONNECT_DATABASE_URL": database_url,
        "TAXICONNECT_REDIS_URL": redis_url,
        "TAXICONNECT_REDIS_PREFIX": f"t{uuid.uuid4().hex[:10]}:",
    })
    return dataclasses.replace(
        base,
        queue=QueueSettings(reclaim_idle_ms=500, events_maxlen=10_000, outbox_sweep_s=0.5),
        ingest=IngestSettings(batch_max=256, max_pending=2000),
        # No automatic acknowledgements: a test counting what reaches a gateway sees only
        # what it sends. Tests of the answers themselves turn them on.
        answers=AnswersSettings(acknowledge=()),
    )


HubFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


@pytest.fixture
async def hub(settings: Settings) -> AsyncIterator[HubFactory]:
    """Start hub processes (apps on their own ports) sharing the test's Redis and database."""
    clients: list[TestClient[Any, Any]] = []

    async def start(override: Settings | None = None,
                    port: int | None = None) -> TestClient[Any, Any]:
        app = create_app(override or settings)
        # The access log on, written by the hub's own access logger, as `serve` writes it
        # with http.access_log (the suite's log is searched for personal data at the end).
        server = TestServer(app, port=port, access_log=logging.getLogger("hub.access"),
                            access_log_class=PrivateAccessLogger)
        client: TestClient[Any, Any] = TestClient(server)
        await client.start_server()
        clients.append(client)
        return client

    yield start
    for client in reversed(clients):
        await client.close()


@pytest.fixture
def make_agent() -> Callable[..., Awaitable[Agent]]:
    async def make(client: TestClient[Any, Any], login: str | None = None,
                   role: Role = Role.TEAM, name: str | None = None) -> Agent:
        login = login or f"agent{uuid.uuid4().hex[:6]}"
        return await add_agent(client.app[DATABASE], login=login, name=name or login.title(),
                               role=role, password=PASSWORD)

    return make


async def log_in(client: TestClient[Any, Any], login: str) -> None:
    response = await client.post("/api/v1/auth/login",
                                 json={"login": login, "password": PASSWORD})
    assert response.status == 200, await response.text()


DispatcherFactory = Callable[..., Awaitable[Dispatcher]]


@pytest.fixture
async def dispatcher(make_agent: Callable[..., Awaitable[Agent]]
                     ) -> AsyncIterator[DispatcherFactory]:
    """Log new agents in through the API, each with a cookie jar of their own."""
    opened: list[Dispatcher] = []

    async def open_(client: TestClient[Any, Any], role: Role = Role.TEAM,
                    name: str | None = None) -> Dispatcher:
        agent = await make_agent(client, role=role, name=name)
        base = server_url(client)
        http = http_session()
        found = Dispatcher(agent, http, base)
        opened.append(found)
        async with http.post(f"{base}/api/v1/auth/login",
                             json={"login": agent.login, "password": PASSWORD}) as response:
            assert response.status == 200, await response.text()
        return found

    yield open_
    for found in opened:
        await found.close()


@pytest.fixture
async def raw_redis(settings: Settings) -> AsyncIterator[Redis]:
    """A plain client of the test's Redis, seeing what an operator's redis-cli would."""
    client = Redis.from_url(settings.redis.url.reveal(), decode_responses=True)
    yield client
    await client.aclose()


def chromium_available() -> bool:
    return shutil.which(CHROMIUM) is not None or Path(CHROMIUM).exists()


LAPTOP = {"width": 1366, "height": 768}  # the dispatchers' laptops


@pytest.fixture
async def laptop_page() -> AsyncIterator[Page]:
    """A page in its own headless Chromium, Finnish, at a dispatcher's laptop size."""
    require_chromium()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM,
                                                   args=CHROMIUM_ARGS, headless=True)
        try:
            context = await browser.new_context(locale="fi-FI", viewport=LAPTOP)
            yield await context.new_page()
        finally:
            await browser.close()


def require_chromium() -> None:
    """Browser tests run wherever Chromium is; in CI its absence is a failure, not a skip."""
    if chromium_available():
        return
    if os.environ.get("CI"):
        pytest.fail(f"Chromium not found at {CHROMIUM}; CI must install it")
    pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    """Debian's Chromium under Playwright, closed before the hub stops (open websockets
    would delay that); skipped where Chromium is not installed."""
    require_chromium()
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        found = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                                 headless=True)
        try:
            yield found
        finally:
            await found.close()


def free_port() -> int:
    """A port nobody listens on now, for a hub whose public URL must be known before it
    starts (gateways sign and call back to it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def server_url(client: TestClient[Any, Any]) -> str:
    return str(client.make_url("")).rstrip("/")


__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "PASSWORD", "DispatcherFactory", "HubFactory", "log_in",
           "require_chromium", "server_url", "web"]
