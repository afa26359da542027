"""The audit trail's hash chain: how one entry is sealed, and how a run of entries is checked.

Each entry stores `prev_hash` (the `hash` of the entry before it, in id order) and `hash`,
the SHA-256 over a canonical serialisation of its own fields and `prev_hash`. Changing any
field of a stored entry, removing an entry from the middle, or reordering entries breaks
the chain at the first entry touched, and `taxiconnect audit verify` names it.

The first entry ever written has `GENESIS` as its previous hash. The purge (hub.purge)
deletes the oldest entries past `retention.audit_days`, always a run from the start of the
chain, so after a purge the chain starts at the oldest entry kept: its stored `prev_hash`
(the hash of the last entry purged) is taken as the anchor, and the check starts there. What
a purge removed is beyond checking; the `retention.purge` entry it writes says how many, and
names the start it left (`audit_from`: id and previous hash). A chain that starts anywhere
but GENESIS or a start some purge entry names had entries deleted from its start by other
means, and that is reported as a break at the first entry. (A purge stopped before writing
its entry leaves such a start too; the next purge run names it.)

The chain shows a change to one entry; someone able to write the database could still
recompute every hash after it. `audit verify` therefore prints the head (the newest entry's
id and hash): noted outside the database, it shows such a rewrite at a later verify.

This module is pure: no database, no clock.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64  # the previous hash of the very first entry
PURGE_ACTION = "retention.purge"  # its detail's `audit_from` names the start a purge left
FORMAT_VERSION = 1  # part of what is hashed: a change of serialisation cannot pass as the old


@dataclass(frozen=True, slots=True)
class Entry:
    """One audit entry as stored."""

    id: int
    at: datetime
    agent_id: uuid.UUID | None
    action: str
    subject: str | None
    address: str | None
    detail: Mapping[str, Any]
    prev_hash: str
    hash: str


def _time(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def seal(*, id: int, at: datetime, agent_id: uuid.UUID | None, action: str,
         subject: str | None, address: str | None, detail: Mapping[str, Any],
         prev_hash: str) -> str:
    """The hash of an entry with these fields, chained to `prev_hash`."""
    canonical = json.dumps(
        [FORMAT_VERSION, id, _time(at), str(agent_id) if agent_id else None, action, subject,
         address, detail, prev_hash],
        sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def entry_hash(entry: Entry) -> str:
    return seal(id=entry.id, at=entry.at, agent_id=entry.agent_id, action=entry.action,
                subject=entry.subject, address=entry.address, detail=entry.detail,
                prev_hash=entry.prev_hash)


@dataclass(frozen=True, slots=True)
class Break:
    """The first broken link: which entry, and what is wrong with it."""

    entry_id: int
    reason: str


class ChainWalk:
    """Feed entries in id order; the first break is kept, later entries are only counted."""

    def __init__(self) -> None:
        self.count = 0
        self.first_id: int | None = None
        self.anchored = False  # the chain starts after purged entries, not at GENESIS
        self.broken: Break | None = None
        self._last: Entry | None = None
        self._start: tuple[int, str] | None = None
        self._purge_starts: set[tuple[int, str]] = set()

    def feed(self, entries: Iterable[Entry]) -> None:
        for entry in entries:
            self.count += 1
            if self.broken is None:
                self.broken = self._check(entry)
            self._last = entry
            start = entry.detail.get("audit_from") if entry.action == PURGE_ACTION else None
            if isinstance(start, dict) and isinstance(start.get("id"), int):
                self._purge_starts.add((start["id"], str(start.get("prev_hash"))))

    def finish(self) -> None:
        """After the last entry: a start after purged entries must be one a purge left."""
        if self.anchored and self._start not in self._purge_starts:
            self.broken = Break(self.first_id or 0, "the chain starts after entries that no "
                                                    "purge removed: entries before it were "
                                                    "deleted by other means")

    def _check(self, entry: Entry) -> Break | None:
        last = self._last
        if last is None:
            self.first_id = entry.id
            self.anchored = entry.prev_hash != GENESIS
            self._start = (entry.id, entry.prev_hash)
        elif entry.prev_hash != last.hash:
            return Break(entry.id, f"its previous hash does not match entry {last.id}'s hash: "
                                   f"an entry between them was removed, or one was changed")
        if entry_hash(entry) != entry.hash:
            return Break(entry.id, "its contents do not match its hash: the entry was changed "
                                   "after it was written")
        return None

    def summary(self) -> str:
        if self.broken is not None:
            return (f"chain broken at entry {self.broken.entry_id}: {self.broken.reason} "
                    f"({self.count} entries checked)")
        start = ""
        if self.anchored:
            start = (f", starting at entry {self.first_id} (older entries were purged past "
                     f"their retention)")
        # Someone able to write the database could recompute every hash after a forged entry;
        # the head noted outside it (a ticket, the operator's log) shows such a rewrite later.
        head = f"; head: entry {self._last.id} {self._last.hash}" if self._last else ""
        return f"{self.count} entries, chain intact{start}{head}"
