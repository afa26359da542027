"""The console's callback routes: "call now" and recording how the call went.

`POST /api/v1/requests/{id}/call` records the callback (dispatch.callback_actions) and then
places it: through the PBX when an adapter that can call back is enabled (the Asterisk AMI
one, found through `channels.registry.call_originator`) and the dispatcher has a
phone login (202 {"via": "pbx"}: their phone rings, then the passenger's), otherwise as a
`tel:` link the console opens (200 {"via": "tel"}). A PBX that is away or refuses falls back
to the link, saying why in `pbx_error`. `POST .../callback-outcome` records the outcome.
"""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

from channels.base import CallOriginator
from channels.registry import call_originator
from dispatch.appkeys import ADAPTERS
from dispatch.callback_actions import Callbacks, CallTarget
from hub.agent_auth import current_agent
from hub.appkeys import DATABASE, RELAY
from hub.error_codes import ErrorCode
from hub.errors import BadInput, NotFound, RetryLater
from hub.model import Agent
from hub.request_body import read_body
from hub.request_models import CallbackOutcomeInput


def _request_id(request: web.Request) -> uuid.UUID:
    try:
        return uuid.UUID(request.match_info["request_id"])
    except ValueError as exc:
        raise NotFound(ErrorCode.REQUEST_NOT_FOUND) from exc


def _callbacks(request: web.Request) -> Callbacks:
    return Callbacks(request.app[DATABASE], request.app[RELAY])


async def call_now(request: web.Request) -> web.Response:
    agent = await current_agent(request)
    target = await _callbacks(request).call(_request_id(request), agent)
    answer: dict[str, Any] = {"request": target.request, "number": target.number}
    pbx = call_originator(request.app[ADAPTERS].values())
    if pbx is not None and agent.phone_login:
        try:
            action_id = await _originate(pbx, agent, target)
        except (RetryLater, BadInput) as exc:
            answer["pbx_error"] = exc.reason
        else:
            return web.json_response({**answer, "via": "pbx", "action_id": action_id},
                                     status=202)
    return web.json_response({**answer, "via": "tel", "tel": f"tel:{target.number}"})


async def _originate(pbx: CallOriginator, agent: Agent, target: CallTarget) -> str:
    assert agent.phone_login is not None
    return await pbx.originate(extension=agent.phone_login, number=target.number,
                               reference=target.reference)


async def callback_outcome(request: web.Request) -> web.Response:
    agent = await current_agent(request)
    body = await read_body(request, CallbackOutcomeInput)
    outcome, note = body.outcome, body.note
    summary = await _callbacks(request).record_outcome(_request_id(request), agent, outcome,
                                                       note)
    return web.json_response({"request": summary, "outcome": outcome.value})


def routes() -> list[web.RouteDef]:
    base = "/api/v1/requests/{request_id}"
    return [web.post(f"{base}/call", call_now),
            web.post(f"{base}/callback-outcome", callback_outcome)]
