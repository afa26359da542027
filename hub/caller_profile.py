"""Who is calling: what a console shows about a known passenger while the phone rings."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from hub import schema

PROFILE_REQUESTS = 5  # previous requests shown when a known passenger calls
PROFILE_ADDRESSES = 3  # distinct pickup addresses shown
PROFILE_SCAN = 50  # requests looked through for them

r = schema.contact_requests


async def caller_profile(conn: AsyncConnection, request_id: uuid.UUID) -> dict[str, Any]:
    """Who is calling: the passenger's known name, previous requests and the last distinct
    pickup addresses, so a console shows them before the dispatcher speaks."""
    c = schema.contacts
    contact_id, name = (await conn.execute(
        select(c.c.id, c.c.name).join(r, r.c.contact_id == c.c.id).where(r.c.id == request_id)
    )).one()
    rows = (await conn.execute(
        select(r.c.id, r.c.reference, r.c.status, r.c.channel, r.c.case_started_at,
               r.c.details)
        .where(r.c.contact_id == contact_id)
        .order_by(r.c.case_started_at.desc()).limit(PROFILE_SCAN))).all()
    addresses: list[str] = []
    for row in rows:
        address = (row.details or {}).get("pickup_address")
        if address and address not in addresses and len(addresses) < PROFILE_ADDRESSES:
            addresses.append(address)
    previous = [
        {"id": str(row.id), "reference": row.reference, "status": row.status,
         "channel": row.channel, "at": row.case_started_at.isoformat()}
        for row in rows if row.id != request_id
    ][:PROFILE_REQUESTS]
    return {"name": name, "known": bool(previous), "previous_requests": previous,
            "pickup_addresses": addresses}
