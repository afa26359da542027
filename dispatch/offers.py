"""Offers: a waiting request is put to one available dispatcher, who alone may take it until
the offer expires; then it moves on to the next.

Two lane settings make offers (see `hub.lanes.Lane`):
- the **offer** strategy: the request goes to the longest-idle available dispatcher, and on a
  timeout or a decline to the next one who has not had it;
- a **last-dispatcher window**: a returning passenger's request goes first to the dispatcher
  who handled their previous request, if that was within the window and they are available
  (in a manual lane the request then waits in the shared queue if they do not take it).

Only dispatchers whose console is live and who chose "available" get offers, one offer at a
time, and none while they hold as many requests as the lane's capacity. Idle time counts from
their latest handling event or presence change, whichever is later.

One process makes a round at a time (a Redis lock); every offer, timeout and decline is
hub.handling_take's conditional update, handling event and console event in one transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from hub import handling_take, schema
from hub.agents import get_agent
from hub.clock import utcnow
from hub.console_presence import ConsolePresence, PresenceState
from hub.database import Database
from hub.handling import Handled
from hub.keys import Keys
from hub.lane_book import LaneBook
from hub.lanes import Lane, LanePlan, Strategy
from hub.model import HandlingAction, RequestStatus, Role
from hub.outbox import OutboxRelay

log = logging.getLogger(__name__)

r, he, agents = schema.contact_requests, schema.handling_events, schema.agents
ROUND_LIMIT = 200  # waiting requests considered per round, most urgent first
LOCK_MS = 10_000  # a round never takes this long; a dead process's lock lapses
TURNED_DOWN = (HandlingAction.OFFER_TIMEOUT.value, HandlingAction.DECLINE.value)
RELEASE_LOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@dataclass(slots=True)
class Candidate:
    """An available dispatcher as a round sees them."""

    id: uuid.UUID
    name: str
    idle_since: datetime
    holding: int
    offered: bool  # already holds an open offer


class Offers:
    def __init__(self, db: Database, relay: OutboxRelay, redis: Redis, keys: Keys,
                 lanes: LaneBook, *, check_s: float) -> None:
        self._db = db
        self._relay = relay
        self._redis = redis
        self._keys = keys
        self._lanes = lanes
        self._presence = ConsolePresence(redis, keys)
        self._check_s = check_s
        self._stopping = asyncio.Event()
        self._token = uuid.uuid4().hex
        self.offered = 0
        self.expired = 0

    def __repr__(self) -> str:
        return f"<Offers offered={self.offered} expired={self.expired}>"

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.round()
            except (RedisError, SQLAlchemyError, OSError) as exc:
                log.warning("offer round failed: %s; retrying", exc)
            except Exception:  # a bug must not end offers for the life of the process
                log.exception("offer round failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._check_s)

    async def round(self) -> None:
        plan = await self._lanes.current()
        offering = {key for key, lane in plan.lanes.items()
                    if lane.active and (lane.strategy is Strategy.OFFER
                                        or lane.last_agent_window_s > 0)}
        if not offering and not await self._any_open_offer():
            return
        if not await self._redis.set(self._keys.offer_round, self._token, nx=True,
                                     px=LOCK_MS):
            return
        try:
            available = await self._available_ids()
            await self._expire(available)
            if offering and available:
                await self._offer(plan, offering, available)
        finally:
            await self._redis.eval(RELEASE_LOCK, 1, self._keys.offer_round, self._token)

    async def _any_open_offer(self) -> bool:
        async with self._db.read() as conn:
            return (await conn.execute(
                select(r.c.id).where(r.c.offered_agent_id.is_not(None)).limit(1))
            ).first() is not None

    async def _available_ids(self) -> dict[str, float]:
        """Dispatchers with a live console who chose "available", with since when."""
        found = await self._presence.of(await self._presence.live_agents())
        return {agent: p.since or 0.0 for agent, p in found.items()
                if p.state is PresenceState.AVAILABLE}

    async def _expire(self, available: dict[str, float]) -> None:
        """Offers past their time, or to a dispatcher no longer available, move on."""
        now = utcnow()
        async with self._db.read() as conn:
            rows = (await conn.execute(
                select(r.c.id, r.c.offered_agent_id, r.c.offer_expires_at)
                .where(r.c.offered_agent_id.is_not(None))
            )).all()
        for row in rows:
            if row.offer_expires_at <= now or str(row.offered_agent_id) not in available:
                moved = await self.withdraw(row.id, row.offered_agent_id,
                                            HandlingAction.OFFER_TIMEOUT)
                self.expired += moved

    async def _offer(self, plan: LanePlan, offering: set[str],
                     available: dict[str, float]) -> None:
        now = utcnow()
        async with self._db.read() as conn:
            waiting = (await conn.execute(
                select(r.c.id, r.c.lane, r.c.contact_id)
                .where(r.c.status == RequestStatus.QUEUED.value,
                       r.c.offered_agent_id.is_(None), r.c.lane.in_(offering))
                .order_by(r.c.priority.desc(), r.c.queued_at, r.c.id).limit(ROUND_LIMIT)
            )).all()
            if not waiting:
                return
            candidates = await _candidates(conn, available)
            if not candidates:
                return
            ids = [row.id for row in waiting]
            turned_down = await _turned_down(conn, ids)
            previous = await _previous_handlers(conn, waiting, now, plan)
        for row in waiting:
            lane = plan.lane(row.lane)
            free = [c for c in candidates.values()
                    if not c.offered and c.id not in turned_down.get(row.id, set())
                    and (lane.capacity == 0 or c.holding < lane.capacity)]
            chosen = _choose(lane, free, previous.get(row.id), turned_down.get(row.id, set()))
            if chosen is None:
                continue
            if await self._make_offer(row.id, chosen, lane, now):
                chosen.offered = True
                self.offered += 1

    async def _make_offer(self, request_id: uuid.UUID, agent: Candidate, lane: Lane,
                          now: datetime) -> bool:
        expires = now + timedelta(seconds=lane.offer_timeout_s)
        async with self._db.write() as conn:
            found = await get_agent(conn, agent.id)
            done = (await handling_take.offer(conn, request_id, found, expires, at=now)
                    if found is not None else None)
        return self._told(done)

    async def withdraw(self, request_id: uuid.UUID, agent_id: uuid.UUID,
                       action: HandlingAction) -> bool:
        """End the agent's open offer on the request (a timeout or their decline)."""
        async with self._db.write() as conn:
            found = await get_agent(conn, agent_id)
            done = (await handling_take.withdraw_offer(conn, request_id, found, action,
                                                       at=utcnow())
                    if found is not None else None)
        return self._told(done)

    def _told(self, done: Handled | None) -> bool:
        if done is None:
            return False
        self._relay.notify(list(done.events))
        return True


def _choose(lane: Lane, free: list[Candidate], previous: uuid.UUID | None,
            turned_down: set[uuid.UUID]) -> Candidate | None:
    if previous is not None and previous not in turned_down:
        preferred = next((c for c in free if c.id == previous), None)
        if preferred is not None:
            return preferred
    if lane.strategy is not Strategy.OFFER or not free:
        return None
    return min(free, key=lambda c: (c.idle_since, str(c.id)))


async def _candidates(conn: AsyncConnection,
                      available: dict[str, float]) -> dict[uuid.UUID, Candidate]:
    ids = [uuid.UUID(a) for a in available]
    rows = (await conn.execute(
        select(agents.c.id, agents.c.name)
        .where(agents.c.id.in_(ids), agents.c.active.is_(True),
               agents.c.role != Role.EXTERNAL.value)
    )).all()
    if not rows:
        return {}
    wanted = [row.id for row in rows]
    last_event: dict[uuid.UUID, datetime] = {
        agent: at for agent, at in await conn.execute(
            select(he.c.agent_id, func.max(he.c.at)).where(he.c.agent_id.in_(wanted))
            .group_by(he.c.agent_id))}
    holding: dict[uuid.UUID, int] = {
        agent: count for agent, count in await conn.execute(
            select(r.c.assigned_agent_id, func.count())
            .where(r.c.assigned_agent_id.in_(wanted),
                   r.c.status == RequestStatus.CLAIMED.value)
            .group_by(r.c.assigned_agent_id))}
    offered = set((await conn.execute(
        select(r.c.offered_agent_id).where(r.c.offered_agent_id.in_(wanted))
    )).scalars())
    found: dict[uuid.UUID, Candidate] = {}
    for row in rows:
        since = datetime.fromtimestamp(available[str(row.id)], tz=utcnow().tzinfo)
        event_at = last_event.get(row.id)
        idle = max(since, event_at) if event_at is not None else since
        found[row.id] = Candidate(row.id, row.name, idle, holding.get(row.id, 0),
                                  row.id in offered)
    return found


async def _turned_down(conn: AsyncConnection,
                       request_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, set[uuid.UUID]]:
    """Who has let an offer of each request lapse or declined it: not offered it again."""
    rows = (await conn.execute(
        select(he.c.request_id, he.c.agent_id)
        .where(he.c.request_id.in_(list(request_ids)), he.c.action.in_(TURNED_DOWN))
    )).all()
    found: dict[uuid.UUID, set[uuid.UUID]] = {}
    for request_id, agent_id in rows:
        found.setdefault(request_id, set()).add(agent_id)
    return found


async def _previous_handlers(conn: AsyncConnection, waiting: Sequence[Any], now: datetime,
                             plan: LanePlan) -> dict[uuid.UUID, uuid.UUID]:
    """For requests in lanes with a last-dispatcher window: the dispatcher who last handled
    the same passenger's previous request, when that was within the window."""
    windows = {row.id: plan.lane(row.lane).last_agent_window_s for row in waiting}
    contacts = {row.contact_id for row in waiting if windows[row.id] > 0}
    if not contacts:
        return {}
    widest = max(windows.values())
    rows = (await conn.execute(
        select(r.c.id, r.c.contact_id, r.c.last_agent_id, r.c.updated_at)
        .where(r.c.contact_id.in_(contacts), r.c.last_agent_id.is_not(None),
               r.c.updated_at >= now - timedelta(seconds=widest))
        .order_by(r.c.updated_at.desc())
    )).all()
    found: dict[uuid.UUID, uuid.UUID] = {}
    for row in waiting:
        window = timedelta(seconds=windows[row.id])
        if not window:
            continue
        handled = next((p for p in rows if p.contact_id == row.contact_id
                        and p.id != row.id and now - p.updated_at <= window), None)
        if handled is not None:
            found[row.id] = handled.last_agent_id
    return found
