"""The active service notice a channel gives a passenger in its own answer (the web form's
confirmation, the phone's greeting), once per passenger: hub.notices decides and records it;
this lends that to the channels without lending them the database."""

from __future__ import annotations

import uuid

from hub.database import Database
from hub.model import Channel, Notice
from hub.notices import NoticeBoard, notice_for


class PassengerNotices:
    def __init__(self, db: Database, board: NoticeBoard) -> None:
        self._db = db
        self._board = board

    async def once(self, channel: Channel, request_id: uuid.UUID | None) -> Notice | None:
        """The notice for this passenger; None when there is none or they have had it."""
        return await notice_for(self._db, self._board, channel, request_id)
