"""Closing the console sockets whose session has ended: logout, expiry, a disabled account,
or a changed role (the socket's feed was filtered for the old one).

One loop per process checks every socket together every `console.session_check_s`: one
Redis MGET of the sessions and one read of their agents. A check per socket (a Redis call
and a database read each) queued hundreds of reads at once after a restart, when every
console reconnects together and their checks stay in step, and the router's reads waited
behind them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref

from aiohttp import web
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from dispatch.sessions import Sessions
from hub.agents import get_agents
from hub.database import Database
from hub.model import Role

log = logging.getLogger(__name__)

CLOSE_SESSION_ENDED = 4401  # private-use close code: the console asks to log in again


class SessionWatch:
    def __init__(self, db: Database, sessions: Sessions, *, every_s: float) -> None:
        self._db = db
        self._sessions = sessions
        self._every_s = every_s
        self._watched: weakref.WeakKeyDictionary[web.WebSocketResponse, tuple[str, Role]] = (
            weakref.WeakKeyDictionary())
        self._stopping = asyncio.Event()
        self.closed = 0

    def __repr__(self) -> str:
        return f"<SessionWatch sockets={len(self._watched)} closed={self.closed}>"

    def watch(self, ws: web.WebSocketResponse, token: str, role: Role) -> None:
        self._watched[ws] = (token, role)

    def forget(self, ws: web.WebSocketResponse) -> None:
        self._watched.pop(ws, None)

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._every_s)
            if self._stopping.is_set():
                return
            try:
                await self.check()
            except (RedisError, SQLAlchemyError, OSError) as exc:
                log.warning("console sessions could not be checked: %s", exc)

    async def check(self) -> None:
        """Close every watched socket whose session or agent no longer allows it."""
        watched = [(ws, token, role) for ws, (token, role) in list(self._watched.items())
                   if not ws.closed]
        if not watched:
            return
        agent_ids = await self._sessions.agents_of([token for _, token, _ in watched])
        wanted = {agent_id for agent_id in agent_ids if agent_id is not None}
        async with self._db.read() as conn:
            agents = await get_agents(conn, wanted)
        for (ws, _, role), agent_id in zip(watched, agent_ids, strict=True):
            agent = agents.get(agent_id) if agent_id is not None else None
            if agent is None or not agent.active or agent.role is not role:
                self.forget(ws)
                self.closed += 1
                await ws.close(code=CLOSE_SESSION_ENDED, message=b"session ended")

