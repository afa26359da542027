"""Login, logout and the current dispatcher, for the console's API and websocket."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from aiohttp import web

from dispatch.sessions import COOKIE_NAME
from hub import audit
from hub.agents import agent_json, find_login, get_agent
from hub.appkeys import DATABASE, KEYS, REDIS, SESSIONS, SETTINGS, TRUSTED_PROXIES
from hub.client_address import client_address
from hub.errors import BadInput, Forbidden
from hub.model import Agent, Role
from hub.passwords import verify_password
from hub.request_body import read_json_object
from hub.text import is_storable

AGENT = web.RequestKey("agent", Agent)
MAX_FAILED_LOGINS = 10
FAILED_LOGIN_WINDOW_S = 15 * 60


def origin_allowed(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    if origin is None:
        return True  # not a browser: nothing to forge, the session cookie still decides
    settings = request.app[SETTINGS]
    allowed = set(settings.console.allowed_origins)
    if settings.http.public_url:
        parts = urlsplit(settings.http.public_url)
        allowed.add(f"{parts.scheme}://{parts.netloc}")
    if origin in allowed:
        return True
    return urlsplit(origin).netloc == request.host


async def current_agent(request: web.Request) -> Agent:
    """The logged-in agent, or 401. Cached on the request.

    A call that changes something must come from the hub's own pages (or an allowed
    origin): SameSite=Strict does not stop a form on a sibling subdomain.
    """
    if request.method not in ("GET", "HEAD") and not origin_allowed(request):
        raise web.HTTPForbidden(text=json.dumps({"error": "origin not allowed"}),
                                content_type="application/json")
    cached = request.get(AGENT)
    if cached is not None:
        return cached
    token = request.cookies.get(COOKIE_NAME, "")
    agent_id = await request.app[SESSIONS].agent_of(token)
    agent = None
    if agent_id is not None:
        async with request.app[DATABASE].read() as conn:
            agent = await get_agent(conn, agent_id)
    if agent is None or not agent.active:
        raise web.HTTPUnauthorized(
            text=json.dumps({"error": "log in first"}), content_type="application/json"
        )
    request[AGENT] = agent
    return agent


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


async def require_admin(request: web.Request) -> Agent:
    """The logged-in agent if an admin; 403 for team and external users."""
    agent = await current_agent(request)
    if agent.role is not Role.ADMIN:
        raise Forbidden("admins only")
    return agent


async def require_centre(request: web.Request, refusal: str) -> Agent:
    """The logged-in agent if one of the centre's own (team or admin); 403 with `refusal`
    for an external user."""
    agent = await current_agent(request)
    if agent.role is Role.EXTERNAL:
        raise Forbidden(refusal)
    return agent
