"""The IMAP poller: takes new mail from one mailbox, each message exactly once.

The mailbox's position (UIDVALIDITY, last UID taken) is kept in the database and moved on
only after the mail is committed, so a crash re-fetches at most the mail in flight, which
ingest recognises by its Message-ID. A changed UIDVALIDITY (the mailbox was recreated) means
the old UIDs say nothing: the poller starts over and ingest drops what it already has.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from channels.email.imap_client import ImapAccount, MailboxClient, mask_user
from hub.channel_state import ChannelState
from hub.clock import utcnow
from hub.errors import BadInput, OperatorMustAct, RetryLater

log = logging.getLogger(__name__)

Accept = Callable[[bytes, Sequence[str], str | None], Awaitable[None]]  # raw, to, sender
MAX_BACKOFF_S = 300.0


class ImapPoller:
    def __init__(self, account: ImapAccount, state: ChannelState, accept: Accept, *,
                 poll_s: float) -> None:
        self._account = account
        self._state = state
        self._accept = accept
        self._poll_s = poll_s
        self.name = f"{account.user}@{account.host}:{account.port}/{account.mailbox}"
        self.taken = 0
        self.refused = 0
        self.errors = 0
        self.connected = False
        self.last_error: str | None = None
        self.last_error_at: datetime | None = None
        self.last_poll_at: datetime | None = None

    def __repr__(self) -> str:
        return (f"<ImapPoller {mask_user(self._account.user)}@{self._account.host} "
                f"taken={self.taken} refused={self.refused} errors={self.errors}>")

    def report(self) -> dict[str, Any]:
        """The poller's live state for the admin pages' channel status: JSON-ready, the
        login masked."""
        at = (self.last_error_at, self.last_poll_at)
        return {"mailbox": f"{mask_user(self._account.user)}@{self._account.host}/"
                           f"{self._account.mailbox}",
                "connected": self.connected, "taken": self.taken, "refused": self.refused,
                "errors": self.errors, "last_error": self.last_error,
                "last_error_at": at[0].isoformat() if at[0] else None,
                "last_poll_at": at[1].isoformat() if at[1] else None}

    async def run(self) -> None:
        backoff = 1.0
        while True:
            try:
                async with MailboxClient(self._account) as client:
                    backoff = 1.0
                    self.connected = True
                    while True:
                        await self.poll_once(client)
                        await client.wait_for_news(self._poll_s)
            except (RetryLater, OperatorMustAct) as exc:
                self.errors += 1
                self.last_error, self.last_error_at = str(exc), utcnow()
                log.warning("IMAP %r: %s; trying again in %.0f s", self, exc, backoff)
            self.connected = False
            await asyncio.sleep(backoff)
            backoff = min(MAX_BACKOFF_S, backoff * 2)

    async def poll_once(self, client: MailboxClient) -> int:
        """Take every message above the stored position; returns how many were taken."""
        uidvalidity = await client.select()
        position = await self._state.mailbox_position(self.name)
        last_uid = position[1] if position and position[0] == uidvalidity else 0
        taken = 0
        for uid in await client.uids_after(last_uid):
            raw = await client.fetch(uid)
            if raw is not None:
                try:
                    await self._accept(raw, (), None)
                    taken += 1
                    await client.mark_taken(uid)
                except BadInput as exc:
                    # Left in the mailbox, seen, for a person to look at; never fetched again.
                    self.refused += 1
                    log.warning("IMAP %r: UID %d refused: %s", self, uid, exc.reason)
                    await client.mark_taken(uid, move=False)
            await self._state.save_mailbox_position(self.name, uidvalidity, uid)
        self.taken += taken
        self.last_poll_at = utcnow()
        return taken
