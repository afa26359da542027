"""Channel status for the admin pages: per enabled channel adapter, when it last brought a
message in, its last outbound delivery and that delivery's state, the deliveries it failed
in the last 24 hours with their latest reasons, and what the adapter itself knows of its
connection (the IMAP poller's errors, the Asterisk AMI login).

Admins only. No personal data: times, states and counts; a gateway's refusal reason can
quote the number or address it refused, so numbers and addresses in reasons are masked.
The adapter's live state is this process's: each hub process runs its own pollers.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatch.appkeys import ADAPTERS
from hub import schema
from hub.agent_auth import require_admin
from hub.appkeys import DATABASE
from hub.clock import utcnow
from hub.model import DeliveryState

m = schema.messages
d = schema.deliveries
calls = schema.calls

FAILED_WINDOW = timedelta(hours=24)
LATEST_REASONS = 3
# Adapters that share a channel tell their inbound traffic apart by what they store: the SMS
# gateways by details.gateway (channels/sms/*), the phone adapters by calls.provider
# (channels/phone/*_events.py, ami_calls.py). Any other adapter owns its channel alone.
SMS_GATEWAY = {"twilio_sms": "twilio", "vonage_sms": "vonage", "generic_sms": "generic"}
CALL_PROVIDER = {"phone_cti": "cti", "twilio_voice": "twilio", "asterisk_ami": "ami"}

_PHONE = re.compile(r"\+?\d[\d ()-]{5,}\d")
MIN_PHONE_DIGITS = 7  # fewer is a gateway's error code or a count, not a number
_EMAIL = re.compile(r"[^\s<>\"'@]+@([^\s<>\"'@]+\.[^\s<>\"'@]+)")


def mask_reason(reason: str) -> str:
    """A refusal reason without the number or address it may quote."""
    reason = _EMAIL.sub(lambda found: f"…@{found[1]}", reason)
    return _PHONE.sub(lambda found: "…" if sum(ch.isdigit() for ch in found[0])
                      >= MIN_PHONE_DIGITS else found[0], reason)


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


async def _last_inbound(conn: AsyncConnection, name: str, channel: str) -> datetime | None:
    if name in CALL_PROVIDER:
        last_call: datetime | None = await conn.scalar(
            select(func.max(calls.c.started_at))
            .where(calls.c.provider == CALL_PROVIDER[name], calls.c.direction == "in"))
        return last_call
    query = select(func.max(m.c.created_at)).where(m.c.channel == channel,
                                                   m.c.direction == "inbound")
    if name in SMS_GATEWAY:
        query = query.where(m.c.details["gateway"].as_string() == SMS_GATEWAY[name])
    found: datetime | None = await conn.scalar(query)
    return found


async def _last_outbound(conn: AsyncConnection, name: str) -> dict[str, Any] | None:
    row = (await conn.execute(
        select(d.c.state, d.c.attempts, d.c.created_at, d.c.updated_at)
        .where(d.c.adapter == name).order_by(d.c.created_at.desc(), d.c.id).limit(1)
    )).first()
    if row is None:
        return None
    return {"at": _iso(row.created_at), "state": row.state, "attempts": row.attempts,
            "state_at": _iso(row.updated_at)}


async def _failed(conn: AsyncConnection, name: str, since: datetime) -> dict[str, Any]:
    where = (d.c.adapter == name, d.c.state == DeliveryState.FAILED.value,
             d.c.updated_at >= since)
    count = await conn.scalar(select(func.count()).select_from(d).where(*where)) or 0
    rows = await conn.execute(select(d.c.updated_at, d.c.reason).where(*where)
                              .order_by(d.c.updated_at.desc()).limit(LATEST_REASONS))
    return {"count": count, "latest": [
        {"at": _iso(row.updated_at), "reason": mask_reason(row.reason or "")} for row in rows]}


def live_state(adapter: object) -> dict[str, Any]:
    """What the adapter knows right now that the database does not: a poller's or a PBX
    connection's errors. Empty for adapters that only answer webhooks."""
    state: dict[str, Any] = {}
    poller = getattr(adapter, "poller", None)
    if poller is not None and callable(getattr(poller, "report", None)):
        state["imap"] = poller.report()
    logged_in = getattr(adapter, "logged_in", None)
    if isinstance(logged_in, bool):
        state["ami"] = {"logged_in": logged_in, "connects": getattr(adapter, "connects", 0),
                        "lost": getattr(adapter, "lost", 0)}
    return state


def _problems(state: dict[str, Any]) -> list[str]:
    found = []
    imap = state.get("imap")
    if imap and not imap["connected"] and imap["errors"]:
        found.append(f"IMAP: {imap['last_error'] or 'not connected'}")
    ami = state.get("ami")
    if ami and not ami["logged_in"]:
        found.append("Asterisk AMI: not logged in")
    return found


def _health(problems: list[str], failed: int) -> str:
    if problems:
        return "error"
    return "warning" if failed else "ok"


async def channel_report(conn: AsyncConnection, adapters: dict[str, Any]
                         ) -> list[dict[str, Any]]:
    since = utcnow() - FAILED_WINDOW
    report = []
    for name, adapter in adapters.items():
        state = live_state(adapter)
        problems = _problems(state)
        failed = await _failed(conn, name, since) if adapter.can_reply else None
        report.append({
            "name": name, "channel": adapter.channel.value, "can_reply": adapter.can_reply,
            "last_inbound_at": _iso(await _last_inbound(conn, name, adapter.channel.value)),
            "last_outbound": await _last_outbound(conn, name) if adapter.can_reply else None,
            "failed_24h": failed, "adapter": state, "problems": problems,
            "health": _health(problems, failed["count"] if failed else 0),
        })
    return report


async def channels(request: web.Request) -> web.Response:
    await require_admin(request)
    async with request.app[DATABASE].read() as conn:
        found = await channel_report(conn, request.app[ADAPTERS])
    return web.json_response({"at": utcnow().isoformat(), "channels": found})


def routes() -> list[web.RouteDef]:
    return [web.get("/api/v1/admin/channels", channels)]
