"""Login, logout and who is logged in, for the console's API (checking a session is
`hub.agent_auth`'s)."""

from __future__ import annotations

import json

from aiohttp import web

from dispatch.login_limits import LoginLimits
from hub.agent_auth import current_agent, origin_allowed
from hub.agents import agent_json, find_login
from hub.appkeys import DATABASE, KEYS, REDIS, SESSIONS, SETTINGS, TRUSTED_PROXIES
from hub.audit_web import record_access
from hub.client_address import client_address
from hub.error_codes import ErrorCode, answer
from hub.passwords import verify_password
from hub.request_body import read_body
from hub.request_models import Login
from hub.sessions import COOKIE_NAME
from hub.text import is_storable

UNSTORABLE_WINDOW_S = 60  # a login that cannot be stored is audited once a minute per address


async def login(request: web.Request) -> web.Response:
    if not origin_allowed(request):  # login CSRF: a foreign page logging a browser in
        raise web.HTTPForbidden(text=json.dumps(answer(ErrorCode.ORIGIN_NOT_ALLOWED.of())),
                                content_type="application/json")
    body = await read_body(request, Login)
    login_name, password = body.login.strip().lower()[:64], body.password
    limits = LoginLimits(request.app[REDIS].client, request.app[KEYS])
    remote = client_address(request, request.app[TRUSTED_PROXIES])
    if not is_storable(login_name) or not is_storable(password):
        # What was tried cannot be stored as it is; that something was tried can, once a
        # minute per address.
        if await limits.first_refusal("", remote, UNSTORABLE_WINDOW_S):
            await record_access(request, "login.failed", agent_id=None, detail={
                "login": login_name if is_storable(login_name) else None,
                "reason": "unstorable"})
        raise web.HTTPUnauthorized(text=json.dumps(answer(ErrorCode.LOGIN_FAILED.of())),
                                   content_type="application/json")
    if wait_s := await limits.wait_s(login_name, remote):
        if await limits.first_refusal(login_name, remote, wait_s):
            await record_access(request, "login.failed", agent_id=None, detail={
                "login": login_name, "reason": "throttled", "wait_s": wait_s})
        raise web.HTTPTooManyRequests(
            text=json.dumps({**answer(ErrorCode.LOGIN_THROTTLED.of()), "retry_after_s": wait_s}),
            content_type="application/json", headers={"Retry-After": str(wait_s)})
    db = request.app[DATABASE]
    async with db.read() as conn:
        found = await find_login(conn, login_name)
    valid = await verify_password(found[1] if found else None, password)
    if not valid or found is None:
        await limits.failed(login_name, remote)
        target = found[0].id if found else None
        await record_access(request, "login.failed", agent_id=target,
                            subject=str(target) if target else None,
                            detail={"login": login_name, "reason": "wrong"})
        raise web.HTTPUnauthorized(text=json.dumps(answer(ErrorCode.LOGIN_FAILED.of())),
                                   content_type="application/json")
    agent = found[0]
    await limits.succeeded(login_name, remote)
    sessions = request.app[SESSIONS]
    token = await sessions.create(agent.id)
    await record_access(request, "login", agent_id=agent.id, subject=str(agent.id),
                        detail={"login": login_name})
    response = web.json_response({"agent": agent_json(agent)})
    settings = request.app[SETTINGS]
    response.set_cookie(
        COOKIE_NAME, token, httponly=True, samesite="Strict", path="/",
        max_age=sessions.ttl_s,
        secure=settings.console.cookie_secure or settings.http.tls
        or settings.http.public_url.startswith("https:"),
    )
    return response


async def logout(request: web.Request) -> web.Response:
    agent = await current_agent(request)
    await request.app[SESSIONS].end(request.cookies.get(COOKIE_NAME, ""))
    await record_access(request, "logout", agent_id=agent.id, subject=str(agent.id))
    response = web.json_response({"ok": True})
    response.del_cookie(COOKIE_NAME, path="/")
    return response


async def me(request: web.Request) -> web.Response:
    agent = await current_agent(request)
    return web.json_response({"agent": agent_json(agent)})
