"""Helpers for tests that act as dispatchers, consoles and passengers over the public interfaces."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiohttp

from hub.model import Agent

T = TypeVar("T")

WAIT_S = 10.0  # the longest any single expectation may take before the test fails
POLL_S = 0.05


def http_session(**kwargs: Any) -> aiohttp.ClientSession:
    """A client whose every request is bounded, with a cookie jar that keeps the hub's
    session cookie (aiohttp refuses cookies from an IP address unless told otherwise)."""
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True),
                                 timeout=aiohttp.ClientTimeout(total=WAIT_S), **kwargs)


def order(token: str, **fields: Any) -> dict[str, Any]:
    """A valid web-form order; `fields` override or add to it."""
    return {"name": "Aino Virtanen", "phone": "040 765 4321",
            "message": "Taksi Kamppiin", "submission_token": token, **fields}


@dataclass
class Console:
    """One console websocket: the hello frame, then event frames in order."""

    ws: aiohttp.ClientWebSocketResponse
    hello: dict[str, Any]

    async def frame(self, wait_s: float = WAIT_S) -> dict[str, Any]:
        message = await asyncio.wait_for(self.ws.receive(), wait_s)
        assert message.type == aiohttp.WSMsgType.TEXT, message
        decoded: dict[str, Any] = json.loads(message.data)
        return decoded

    async def events(self, wait_s: float = WAIT_S) -> list[dict[str, Any]]:
        """The next `events` frame's events (any other frame fails the test)."""
        decoded = await self.frame(wait_s)
        assert decoded["type"] == "events", decoded
        return list(decoded["events"])

    async def until(self, done: Callable[[dict[str, Any]], bool],
                    wait_s: float = WAIT_S) -> list[dict[str, Any]]:
        """Events received until (and including) the first one for which `done` is true."""
        async def collect() -> list[dict[str, Any]]:
            got: list[dict[str, Any]] = []
            while True:
                for event in await self.events(wait_s):
                    got.append(event)
                    if done(event):
                        return got
        return await asyncio.wait_for(collect(), wait_s)

    async def close(self) -> None:
        await self.ws.close()


@dataclass
class Dispatcher:
    """An agent logged in through the API, with a cookie jar of their own.

    Cookies do not depend on the port, so one session works against every hub process of
    the test, as a dispatcher behind a load balancer would.
    """

    agent: Agent
    http: aiohttp.ClientSession
    base: str
    consoles: list[Console] = field(default_factory=list)

    async def console(self, base: str | None = None, *, last_event_id: str | None = None,
                      headers: dict[str, str] | None = None) -> Console:
        query = f"?last_event_id={last_event_id}" if last_event_id is not None else ""
        ws = await self.http.ws_connect(f"{base or self.base}/api/v1/console/ws{query}",
                                        headers=headers)
        message = await asyncio.wait_for(ws.receive(), WAIT_S)
        hello = json.loads(message.data)
        assert hello["type"] == "hello", hello
        console = Console(ws, hello)
        self.consoles.append(console)
        return console

    async def request(self, request_id: str, base: str | None = None) -> dict[str, Any]:
        async with self.http.get(f"{base or self.base}/api/v1/requests/{request_id}") as resp:
            assert resp.status == 200, await resp.text()
            found: dict[str, Any] = (await resp.json())["request"]
            return found

    async def open_requests(self, base: str | None = None) -> list[dict[str, Any]]:
        async with self.http.get(f"{base or self.base}/api/v1/requests") as resp:
            assert resp.status == 200, await resp.text()
            found: list[dict[str, Any]] = (await resp.json())["requests"]
            return found

    async def reply(self, request_id: str, body: str, key: str,
                    **fields: Any) -> tuple[int, dict[str, Any]]:
        async with self.http.post(f"{self.base}/api/v1/requests/{request_id}/replies",
                                  json={"body": body, "client_key": key, **fields}) as resp:
            answer: dict[str, Any] = await resp.json()
            return resp.status, answer

    async def wait_for_reply(self, request_id: str, state: str,
                             body: str | None = None) -> dict[str, Any]:
        """The request's outbound message whose first delivery reached `state`."""
        async def probe() -> dict[str, Any] | None:
            for message in (await self.request(request_id))["messages"]:
                deliveries = message.get("deliveries") or []
                if message["direction"] == "outbound" and deliveries \
                        and deliveries[0]["state"] == state \
                        and (body is None or message["body"] == body):
                    return message
            return None
        return await eventually(probe, what=f"a reply {state}")

    async def wait_for_status(self, request_id: str, status: str,
                              wait_s: float = WAIT_S) -> dict[str, Any]:
        async def probe() -> dict[str, Any] | None:
            found = await self.request(request_id)
            return found if found["status"] == status else None
        return await eventually(probe, wait_s, f"request {request_id} becoming {status}")

    async def close(self) -> None:
        for console in self.consoles:
            await console.close()
        await self.http.close()


async def eventually(probe: Callable[[], Awaitable[T | None]], wait_s: float = WAIT_S,
                     what: str = "the expected outcome") -> T:
    """Poll `probe` until it returns something other than None (or fail after `wait_s`)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    while True:
        found = await probe()
        if found is not None:
            return found
        if loop.time() > deadline:
            raise AssertionError(f"no {what} within {wait_s} s")
        await asyncio.sleep(POLL_S)


async def submit(http: aiohttp.ClientSession, base: str, token: str,
                 **fields: Any) -> dict[str, Any]:
    """Submit a valid order as JSON; returns the receipt."""
    async with http.post(f"{base}/api/v1/contact-requests", json=order(token, **fields)) as resp:
        assert resp.status in (200, 201), await resp.text()
        receipt: dict[str, Any] = await resp.json()
        return receipt


def fill_path(path: str, **known: str) -> str:
    """A route's canonical path with its parameters filled: the given values, a fresh UUID
    for any other `..._id`, and "default" for the rest (a lane key)."""
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        return known.get(name) or (str(uuid.uuid4()) if name.endswith("_id") else "default")
    return re.sub(r"\{(\w+)\}", value, path)
