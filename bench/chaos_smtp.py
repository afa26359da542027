"""The chaos bench's mail server on the other end: one SMTP session per mail, as a sending
server holds it (EHLO, MAIL FROM, RCPT TO, DATA), on asyncio streams so that hundreds of
sessions can wait on a hub that is down without a thread each.

Only what the bench needs: no TLS, no AUTH, one recipient. The answer to DATA (250 =
the hub took the mail) is what counts as acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib

CRLF = b"\r\n"
HELO_NAME = "mail.passenger.example"
MAX_REPLY_LINES = 100


class SmtpClosed(ConnectionError):
    """The server closed the session before it finished its reply."""


async def send_mail(host: str, port: int, sender: str, recipient: str,
                    raw: bytes) -> tuple[int, str]:
    """One mail in one session: the code and text of the first reply that was not the one
    the step expects, or of the answer to the mail's data (250 when taken)."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        code, text = await _reply(reader)
        if code != 220:
            return code, text
        for command, expected in ((f"EHLO {HELO_NAME}", 250), (f"MAIL FROM:<{sender}>", 250),
                                  (f"RCPT TO:<{recipient}>", 250), ("DATA", 354)):
            writer.write(command.encode("ascii") + CRLF)
            code, text = await _reply(reader)
            if code != expected:
                return code, text
        writer.write(dot_stuffed(raw) + b"." + CRLF)
        code, text = await _reply(reader)
        writer.write(b"QUIT" + CRLF)
        return code, text
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


def dot_stuffed(raw: bytes) -> bytes:
    """The mail's lines with CRLF endings, a leading dot doubled (RFC 5321 4.5.2), ending
    in CRLF: ready for the terminating `.`."""
    lines = raw.replace(b"\r\n", b"\n").split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return b"".join((b"." + line if line.startswith(b".") else line) + CRLF for line in lines)


async def _reply(reader: asyncio.StreamReader) -> tuple[int, str]:
    """A reply, multi-line ones (`250-...`) read to their last line."""
    texts: list[str] = []
    for _ in range(MAX_REPLY_LINES):
        line = await reader.readline()
        if not line.endswith(b"\n") or len(line) < 4 or not line[:3].isdigit():
            raise SmtpClosed(f"SMTP session ended: {line[:80]!r}")
        texts.append(line[4:].decode("utf-8", "replace").strip())
        if line[3:4] != b"-":
            return int(line[:3]), " ".join(texts)
    raise SmtpClosed("SMTP reply of too many lines")
