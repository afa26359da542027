"""Who else has a request open, and who is writing on it: so two dispatchers do not answer
the same passenger at once.

An open console says it is viewing a request every `REFRESH_S` (and when its dispatcher
starts or stops typing); each says so for `LAPSE_S`. Colleagues' consoles get every change
as a presence frame (`request.viewers`), with when each viewer lapses, and hide a viewer
whose console stopped saying so.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from aiohttp import web
from redis.asyncio import Redis
from sqlalchemy import select

from hub import schema
from hub.agent_auth import current_agent
from hub.appkeys import DATABASE, KEYS, REDIS
from hub.error_codes import ErrorCode
from hub.errors import NotFound
from hub.events import EventType
from hub.keys import Keys
from hub.model import Agent, Role
from hub.request_body import read_body
from hub.request_models import Viewing

REFRESH_S = 15.0  # the console says it is still there this often (web/console/viewers.js)
LAPSE_S = 40.0  # a viewer not heard from this long is gone


class Viewers:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys

    async def see(self, request_id: uuid.UUID, agent: Agent, *, typing: bool) -> list[Any]:
        """The agent views (and maybe types on) the request; announces who views it now."""
        key = self._keys.viewers(str(request_id))
        entry = json.dumps({"name": agent.name, "typing": typing,
                            "until": time.time() + LAPSE_S})
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, str(agent.id), entry)
            pipe.expire(key, int(LAPSE_S) * 2)
            await pipe.execute()
        return await self._announce(request_id)

    async def leave(self, request_id: uuid.UUID, agent: Agent) -> list[Any]:
        await self._redis.hdel(self._keys.viewers(str(request_id)), str(agent.id))
        return await self._announce(request_id)

    async def _announce(self, request_id: uuid.UUID) -> list[Any]:
        key = self._keys.viewers(str(request_id))
        now = time.time()
        found, lapsed = [], []
        for agent_id, raw in (await self._redis.hgetall(key)).items():
            entry = json.loads(raw)
            if entry["until"] <= now:
                lapsed.append(agent_id)
            else:
                found.append({"id": _text(agent_id), **entry})
        if lapsed:
            await self._redis.hdel(key, *lapsed)
        found.sort(key=lambda v: v["name"])
        await self._redis.publish(self._keys.presence_changes, json.dumps({
            "type": EventType.REQUEST_VIEWERS, "request_id": str(request_id), "viewers": found,
        }, separators=(",", ":")))
        return found


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def _viewed(request: web.Request) -> tuple[uuid.UUID, Agent]:
    """The request (which the agent may see) and the agent."""
    agent = await current_agent(request)
    try:
        request_id = uuid.UUID(request.match_info["request_id"])
    except ValueError as exc:
        raise NotFound(ErrorCode.REQUEST_NOT_FOUND) from exc
    r = schema.contact_requests
    async with request.app[DATABASE].read() as conn:
        holder = (await conn.execute(select(r.c.assigned_agent_id).where(r.c.id == request_id))
                  ).first()
    if holder is None or (agent.role is Role.EXTERNAL and holder.assigned_agent_id != agent.id):
        raise NotFound(ErrorCode.REQUEST_NOT_FOUND)
    return request_id, agent


async def viewing(request: web.Request) -> web.Response:
    """PUT {"typing": bool}: this dispatcher has the request open (and is writing or not)."""
    request_id, agent = await _viewed(request)
    typing = request.body_exists and (await read_body(request, Viewing)).typing
    found = await Viewers(request.app[REDIS].client, request.app[KEYS]).see(
        request_id, agent, typing=typing)
    return web.json_response({"viewers": found, "refresh_s": REFRESH_S})


async def stop_viewing(request: web.Request) -> web.Response:
    request_id, agent = await _viewed(request)
    found = await Viewers(request.app[REDIS].client, request.app[KEYS]).leave(request_id, agent)
    return web.json_response({"viewers": found})


def routes() -> list[web.RouteDef]:
    path = "/api/v1/requests/{request_id}/viewers/me"
    return [web.put(path, viewing), web.delete(path, stop_viewing)]
