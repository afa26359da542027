"""The feed's ready-made websocket frame reads back, as another implementation (the
`websockets` library's parser) reads a server's frame, at every length encoding."""

from __future__ import annotations

import pytest
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from dispatch.ws_wire import text_frame


def _parsed(wire: bytes) -> Frame:
    reader = StreamReader()
    reader.feed_data(wire)
    reader.feed_eof()
    parser = Frame.parse(reader.read_exact, mask=False)
    try:
        next(parser)
    except StopIteration as done:
        parsed: Frame = done.value
        return parsed
    raise AssertionError("the frame was not whole")


@pytest.mark.store_independent
@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 70001])
def test_a_text_frame_of_any_length_reads_back_whole(size: int) -> None:
    payload = bytes(n % 251 for n in range(size))
    frame = _parsed(text_frame(payload))
    assert frame.opcode is Opcode.TEXT
    assert frame.fin
    assert frame.data == payload
