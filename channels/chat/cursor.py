"""Where one socket is in its visitor's conversation: the lines it has sent (or the widget
has of its own), and from when the next catch-up must read. Pure; no I/O.

The next read starts `SLACK` before the newest line sent: a reply committed a moment late
can carry an earlier time than a line already sent. What was sent is remembered by id, so
that window repeats nothing. A closed chat starts the conversation afresh at its close.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta

from hub.chat_conversations import Line, Position

SLACK = timedelta(seconds=5)


class Cursor:
    def __init__(self, closed_at: datetime | None = None) -> None:
        self.closed_at = closed_at
        self.position: Position | None = None
        self._sent: dict[uuid.UUID, datetime] = {}

    def since(self) -> datetime | None:
        """The earliest time the next read must include."""
        start = self.position[0] - SLACK if self.position is not None else None
        if self.closed_at is None:
            return start
        return max(start, self.closed_at) if start is not None else self.closed_at

    def resume(self, seen: Position | None) -> datetime | None:
        """A reconnecting widget has everything up to `seen`: where its history starts."""
        if seen is not None:
            self.position = seen
        return self.since()

    def remember(self, message_id: uuid.UUID, at: datetime) -> None:
        self._sent[message_id] = at
        if self.position is None or (at, message_id) > self.position:
            self.position = (at, message_id)

    def fresh(self, lines: Iterable[Line], known_up_to: Position | None = None) -> list[Line]:
        """The lines not sent yet (nor older than `known_up_to`), now counted as sent."""
        found = []
        for line in lines:
            known = known_up_to is not None and line.position <= known_up_to
            closed = self.closed_at is not None and line.at < self.closed_at
            if line.id not in self._sent and not known and not closed:
                found.append(line)
            self.remember(line.id, line.at)
        if self.position is not None:
            horizon = self.position[0] - 2 * SLACK
            self._sent = {k: at for k, at in self._sent.items() if at >= horizon}
        return found

    def close(self, at: datetime) -> None:
        """The chat was closed: what follows is a new conversation."""
        self.closed_at = at
        self._sent.clear()
