"""The passenger's card and the passenger search, read set-wise.

A card is a few statements whatever the passenger's history: the contact, its identities,
its newest requests with their total, and the pickup addresses of its newest messages.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select, union
from sqlalchemy.ext.asyncio import AsyncConnection

from hub import schema
from hub.model import Channel, Direction

c = schema.contacts
i = schema.contact_identities
r = schema.contact_requests
m = schema.messages
last_agent = schema.agents.alias("card_last_agent")

CARD_REQUESTS = 20  # previous requests listed on a card; the total says how many there are
PICKUP_ADDRESSES = 5
# Messages read for pickup addresses: enough for a regular's last five distinct addresses.
PICKUP_SCAN = 200
PICKUP_CHANNELS = (Channel.WEBFORM.value, Channel.CHAT.value)  # where a pickup is a field
MAX_MERGE_HOPS = 16  # a chain of merges longer than this is a loop, not a history
SEARCH_MIN_CHARS = 3
SEARCH_LIMIT = 20
PHONE_LIKE = re.compile(r"^[\d\s()+./-]+$")
SPACES = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Found:
    """Where an id leads: the passenger it names, or the survivor it was merged into."""

    id: uuid.UUID
    merged: bool


async def resolve(conn: AsyncConnection, contact_id: uuid.UUID) -> Found | None:
    """The passenger now holding `contact_id`'s history, following merges; None if unknown."""
    current, merged = contact_id, False
    for _ in range(MAX_MERGE_HOPS):
        row = (await conn.execute(
            select(c.c.merged_into_id).where(c.c.id == current))).first()
        if row is None:
            return None
        if row.merged_into_id is None:
            return Found(current, merged)
        current, merged = row.merged_into_id, True
    raise RuntimeError(f"contact {contact_id} is merged in a loop")


async def identities_of(conn: AsyncConnection,
                        contact_ids: set[uuid.UUID]) -> dict[uuid.UUID, dict[str, list[str]]]:
    """Each passenger's identities by kind, oldest first."""
    if not contact_ids:
        return {}
    rows = await conn.execute(
        select(i.c.contact_id, i.c.kind, i.c.value)
        .where(i.c.contact_id.in_(list(contact_ids))).order_by(i.c.created_at, i.c.value))
    found: dict[uuid.UUID, dict[str, list[str]]] = {}
    for contact_id, kind, value in rows:
        found.setdefault(contact_id, {}).setdefault(kind, []).append(value)
    return found


async def card(conn: AsyncConnection, contact_id: uuid.UUID) -> dict[str, Any] | None:
    """The card of a passenger that was not merged away (see `resolve`), JSON-ready."""
    contact = (await conn.execute(
        select(c.c.id, c.c.name, c.c.created_at)
        .where(c.c.id == contact_id, c.c.merged_into_id.is_(None)))).first()
    if contact is None:
        return None
    identities = (await identities_of(conn, {contact_id})).get(contact_id, {})
    total = (await conn.scalar(
        select(func.count()).select_from(r).where(r.c.contact_id == contact_id))) or 0
    requests = (await conn.execute(
        select(r.c.id, r.c.reference, r.c.channel, r.c.status, r.c.case_started_at,
               r.c.details, r.c.last_agent_id, last_agent.c.name.label("last_agent_name"))
        .outerjoin(last_agent, last_agent.c.id == r.c.last_agent_id)
        .where(r.c.contact_id == contact_id)
        .order_by(r.c.case_started_at.desc(), r.c.id.desc()).limit(CARD_REQUESTS)
    )).all()
    return {
        "id": str(contact.id),
        "name": contact.name,
        "created_at": contact.created_at.isoformat(),
        "phones": identities.get("phone", []),
        "emails": identities.get("email", []),
        "chat_identities": len(identities.get("chat", [])),
        "requests_total": int(total),
        "requests": [_request_json(row) for row in requests],
        "pickup_addresses": await _pickup_addresses(conn, contact_id, requests),
    }


def _request_json(row: Any) -> dict[str, Any]:
    return {
        "id": str(row.id), "reference": row.reference, "channel": row.channel,
        "status": row.status, "started_at": row.case_started_at.isoformat(),
        "last_agent": ({"id": str(row.last_agent_id), "name": row.last_agent_name or ""}
                       if row.last_agent_id else None),
    }


async def _pickup_addresses(conn: AsyncConnection, contact_id: uuid.UUID,
                            requests: Sequence[Any]) -> list[dict[str, Any]]:
    """The newest distinct pickup addresses: from web-form and chat messages (the form's and
    the chat order's `pickup_address`) and from the newest requests' own details."""
    rows = (await conn.execute(
        select(m.c.details, m.c.created_at, r.c.reference)
        .join(r, r.c.id == m.c.request_id)
        # `channel || ''`: without table statistics SQLite otherwise walks every form and
        # chat message through the (channel, idempotency_key) index instead of starting
        # from this passenger's requests (271 ms instead of ~15 at 100,000 requests).
        .where(r.c.contact_id == contact_id, m.c.direction == Direction.INBOUND.value,
               m.c.channel.concat("").in_(PICKUP_CHANNELS))
        .order_by(m.c.created_at.desc(), m.c.id.desc()).limit(PICKUP_SCAN)
    )).all()
    seen: list[tuple[Any, str, str]] = [
        (row.created_at, row.reference, _address(row.details)) for row in rows]
    seen += [(row.case_started_at, row.reference, _address(row.details)) for row in requests]
    seen.sort(key=lambda found: found[0], reverse=True)
    found: dict[str, dict[str, Any]] = {}
    for at, reference, address in seen:
        key = SPACES.sub(" ", address).casefold()
        if address and key not in found:
            found[key] = {"address": address, "at": at.isoformat(), "reference": reference}
            if len(found) == PICKUP_ADDRESSES:
                break
    return list(found.values())


def _address(details: Any) -> str:
    value = details.get("pickup_address") if isinstance(details, dict) else None
    return value.strip() if isinstance(value, str) else ""


async def search(conn: AsyncConnection, q: str) -> list[dict[str, Any]]:
    """Passengers (never merged ones) whose number, email or name holds `q`, the most
    recently active first. A number matches however it is written: `040 765 4321` finds
    +358407654321."""
    text = q.strip().casefold()
    by_identity = func.lower(i.c.value).contains(text, autoescape=True)
    digits = re.sub(r"\D", "", text)
    if PHONE_LIKE.match(text) and len(digits) >= SEARCH_MIN_CHARS:
        national = digits.lstrip("0") or digits
        by_identity = or_(by_identity, (i.c.kind == "phone")
                          & i.c.value.contains(national, autoescape=True))
    matched = union(
        select(i.c.contact_id.label("id")).where(by_identity),
        select(c.c.id.label("id")).where(func.lower(c.c.name).contains(text, autoescape=True)),
    ).subquery()
    last_active = func.max(r.c.last_message_at)
    rows = (await conn.execute(
        select(c.c.id, c.c.name, func.count(r.c.id).label("requests"),
               last_active.label("last_active"))
        .join(matched, matched.c.id == c.c.id)
        .outerjoin(r, r.c.contact_id == c.c.id)
        .where(c.c.merged_into_id.is_(None))
        .group_by(c.c.id, c.c.name)
        .order_by(last_active.desc().nulls_last(), c.c.id).limit(SEARCH_LIMIT)
    )).all()
    identities = await identities_of(conn, {row.id for row in rows})
    return [{
        "id": str(row.id), "name": row.name,
        "phones": identities.get(row.id, {}).get("phone", []),
        "emails": identities.get(row.id, {}).get("email", []),
        "requests_total": int(row.requests),
        "last_active_at": row.last_active.isoformat() if row.last_active else None,
    } for row in rows]
