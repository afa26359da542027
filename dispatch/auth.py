"""Login, logout and who is logged in, for the console's API (checking a session is
`hub.agent_auth`'s)."""

from __future__ import annotations

import json

from aiohttp import web

from hub import audit
from hub.agent_auth import current_agent
from hub.agents import agent_json, find_login
from hub.appkeys import DATABASE, KEYS, REDIS, SESSIONS, SETTINGS, TRUSTED_PROXIES
from hub.client_address import client_address
from hub.errors import BadInput
from hub.passwords import verify_password
from hub.request_body import read_json_object
from hub.sessions import COOKIE_NAME
from hub.text import is_storable

MAX_FAILED_LOGINS = 10
FAILED_LOGIN_WINDOW_S = 15 * 60


async def login(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    login_name = body.get("login")
    password = body.get("password")
    if not isinstance(login_name, str) or not isinstance(password, str):
        raise BadInput("login and password are required",
                       {"login": "required", "password": "required"})
    login_name = login_name.strip().lower()[:64]
    if not is_storable(login_name) or not is_storable(password):
        raise web.HTTPUnauthorized(text=json.dumps({"error": "wrong login or password"}),
                                   content_type="application/json")
    redis = request.app[REDIS].client
    # Counted per login and address: a stranger's guesses do not lock a dispatcher out.
    remote = client_address(request, request.app[TRUSTED_PROXIES])
    failures_key = request.app[KEYS].login_failures(login_name, remote)
    if int(await redis.get(failures_key) or 0) >= MAX_FAILED_LOGINS:
        raise web.HTTPTooManyRequests(
            text=json.dumps({"error": "too many failed logins; try again later"}),
            content_type="application/json",
            headers={"Retry-After": str(FAILED_LOGIN_WINDOW_S)},
        )
    db = request.app[DATABASE]
    async with db.read() as conn:
        found = await find_login(conn, login_name)
    valid = await verify_password(found[1] if found else None, password)
    if not valid or found is None:
        async with redis.pipeline(transaction=True) as pipe:
            await pipe.incr(failures_key).expire(failures_key, FAILED_LOGIN_WINDOW_S).execute()
        async with db.write() as conn:
            await audit.record(conn, "login.failed", agent_id=found[0].id if found else None,
                               detail={"remote": remote})
        raise web.HTTPUnauthorized(text=json.dumps({"error": "wrong login or password"}),
                                   content_type="application/json")
    agent = found[0]
    await redis.delete(failures_key)
    sessions = request.app[SESSIONS]
    token = await sessions.create(agent.id)
    async with db.write() as conn:
        await audit.record(conn, "login", agent_id=agent.id,
                           detail={"remote": remote})
    response = web.json_response({"agent": agent_json(agent)})
    settings = request.app[SETTINGS]
    response.set_cookie(
        COOKIE_NAME, token, httponly=True, samesite="Strict", path="/",
        max_age=sessions.ttl_s,
        secure=settings.console.cookie_secure or settings.http.public_url.startswith("https:"),
    )
    return response


async def logout(request: web.Request) -> web.Response:
    agent = await current_agent(request)
    await request.app[SESSIONS].end(request.cookies.get(COOKIE_NAME, ""))
    async with request.app[DATABASE].write() as conn:
        await audit.record(conn, "logout", agent_id=agent.id)
    response = web.json_response({"ok": True})
    response.del_cookie(COOKIE_NAME, path="/")
    return response


async def me(request: web.Request) -> web.Response:
    agent = await current_agent(request)
    return web.json_response({"agent": agent_json(agent)})
