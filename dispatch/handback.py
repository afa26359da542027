"""Hand-back: a dispatcher who is not there returns their unanswered requests to the queue.

A dispatcher hands back when they set themselves offline (at once), or when every console of
theirs has been gone for `console.presence_grace_s` (found by the check every
`console.presence_check_s`, one loop per hub process). A disabled account hands back every
request it holds, answered or not: nobody can act on it any more.

**Unanswered** means: the request is `claimed` and assigned to the dispatcher, and since
they last took it (their latest claim or reply on it, or a transfer to them) they have
neither sent the passenger a reply (an outbound message with their agent id), nor answered
the passenger's call (a claim recorded as "answered call"), nor called them back ("call now", or
an outcome "reached"). Answered requests stay with them.

Each hand-back is hub.handling_take.hand_back, a conditional update on the request's
version, status and holder: of two processes handing back the same request exactly one
matches, and a reply that lands between the look and the update keeps the request where it
is.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.exc import SQLAlchemyError

from dispatch.presence import PresenceBoard
from hub import handling_take, schema
from hub.agents import get_agent
from hub.clock import utcnow
from hub.console_presence import PresenceState
from hub.database import Database
from hub.handling_calls import ANSWERED_CALL
from hub.model import HandlingAction, RequestStatus
from hub.outbox import OutboxRelay, OutboxRow

log = logging.getLogger(__name__)

r, m, he = schema.contact_requests, schema.messages, schema.handling_events

NOTE_CONSOLE_GONE = "palautettu jonoon: konsoli suljettu / handed back: console gone"
NOTE_OFFLINE = "palautettu jonoon: poissa / handed back: went offline"
NOTE_DISABLED = "palautettu jonoon: tunnus suljettu / handed back: account disabled"
HAND_BACK_ATTEMPTS = 3  # reads of what is due, when a request changed under the first


def held_query(agent_id: uuid.UUID) -> Any:
    """Ids and versions of every request the agent holds."""
    return (select(r.c.id, r.c.version)
            .where(r.c.status == RequestStatus.CLAIMED.value, r.c.assigned_agent_id == agent_id)
            .order_by(r.c.case_started_at))


def unanswered_query(agent_id: uuid.UUID) -> Any:
    """Ids and versions of the requests the agent holds unanswered (see the module's text)."""
    took = he.alias("took")
    taken = (
        select(func.max(took.c.at)).where(
            took.c.request_id == r.c.id,
            or_(and_(took.c.action.in_([HandlingAction.CLAIM.value,
                                        HandlingAction.REPLY.value]),
                     took.c.agent_id == agent_id),
                and_(took.c.action == HandlingAction.TRANSFER.value,
                     took.c.target_agent_id == agent_id)))
        .correlate(r).scalar_subquery()
    )
    replied = exists().where(
        m.c.request_id == r.c.id, m.c.direction == "outbound", m.c.agent_id == agent_id,
        or_(taken.is_(None), m.c.created_at >= taken))
    answered_call = exists().where(
        he.c.request_id == r.c.id, he.c.action == HandlingAction.CLAIM.value,
        he.c.note == ANSWERED_CALL, he.c.agent_id == agent_id,
        or_(taken.is_(None), he.c.at >= taken))
    called_back = exists().where(
        he.c.request_id == r.c.id, he.c.agent_id == agent_id,
        he.c.action.in_([HandlingAction.CALLBACK_CALL.value,
                         HandlingAction.CALLBACK_REACHED.value]),
        or_(taken.is_(None), he.c.at >= taken))
    return (select(r.c.id, r.c.version)
            .where(r.c.status == RequestStatus.CLAIMED.value, r.c.assigned_agent_id == agent_id,
                   ~replied, ~answered_call, ~called_back)
            .order_by(r.c.case_started_at))


class HandBack:
    """The per-process loop that finds lapsed consoles and hands their requests back."""

    def __init__(self, db: Database, relay: OutboxRelay, board: PresenceBoard, *,
                 grace_s: float, check_s: float) -> None:
        self._db = db
        self._relay = relay
        self._board = board
        self._grace_s = grace_s
        self._check_s = check_s
        self._stopping = asyncio.Event()
        self.handed_back = 0

    def __repr__(self) -> str:
        return f"<HandBack grace_s={self._grace_s} handed_back={self.handed_back}>"

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.check()
            except (RedisError, OSError, SQLAlchemyError) as exc:
                log.warning("presence check failed, retrying: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._check_s)

    async def check(self) -> None:
        """Announce dispatchers whose consoles are gone; hand back for those gone past the
        grace period and for those who chose offline."""
        presence = self._board.presence
        known = await presence.known_agents()
        for agent in await presence.mark_gone(known):
            await self._board.announce(uuid.UUID(agent))
        now = time.time()
        for agent, found in (await presence.of(known)).items():
            if found.online and found.chosen is PresenceState.OFFLINE:
                await self.hand_back(uuid.UUID(agent), NOTE_OFFLINE)
            elif not found.online and found.gone_at is not None \
                    and now - found.gone_at >= self._grace_s:
                await self.hand_back(uuid.UUID(agent), NOTE_CONSOLE_GONE)

    async def hand_back(self, agent_id: uuid.UUID, note: str, *,
                        answered_too: bool = False) -> list[str]:
        """Return the agent's unanswered requests (with `answered_too`, every request they
        hold) to the queue; the ids handed back."""
        query = held_query(agent_id) if answered_too else unanswered_query(agent_id)
        async with self._db.read() as conn:
            agent = await get_agent(conn, agent_id)
        if agent is None:
            return []
        now = utcnow()
        done: list[str] = []
        rows: list[OutboxRow] = []
        # A request changed between the read and the write (its version moved on: an
        # automatic answer, an event of its own) is read again and handed back then; one
        # no longer held or answered meanwhile drops out of the query.
        for _ in range(HAND_BACK_ATTEMPTS):
            async with self._db.read() as conn:
                due = [(request_id, version) for request_id, version
                       in (await conn.execute(query)).all() if str(request_id) not in done]
            if not due:
                break
            async with self._db.write() as conn:
                for request_id, version in due:
                    handed = await handling_take.hand_back(conn, request_id, version, agent,
                                                           note, at=now)
                    if handed is not None:
                        rows += handed.events
                        done.append(str(request_id))
        if rows:
            self._relay.notify(rows)
            self.handed_back += len(rows)
            log.info("handed %d request(s) of agent %s back to the queue", len(rows), agent_id)
            await self._board.announce(agent_id)
        return done
