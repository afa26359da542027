"""A fake Asterisk: an asyncio TCP server that speaks the Asterisk Manager Interface.

It greets each connection with `Asterisk Call Manager/5.0.3`, answers `Login` with
`Authentication accepted` (or `Authentication failed`, then closes, as Asterisk does),
answers `Ping`, and then sends what the test scripts: `send` writes raw AMI text (events
written out as Asterisk writes them, blank-line terminators included) to every logged-in
session, `drop` closes every connection from the server's side.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

GREETING = "Asterisk Call Manager/5.0.3"
WAIT_S = 10.0


@dataclass
class _Session:
    writer: asyncio.StreamWriter
    logged_in: bool = False
    actions: list[dict[str, str]] = field(default_factory=list)


class FakeAmi:
    def __init__(self, username: str, secret: str) -> None:
        self.username = username
        self.secret = secret
        self.port = 0
        self.logins = 0
        self.failed_logins = 0
        self.connections = 0
        self.actions: list[dict[str, str]] = []  # every action received, in order
        self._sessions: list[_Session] = []
        self._server: asyncio.Server | None = None
        self._changed = asyncio.Condition()

    def __repr__(self) -> str:
        return (f"<FakeAmi port={self.port} connections={self.connections} "
                f"logins={self.logins} failed={self.failed_logins}>")

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._session, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.drop()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def wait_for_logins(self, count: int) -> None:
        """Until `count` logins in all have succeeded."""
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: self.logins >= count), WAIT_S)

    async def send(self, text: str) -> None:
        """Write AMI text (lines may end in \\n or \\r\\n) to every logged-in session."""
        raw = text.replace("\r\n", "\n").replace("\n", "\r\n").encode()
        for session in self._sessions:
            if session.logged_in:
                session.writer.write(raw)
                await session.writer.drain()

    async def drop(self) -> None:
        """Close every connection, as an Asterisk restart would."""
        for session in list(self._sessions):
            session.writer.close()
            with contextlib.suppress(OSError, ConnectionError):
                await session.writer.wait_closed()
        self._sessions.clear()

    async def _session(self, reader: asyncio.StreamReader,
                       writer: asyncio.StreamWriter) -> None:
        session = _Session(writer)
        self._sessions.append(session)
        self.connections += 1
        try:
            writer.write(f"{GREETING}\r\n".encode())
            await writer.drain()
            while True:
                action = await _read_packet(reader)
                if action is None:
                    return
                self.actions.append(action)
                if not await self._answer(session, action):
                    return
        except (OSError, ConnectionError):
            return
        finally:
            if session in self._sessions:
                self._sessions.remove(session)
            writer.close()

    async def _answer(self, session: _Session, action: dict[str, str]) -> bool:
        """Answer one action; False to close the connection."""
        name = action.get("action", "").lower()
        action_id = action.get("actionid", "")
        if name == "login":
            if action.get("username") == self.username and action.get("secret") == self.secret:
                session.logged_in = True
                self.logins += 1
                answer = ("Response: Success\r\nActionID: {id}\r\n"
                          "Message: Authentication accepted\r\n\r\n"
                          "Event: FullyBooted\r\nPrivilege: system,all\r\n"
                          "Status: Fully Booted\r\n\r\n")
            else:
                self.failed_logins += 1
                answer = ("Response: Error\r\nActionID: {id}\r\n"
                          "Message: Authentication failed\r\n\r\n")
            session.writer.write(answer.format(id=action_id).encode())
            await session.writer.drain()
            async with self._changed:
                self._changed.notify_all()
            return session.logged_in
        if name == "ping":
            session.writer.write(f"Response: Success\r\nActionID: {action_id}\r\n"
                                 "Ping: Pong\r\nTimestamp: 1700000000.000000\r\n\r\n".encode())
        else:
            session.writer.write(f"Response: Error\r\nActionID: {action_id}\r\n"
                                 "Message: Invalid/unknown command\r\n\r\n".encode())
        await session.writer.drain()
        return True


async def _read_packet(reader: asyncio.StreamReader) -> dict[str, str] | None:
    """One action, its keys lower-cased; None when the client has gone."""
    packet: dict[str, str] = {}
    while True:
        line = await reader.readline()
        if not line:
            return None
        text = line.decode().rstrip("\r\n")
        if not text:
            if packet:
                return packet
            continue
        key, _, value = text.partition(":")
        packet[key.strip().lower()] = value.strip()
