"""A websocket text frame as the wire carries it from a server (RFC 6455 section 5.2): the
same bytes for every console, since a server's frames are not masked. The feed builds one
per batch and hands it to each console's socket as it is."""

from __future__ import annotations

import struct

FIN_TEXT = 0x81  # FIN bit and opcode 1 (text)


def text_frame(payload: bytes) -> bytes:
    size = len(payload)
    if size < 126:
        header = bytes((FIN_TEXT, size))
    elif size < 1 << 16:
        header = struct.pack("!BBH", FIN_TEXT, 126, size)
    else:
        header = struct.pack("!BBQ", FIN_TEXT, 127, size)
    return header + payload
