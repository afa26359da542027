"""Checking console sessions in batches.

Each console socket checks its session every `console.session_check_s` and closes itself
once the session has ended (logout, expiry, a disabled account, a changed role). Consoles
that connected together, as after a restart, stay in step: 500 of them asked Redis and the
database 500 times at once, and the router's reads queued behind them (bench/fanout.py:
event p99 ~450 ms). Checks that arrive within GATHER_S of each other now share one Redis
MGET and one read of the agents. The socket still closes itself, from its own task.
"""

from __future__ import annotations

import asyncio

from hub.agents import get_agents
from hub.database import Database
from hub.model import Agent
from hub.sessions import Sessions

GATHER_S = 0.05  # how long the first check of a round waits for the others


class SessionCheck:
    def __init__(self, db: Database, sessions: Sessions) -> None:
        self._db = db
        self._sessions = sessions
        self._waiting: dict[str, list[asyncio.Future[Agent | None]]] = {}
        self._round: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()  # held until done: never collected
        self.rounds = 0
        self.checks = 0

    def __repr__(self) -> str:
        return f"<SessionCheck rounds={self.rounds} checks={self.checks}>"

    async def agent(self, token: str) -> Agent | None:
        """The agent whose session `token` is, None once it has ended."""
        future: asyncio.Future[Agent | None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(token, []).append(future)
        if self._round is None:
            self._round = asyncio.create_task(self._run_round(), name="session check")
            self._running.add(self._round)
            self._round.add_done_callback(self._running.discard)
        return await future

    async def _run_round(self) -> None:
        await asyncio.sleep(GATHER_S)
        waiting, self._waiting, self._round = self._waiting, {}, None
        self.rounds += 1
        self.checks += sum(len(futures) for futures in waiting.values())
        try:
            found = await self._agents(list(waiting))
        except asyncio.CancelledError:
            _settle(waiting, None, cancelled=True)
            raise
        except Exception as exc:  # every waiting socket learns of the failure
            _settle(waiting, exc)
            return
        for token, futures in waiting.items():
            for future in futures:
                if not future.done():
                    future.set_result(found.get(token))

    async def _agents(self, tokens: list[str]) -> dict[str, Agent]:
        agent_ids = await self._sessions.agents_of(tokens)
        wanted = {agent_id for agent_id in agent_ids if agent_id is not None}
        async with self._db.read() as conn:
            agents = await get_agents(conn, wanted)
        return {token: agents[agent_id] for token, agent_id in zip(tokens, agent_ids, strict=True)
                if agent_id is not None and agent_id in agents}



def _settle(waiting: dict[str, list[asyncio.Future[Agent | None]]], error: Exception | None,
            *, cancelled: bool = False) -> None:
    for futures in waiting.values():
        for future in futures:
            if future.done():
                continue
            if cancelled:
                future.cancel()
            elif error is not None:
                future.set_exception(error)
