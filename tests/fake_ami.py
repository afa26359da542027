"""A fake Asterisk: an asyncio TCP server that speaks the Asterisk Manager Interface.

It greets each connection with `Asterisk Call Manager/5.0.3`, answers `Login` with
`Authentication accepted` (or `Authentication failed`, then closes, as Asterisk does),
answers `Ping`, and then sends what the test scripts: `send` writes raw AMI text (events
written out as Asterisk writes them, blank-line terminators included) to every logged-in
session, `drop` closes every connection from the server's side.

`Originate` is answered as Asterisk documents it (docs.asterisk.org, AMI Actions/Originate
and AMI Events/OriginateResponse): `Response: Success` / `Message: Originate successfully
queued` at once; with `Async: true` the originated channel's events follow, its Uniqueid
the action's `ChannelId` when one is given: the dispatcher's phone rings and answers
(`Newchannel`, `Newstate` Ringing and Up, `OriginateResponse` with `Reason: 4`), or with
`dispatcher_answers` False rings out (`Hangup` with cause 19, `OriginateResponse: Failure`,
`Reason: 3`). What the dialplan does next (dialling the passenger) the test sends itself.
`refuse_originate` answers `Response: Error` with that message instead, as Asterisk does for
a manager user without the `originate` permission.

`CoreShowChannels` is answered as Asterisk answers a list action (docs.asterisk.org, AMI
Actions/CoreShowChannels, Events/CoreShowChannel and CoreShowChannelsComplete):
`Response: Success` / `EventList: start` / `Message: Channels will follow`, one
`CoreShowChannel` event per entry of `channels` (the test keeps that list as the PBX's
channels are: each a channel snapshot's fields), then `CoreShowChannelsComplete` with
`EventList: Complete` and `ListItems`, all with the action's ActionID.

Recordings and voice messages (docs.asterisk.org, MixMonitor(), AMI Events/VarSet,
MixMonitorStart, MixMonitorStop; VoiceMail channel variables): `mixmonitor` sends what
MixMonitor() on a channel sends (`VarSet` of MIXMONITOR_FILENAME, the absolute path, then
`MixMonitorStart`), `stop_mixmonitor` what StopMixMonitor() sends (`MixMonitorStop`), and
`voicemail` what VoiceMail() sends (`VarSet` of VM_MESSAGEFILE, the path without a suffix,
then of VMSTATUS). `at` adds the `Timestamp` Asterisk writes after `Privilege` with
manager.conf timestampevents=yes.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
import ssl
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

GREETING = "Asterisk Call Manager/5.0.3"
WAIT_S = 10.0
CALLER_ID = re.compile(r'^\s*"?(?P<name>[^"<]*?)"?\s*<(?P<num>[^>]*)>\s*$')  # Name <num>


@dataclass
class _Session:
    writer: asyncio.StreamWriter
    logged_in: bool = False
    actions: list[dict[str, str]] = field(default_factory=list)


class FakeAmi:
    def __init__(self, username: str, secret: str, tls: ssl.SSLContext | None = None) -> None:
        self.tls = tls  # a server context: AMI over TLS, as Asterisk's tlsenable offers it
        self.username = username
        self.secret = secret
        self.port = 0
        self.logins = 0
        self.failed_logins = 0
        self.connections = 0
        self.actions: list[dict[str, str]] = []  # every action received, in order
        self.dispatcher_answers = True
        self.refuse_originate: str | None = None  # e.g. "Permission denied"
        self.originated: list[tuple[str, str]] = []  # (channel, Uniqueid) of each Originate
        self.channels: list[dict[str, str]] = []  # the channels up now, as snapshots
        self._channels = itertools.count(12)
        self._sessions: list[_Session] = []
        self._server: asyncio.Server | None = None
        self._changed = asyncio.Condition()

    def __repr__(self) -> str:
        return (f"<FakeAmi port={self.port} connections={self.connections} "
                f"logins={self.logins} failed={self.failed_logins}>")

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._session, "127.0.0.1", 0, ssl=self.tls)
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

    async def mixmonitor(self, snapshot: str, filename: str, *, at: float | None = None
                         ) -> None:
        """MixMonitor() starts on the channel `snapshot` (its event fields) describes."""
        await self.send(event("VarSet", f"{snapshot}Variable: MIXMONITOR_FILENAME\n"
                              f"Value: {filename}\n", privilege="dialplan,all", at=at)
                        + event("MixMonitorStart", snapshot, at=at))

    async def stop_mixmonitor(self, snapshot: str, *, at: float | None = None) -> None:
        await self.send(event("MixMonitorStop", snapshot, at=at))

    async def voicemail(self, snapshot: str, message_file: str, status: str = "SUCCESS", *,
                        at: float | None = None) -> None:
        """VoiceMail() records a message on the channel and returns with `status`."""
        await self.send(event("VarSet", f"{snapshot}Variable: VM_MESSAGEFILE\n"
                              f"Value: {message_file}\n", privilege="dialplan,all", at=at)
                        + event("VarSet", f"{snapshot}Variable: VMSTATUS\nValue: {status}\n",
                                privilege="dialplan,all", at=at))

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
        elif name == "originate":
            session.writer.write(self._originated(action).encode())
        elif name == "coreshowchannels":
            session.writer.write(self._channel_list(action_id).encode())
        else:
            session.writer.write(f"Response: Error\r\nActionID: {action_id}\r\n"
                                 "Message: Invalid/unknown command\r\n\r\n".encode())
        await session.writer.drain()
        return True

    def _channel_list(self, action_id: str) -> str:
        answer = (f"Response: Success\r\nActionID: {action_id}\r\nEventList: start\r\n"
                  "Message: Channels will follow\r\n\r\n")
        for channel in self.channels:
            fields = {"Application": "Queue", "ApplicationData": "taksi",
                      "Duration": "00:00:42", "BridgeId": "", **channel}
            answer += (f"Event: CoreShowChannel\r\nActionID: {action_id}\r\n"
                       + "".join(f"{key}: {value}\r\n" for key, value in fields.items())
                       + "\r\n")
        return answer + (f"Event: CoreShowChannelsComplete\r\nActionID: {action_id}\r\n"
                         f"EventList: Complete\r\nListItems: {len(self.channels)}\r\n\r\n")

    def _originated(self, action: dict[str, str]) -> str:
        """The answer to an Originate and, when Async, the originated channel's events."""
        action_id = action.get("actionid", "")
        if self.refuse_originate is not None:
            return (f"Response: Error\r\nActionID: {action_id}\r\n"
                    f"Message: {self.refuse_originate}\r\n\r\n")
        answer = (f"Response: Success\r\nActionID: {action_id}\r\n"
                  "Message: Originate successfully queued\r\n\r\n")
        if action.get("async", "").lower() != "true":
            return answer
        number = next(self._channels)
        unique = action.get("channelid") or f"1700000900.{number}"
        target = action.get("channel", "")
        channel = (f"{target}-{number:08x};1" if target.startswith("Local/")
                   else f"{target}-{number:08x}")
        self.originated.append((channel, unique))
        found = CALLER_ID.match(action.get("callerid", ""))
        cid_name, cid_num = ((found.group("name") or "", found.group("num")) if found
                             else ("", action.get("callerid", "")))

        def snapshot(state: str, code: int, *, cid: bool = True) -> str:
            return "".join(f"{key}: {value}\r\n" for key, value in (
                ("Channel", channel), ("ChannelState", code), ("ChannelStateDesc", state),
                ("CallerIDNum", cid_num if cid and cid_num else "<unknown>"),
                ("CallerIDName", cid_name if cid and cid_name else "<unknown>"),
                ("ConnectedLineNum", "<unknown>"), ("ConnectedLineName", "<unknown>"),
                ("Language", "en"), ("AccountCode", ""),
                ("Context", action.get("context", "")), ("Exten", action.get("exten", "")),
                ("Priority", action.get("priority", "1")), ("Uniqueid", unique),
                ("Linkedid", unique)))

        def outcome(response: str, reason: int) -> str:
            return (f"Event: OriginateResponse\r\nPrivilege: call,all\r\n"
                    f"ActionID: {action_id}\r\nResponse: {response}\r\n"
                    f"Channel: {target}\r\nContext: {action.get('context', '')}\r\n"
                    f"Exten: {action.get('exten', '')}\r\nApplication: \r\nData: \r\n"
                    f"Reason: {reason}\r\nUniqueid: {unique}\r\n"
                    f"CallerIDNum: {cid_num or '<unknown>'}\r\n"
                    f"CallerIDName: {cid_name or '<unknown>'}\r\n\r\n")

        def event(name: str, body: str) -> str:
            return f"Event: {name}\r\nPrivilege: call,all\r\n{body}\r\n"

        answer += (event("Newchannel", snapshot("Down", 0, cid=False))
                   + event("Newstate", snapshot("Ringing", 5)))
        if self.dispatcher_answers:
            return answer + event("Newstate", snapshot("Up", 6)) + outcome("Success", 4)
        # It rang for the action's Timeout: no answer.
        return (answer + event("Hangup", snapshot("Ringing", 5)
                               + "Cause: 19\r\nCause-txt: No answer\r\n")
                + outcome("Failure", 3))


def event(name: str, body: str, *, privilege: str = "call,all",
          at: float | None = None) -> str:
    """An event as Asterisk writes it; `body` is its fields' lines."""
    stamp = f"Timestamp: {at:.6f}\n" if at is not None else ""
    return f"Event: {name}\nPrivilege: {privilege}\n{stamp}{body}\n"


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
