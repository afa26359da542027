"""The Asterisk Manager Interface wire format, parsed and written without any I/O.

A packet is `Key: Value` lines, CRLF-terminated, ended by a blank line; its first line is
`Action:` (client to server) or `Response:` / `Event:` (server to client); keys may repeat
(`Output:` lines of a command's answer) and are joined with a newline. Before any packet the
server greets with one line, `Asterisk Call Manager/5.0.3`. The legacy answer to
`Action: Command` (`Response: Follows`) carries the command's raw output, blank lines
included, up to a line ending in `--END COMMAND--`: it is kept whole under `Output`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

GREETING_PREFIX = "Asterisk Call Manager/"
END_COMMAND = "--END COMMAND--"
MAX_LINE_BYTES = 64 * 1024  # no AMI line comes near; a peer sending more is not Asterisk
MAX_PACKET_LINES = 10_000
FOLLOWS_HEADERS = frozenset({"privilege", "actionid", "message"})
HEADER = re.compile(r"^([A-Za-z0-9_()\-.]+):\s?(.*)$")

Packet = dict[str, str]


class AmiProtocolError(ValueError):
    """The peer does not speak AMI (an endless line, a packet without end)."""


class AmiParser:
    """Turns the bytes of one connection into packets; feed it whatever arrived."""

    def __init__(self) -> None:
        self.greeting: str | None = None
        self._buffer = b""
        self._seen_line = False
        self._packet: Packet = {}
        self._lines = 0
        self._output: list[str] | None = None  # inside a `Response: Follows`

    def feed(self, data: bytes) -> list[Packet]:
        """Packets completed by `data`, in order."""
        self._buffer += data
        packets: list[Packet] = []
        while True:
            line, newline, rest = self._buffer.partition(b"\n")
            if not newline:
                if len(self._buffer) > MAX_LINE_BYTES:
                    raise AmiProtocolError("a line longer than any AMI line")
                return packets
            self._buffer = rest
            done = self._line(line.rstrip(b"\r").decode("utf-8", "replace"))
            if done is not None:
                packets.append(done)

    def _line(self, text: str) -> Packet | None:
        if not self._seen_line:
            self._seen_line = True
            if text.startswith(GREETING_PREFIX):
                self.greeting = text
                return None
        if self._output is not None:
            return self._follows_line(text, self._output)
        if not text.strip():
            return self._finish()
        self._lines += 1
        if self._lines > MAX_PACKET_LINES:
            raise AmiProtocolError("a packet that never ends")
        header = HEADER.match(text)
        if header is None:
            return None  # not a header line: nothing any packet is read for
        key, value = header.groups()
        self._add(key, value)
        if self._lines == 1 and key == "Response" and value == "Follows":
            self._output = []
        return None

    def _follows_line(self, text: str, output: list[str]) -> Packet | None:
        header = HEADER.match(text)
        if not output and header and header.group(1).lower() in FOLLOWS_HEADERS:
            self._add(*header.groups())
            return None
        if text.rstrip().endswith(END_COMMAND):
            last = text.rstrip()[: -len(END_COMMAND)]
            if last:
                output.append(last)
            self._packet["Output"] = "\n".join(output)
            self._output = None
            return self._finish()
        output.append(text)
        if len(output) > MAX_PACKET_LINES:
            raise AmiProtocolError("command output that never ends")
        return None

    def _add(self, key: str, value: str) -> None:
        previous = self._packet.get(key)
        self._packet[key] = value if previous is None else f"{previous}\n{value}"

    def _finish(self) -> Packet | None:
        packet, self._packet, self._lines = self._packet, {}, 0
        return packet or None


def encode_action(action: str, fields: Mapping[str, str]) -> bytes:
    """One action packet. A line break inside a value would smuggle in another header."""
    lines = [f"Action: {action}", *(f"{key}: {value}" for key, value in fields.items())]
    if any("\r" in line or "\n" in line for line in lines):
        raise ValueError("an AMI header cannot contain a line break")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")
