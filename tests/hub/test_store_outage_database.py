"""When PostgreSQL goes away, or stops answering, the API answers 503, never 500.

The hub reaches the test's database through a relay of the test's own, which the test can
cut (every connection closed, new ones refused: the server gone) or stall (bytes held: a
server that stopped answering). Cut: login, /api/v1/me, the request list, a claim and a
form post answer 503 with Retry-After and a coded body, and work again once the relay is
back, without restarting the hub. Stalled: every pooled connection is held by a request
that waits, so the next ones wait out the pool's bounded wait and are told 503 hub_busy at
once, not 500; the held ones finish when the server answers again.

SQLite is a file in the hub's own folder: there is nothing to cut, so these run on
PostgreSQL only (the suite's PostgreSQL pass).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from hub.model import Agent
from hub.settings import Secret, Settings
from tests.conftest import PASSWORD, DispatcherFactory, HubFactory
from tests.helpers import WAIT_S, Dispatcher, eventually, order, submit

# More requests than the reader pool has connections (hub.database: 5 + 5).
CROWD = 16


class Relay:
    """A TCP relay from a port of its own to the database server."""

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.flowing = asyncio.Event()
        self.flowing.set()
        self.port = 0

    async def open(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        """The server gone: new connections refused, the open ones closed."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.close()

    async def close(self) -> None:
        self.flowing.set()
        await self.cut()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.close()
            return
        for pair in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(*pair))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while data := await reader.read(65536):
                await self.flowing.wait()
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()


@pytest.fixture
async def relayed(settings: Settings) -> Any:
    """The test's settings with the database reached through a Relay."""
    url = make_url(settings.database.url.reveal())
    if url.get_backend_name() != "postgresql":
        pytest.skip("SQLite is a file of the hub's own: there is no connection to cut")
    relay = Relay(url.host or "127.0.0.1", url.port or 5432)
    await relay.open()
    through = url.set(host="127.0.0.1", port=relay.port).render_as_string(hide_password=False)
    yield relay, dataclasses.replace(
        settings, database=dataclasses.replace(settings.database, url=Secret(through)))
    await relay.close()


async def _answer(user: Dispatcher, method: str, path: str,
                  body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any], str | None]:
    async with user.http.request(method, f"{user.base}{path}", json=body) as response:
        return response.status, await response.json(), response.headers.get("Retry-After")


async def _calls(anna: Dispatcher, bob: Agent, request_id: str, n: int
                 ) -> dict[str, tuple[int, dict[str, Any], str | None]]:
    return {
        "me": await _answer(anna, "GET", "/api/v1/me"),
        "requests": await _answer(anna, "GET", "/api/v1/requests"),
        "claim": await _answer(anna, "POST", f"/api/v1/requests/{request_id}/claim"),
        "form": await _answer(anna, "POST", "/api/v1/contact-requests",
                              order(f"db-away-{n:03d}", phone="+358407654321")),
        "login": await _answer(anna, "POST", "/api/v1/auth/login",
                               {"login": bob.login, "password": PASSWORD}),
    }


async def test_while_the_database_is_away_the_api_answers_503_and_works_again_after(
    hub: HubFactory, dispatcher: DispatcherFactory, make_agent: Any, relayed: Any,
    caplog: pytest.LogCaptureFixture
) -> None:
    relay, settings = relayed
    # The outbox sweeper reads the database every few tenths of a second, so it meets
    # the outage too.
    client = await hub(dataclasses.replace(
        settings, queue=dataclasses.replace(settings.queue, outbox_sweep_s=0.2)))
    anna = await dispatcher(client)
    bob = await make_agent(client)
    receipt = await submit(anna.http, anna.base, "db-away-first")
    await anna.wait_for_status(receipt["id"], "queued")

    caplog.set_level(logging.WARNING)
    caplog.clear()
    await relay.cut()
    away = await _calls(anna, bob, receipt["id"], 1)
    for name, (status, body, retry_after) in away.items():
        assert status == 503, (name, status, body)
        assert retry_after is not None and int(retry_after) > 0, name
        assert body["code"] == "database_unavailable", (name, body)
    said = [r for r in caplog.records if r.name == "hub.middleware"]
    assert len(said) == 1, [r.getMessage() for r in said]  # once, not once per answer
    assert said[0].getMessage().startswith("database unavailable")
    assert bob.login not in said[0].getMessage()

    async def sweeper_met_the_outage() -> bool | None:
        return any("outbox sweep" in r.getMessage() or "died" in r.getMessage()
                   for r in caplog.records) or None

    await eventually(sweeper_met_the_outage, wait_s=WAIT_S, what="a sweep during the outage")

    await relay.open()  # the server is back, on the same port

    async def back() -> bool | None:
        status, _, _ = await _answer(anna, "GET", "/api/v1/requests")
        return status == 200 or None

    await eventually(back, wait_s=WAIT_S, what="the request list once the database is back")
    again = await _calls(anna, bob, receipt["id"], 2)
    assert {name: status for name, (status, _, _) in again.items()} == {
        "me": 200, "requests": 200, "claim": 200, "form": 201, "login": 200}, again

    # Nothing of the hub stopped for good: a contact taken now reaches a console, and the
    # hub stays live (a background loop that died would be a silent outage).
    console = await anna.console()
    try:
        after = await submit(anna.http, anna.base, "db-away-after")
        await console.until(lambda e: e["request"]["id"] == after["id"])
    finally:
        await console.close()
    assert not [r.getMessage() for r in caplog.records if "died" in r.getMessage()]
    async with anna.http.get(f"{anna.base}/healthz") as response:
        assert response.status == 200, await response.text()


async def test_a_database_that_stops_answering_is_a_503_pool_timeout_not_a_500(
    hub: HubFactory, dispatcher: DispatcherFactory, relayed: Any
) -> None:
    relay, settings = relayed
    client = await hub(settings)
    anna = await dispatcher(client)

    relay.flowing.clear()  # every statement from now on waits for an answer
    crowd = [asyncio.create_task(_answer(anna, "GET", "/api/v1/requests"))
             for _ in range(CROWD)]
    try:
        # Nothing can finish while the server is silent but a wait for a connection that
        # gave up: the first answer is the pool timeout's.
        done, _ = await asyncio.wait(crowd, return_when=asyncio.FIRST_COMPLETED)
        status, body, retry_after = next(iter(done)).result()
        assert (status, body["code"]) == (503, "hub_busy"), body
        assert retry_after is not None and int(retry_after) > 0
    finally:
        relay.flowing.set()
    answers = await asyncio.wait_for(asyncio.gather(*crowd), WAIT_S * 3)
    assert {status for status, _, _ in answers} <= {200, 503}, answers
    assert all(body["code"] == "hub_busy" for status, body, _ in answers if status == 503)
    assert any(status == 200 for status, _, _ in answers)  # the held ones were answered
