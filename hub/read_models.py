"""Requests as the console sees them: JSON-ready summaries and full detail, read set-wise.

In the core because both sides read them: dispatch for its API and events, the channels
for the events of calls, recordings and chats.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from hub import schema
from hub.callback_columns import COLUMNS as CALLBACK_COLUMNS
from hub.callback_columns import details_json as callback_details
from hub.model import Timings
from hub.read_json import (
    AgentRefJson,
    CallJson,
    DeliveryJson,
    OfferJson,
    RecordingJson,
    RequestDetailJson,
    RequestSummaryJson,
    TimingsJson,
)

r = schema.contact_requests
c = schema.contacts
assigned = schema.agents.alias("assigned")
last = schema.agents.alias("last")
offered = schema.agents.alias("offered")

SUMMARY_COLUMNS = (
    r.c.id, r.c.version, r.c.reference, r.c.status, r.c.channel, r.c.lane, r.c.priority,
    r.c.preview, r.c.details, r.c.case_started_at, r.c.queued_at, r.c.service_started_at,
    r.c.first_response_at, r.c.ended_at, r.c.last_message_at, r.c.contact_id,
    c.c.name.label("contact_name"),
    r.c.assigned_agent_id, assigned.c.name.label("assigned_name"),
    r.c.last_agent_id, last.c.name.label("last_name"),
    r.c.offered_agent_id, offered.c.name.label("offered_name"), r.c.offer_expires_at,
    *CALLBACK_COLUMNS,
)


def summary_query() -> Select[Any]:
    return (
        select(*SUMMARY_COLUMNS)
        .join(c, c.c.id == r.c.contact_id)
        .outerjoin(assigned, assigned.c.id == r.c.assigned_agent_id)
        .outerjoin(last, last.c.id == r.c.last_agent_id)
        .outerjoin(offered, offered.c.id == r.c.offered_agent_id)
    )


# Built once: the router reads the summaries of every batch it routes, and building the
# statement and its cache key each time cost more than running it.
_SUMMARIES_BY_ID = summary_query().where(r.c.id.in_(bindparam("ids", expanding=True)))
_IDENTITIES_OF = (
    select(schema.contact_identities.c.contact_id, schema.contact_identities.c.kind,
           schema.contact_identities.c.value)
    .where(schema.contact_identities.c.contact_id.in_(bindparam("contact_ids", expanding=True)))
    .order_by(schema.contact_identities.c.created_at))


async def summaries(conn: AsyncConnection, query: Select[Any]) -> list[RequestSummaryJson]:
    rows = (await conn.execute(query)).mappings().all()
    identities = await _identities(conn, {row["contact_id"] for row in rows})
    return [_summary(row, identities.get(row["contact_id"], {})) for row in rows]


async def summaries_by_id(
    conn: AsyncConnection, ids: Iterable[uuid.UUID]
) -> dict[str, RequestSummaryJson]:
    wanted = list(set(ids))
    if not wanted:
        return {}
    rows = (await conn.execute(_SUMMARIES_BY_ID, {"ids": wanted})).mappings().all()
    identities = await _identities(conn, {row["contact_id"] for row in rows})
    return {str(row["id"]): _summary(row, identities.get(row["contact_id"], {}))
            for row in rows}


async def detail(conn: AsyncConnection, request_id: uuid.UUID) -> RequestDetailJson | None:
    found = await summaries_by_id(conn, [request_id])
    summary = found.get(str(request_id))
    if summary is None:
        return None
    m, h = schema.messages, schema.handling_events
    author = schema.agents.alias("author")
    target = schema.agents.alias("target")
    messages = (await conn.execute(
        select(m.c.id, m.c.channel, m.c.direction, m.c.subject, m.c.body, m.c.details,
               m.c.created_at, m.c.agent_id, author.c.name.label("agent_name"))
        .outerjoin(author, author.c.id == m.c.agent_id)
        .where(m.c.request_id == request_id)
        .order_by(m.c.created_at, m.c.id)
    )).mappings().all()
    history = (await conn.execute(
        select(h.c.id, h.c.action, h.c.at, h.c.note, h.c.agent_id,
               author.c.name.label("agent_name"), h.c.target_agent_id,
               target.c.name.label("target_name"))
        .join(author, author.c.id == h.c.agent_id)
        .outerjoin(target, target.c.id == h.c.target_agent_id)
        .where(h.c.request_id == request_id)
        .order_by(h.c.at, h.c.id)
    )).mappings().all()
    deliveries = await deliveries_of(
        conn, [row["id"] for row in messages if row["direction"] == "outbound"])
    return {
        **summary,
        "messages": [
            {
                "id": str(row["id"]), "channel": row["channel"], "direction": row["direction"],
                "subject": row["subject"], "body": row["body"], "details": row["details"],
                "created_at": _iso(row["created_at"]),
                "agent": _agent(row["agent_id"], row["agent_name"]),
                "deliveries": deliveries.get(str(row["id"]), []),
            }
            for row in messages
        ],
        "history": [
            {
                "id": str(row["id"]), "action": row["action"], "at": _iso(row["at"]),
                "note": row["note"], "agent": _agent(row["agent_id"], row["agent_name"]),
                "target_agent": _agent(row["target_agent_id"], row["target_name"]),
            }
            for row in history
        ],
        "calls": await calls_of(conn, request_id),
        "recordings": await recordings_of(conn, request_id),
    }


async def calls_of(conn: AsyncConnection, request_id: uuid.UUID) -> list[CallJson]:
    """The request's phone calls, oldest first, with their timings."""
    k = schema.calls
    agent = schema.agents.alias("call_agent")
    rows = (await conn.execute(
        select(k, agent.c.name.label("agent_name"))
        .outerjoin(agent, agent.c.id == k.c.agent_id)
        .where(k.c.request_id == request_id).order_by(k.c.started_at, k.c.id)
    )).mappings().all()
    return [call_json(row) for row in rows]


def call_json(row: Any) -> CallJson:
    """A call row (with `agent_name`) as the console sees it: ring time runs from the
    start to the answer (or the end, unanswered), talk time from the answer to the end."""
    rang_until = row["answered_at"] or row["ended_at"]
    return {
        "id": str(row["id"]), "provider": row["provider"], "direction": row["direction"],
        "caller": row["caller"], "called": row["called"], "state": row["state"],
        "cause": row["cause"], "agent": _agent(row["agent_id"], row["agent_name"]),
        "started_at": _iso(row["started_at"]), "answered_at": _iso(row["answered_at"]),
        "ended_at": _iso(row["ended_at"]),
        "ring_time_s": _seconds(_span(row["started_at"], rang_until)),
        "talk_time_s": _seconds(_span(row["answered_at"], row["ended_at"])),
    }


async def recordings_of(conn: AsyncConnection,
                        request_id: uuid.UUID) -> list[RecordingJson]:
    """The request's recordings and voice messages, each with how often it was played."""
    rec, listens = schema.recordings, schema.recording_listens
    count = (select(func.count()).where(listens.c.recording_id == rec.c.id)
             .scalar_subquery().label("listens"))
    rows = (await conn.execute(
        select(rec, count).where(rec.c.request_id == request_id)
        .order_by(rec.c.created_at, rec.c.id)
    )).mappings().all()
    return [recording_json(row) for row in rows]


def recording_json(row: Any) -> RecordingJson:
    """A recording's metadata (never its provider URL: the console plays it through
    `audio_url`, which records the listen)."""
    return {
        "id": str(row["id"]), "call_id": str(row["call_id"]), "kind": row["kind"],
        "provider": row["provider"], "name": row["provider_id"],
        "duration_s": row["duration_s"], "completed_at": _iso(row["completed_at"]),
        "transcription": row["transcription"], "created_at": _iso(row["created_at"]),
        "listens": row.get("listens", 0),
        "audio_url": f"/api/v1/recordings/{row['id']}/audio",
    }


def delivery_json(row: Any) -> DeliveryJson:
    return {
        "id": str(row["id"]), "state": row["state"], "recipient": row["recipient"],
        "via": row["adapter"], "attempts": row["attempts"], "reason": row["reason"],
        "updated_at": row["updated_at"].isoformat(),
    }


async def deliveries_of(conn: AsyncConnection,
                        message_ids: Sequence[uuid.UUID]) -> dict[str, list[DeliveryJson]]:
    if not message_ids:
        return {}
    d = schema.deliveries
    rows = (await conn.execute(
        select(d).where(d.c.message_id.in_(list(message_ids))).order_by(d.c.created_at)
    )).mappings().all()
    found: dict[str, list[DeliveryJson]] = {}
    for row in rows:
        found.setdefault(str(row["message_id"]), []).append(delivery_json(row))
    return found


async def _identities(
    conn: AsyncConnection, contact_ids: set[uuid.UUID]
) -> dict[uuid.UUID, dict[str, list[str]]]:
    if not contact_ids:
        return {}
    rows = await conn.execute(_IDENTITIES_OF, {"contact_ids": list(contact_ids)})
    found: dict[uuid.UUID, dict[str, list[str]]] = {}
    for contact_id, kind, value in rows:
        found.setdefault(contact_id, {}).setdefault(kind, []).append(value)
    return found


def _summary(row: Any, identities: dict[str, list[str]]) -> RequestSummaryJson:
    timings = Timings(
        case_started_at=row["case_started_at"], queued_at=row["queued_at"],
        service_started_at=row["service_started_at"],
        first_response_at=row["first_response_at"], ended_at=row["ended_at"],
    )
    return {
        "id": str(row["id"]),
        "version": row["version"],
        "reference": row["reference"],
        "status": row["status"],
        "channel": row["channel"],
        "lane": row["lane"],
        "priority": row["priority"],
        "preview": row["preview"],
        "details": {**(row["details"] or {}), **callback_details(row)},
        "contact": {
            "id": str(row["contact_id"]),
            "name": row["contact_name"],
            "phones": identities.get("phone", []),
            "emails": identities.get("email", []),
        },
        "assigned_agent": _agent(row["assigned_agent_id"], row["assigned_name"]),
        "last_agent": _agent(row["last_agent_id"], row["last_name"]),
        "offer": _offer(row),
        "last_message_at": _iso(row["last_message_at"]),
        "timings": timings_json(timings),
    }


def timings_json(t: Timings) -> TimingsJson:
    return {
        "case_started_at": _iso(t.case_started_at),
        "queued_at": _iso(t.queued_at),
        "service_started_at": _iso(t.service_started_at),
        "first_response_at": _iso(t.first_response_at),
        "ended_at": _iso(t.ended_at),
        "processing_delay_s": _seconds(t.processing_delay),
        "queue_wait_s": _seconds(t.queue_wait),
        "total_service_time_s": _seconds(t.total_service_time),
        "first_response_delay_s": _seconds(t.first_response_delay),
    }


def _agent(agent_id: uuid.UUID | None, name: str | None) -> AgentRefJson | None:
    if agent_id is None:
        return None
    return {"id": str(agent_id), "name": name or ""}


def _offer(row: Any) -> OfferJson | None:
    """The open offer: only this agent (or an admin) may claim the request until it expires."""
    if row["offered_agent_id"] is None:
        return None
    return {"agent": {"id": str(row["offered_agent_id"]), "name": row["offered_name"] or ""},
            "expires_at": _iso(row["offer_expires_at"])}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _span(start: datetime | None, end: datetime | None) -> timedelta | None:
    return end - start if start is not None and end is not None else None


def _seconds(value: timedelta | None) -> float | None:
    return round(value.total_seconds(), 3) if value is not None else None

