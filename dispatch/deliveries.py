"""Delivery state of outbound messages: leased to one sender at a time, moved forward by the
sender's result and by the gateway's later reports, each change announced to the consoles.
"""

from __future__ import annotations

import contextlib
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatch.views import delivery_json, summaries_by_id
from hub import schema
from hub.clock import utcnow
from hub.database import Database
from hub.model import (
    DELIVERY_RANK,
    Channel,
    DeliveryState,
    DeliveryUpdate,
    OutboundMessage,
    SendReceipt,
)
from hub.outbox import OutboxRelay, new_row, write_rows

d = schema.deliveries
m = schema.messages
r = schema.contact_requests
MAX_REASON_CHARS = 500


class Deliveries:
    def __init__(self, db: Database, relay: OutboxRelay) -> None:
        self._db = db
        self._relay = relay

    async def due(self, limit: int = 100) -> list[uuid.UUID]:
        """Queued deliveries whose next attempt is due and that nobody holds."""
        now = utcnow()
        async with self._db.read() as conn:
            rows = await conn.execute(
                select(d.c.id).where(
                    d.c.state == DeliveryState.QUEUED.value,
                    d.c.next_attempt_at <= now,
                    or_(d.c.lease_until.is_(None), d.c.lease_until < now),
                ).order_by(d.c.next_attempt_at).limit(limit)
            )
            return [row[0] for row in rows]

    async def lease(self, delivery_id: uuid.UUID,
                    lease_s: float) -> tuple[str, OutboundMessage] | None:
        """Take a due delivery for one attempt: the adapter to send it with and the message.
        None when it is not due or another sender
        holds it. A sender that dies loses the lease after `lease_s` and the row is due again.
        """
        now = utcnow()
        async with self._db.write() as conn:
            taken = await conn.execute(
                update(d).where(
                    d.c.id == delivery_id,
                    d.c.state == DeliveryState.QUEUED.value,
                    d.c.next_attempt_at <= now,
                    or_(d.c.lease_until.is_(None), d.c.lease_until < now),
                ).values(lease_until=now + timedelta(seconds=lease_s),
                         attempts=d.c.attempts + 1, updated_at=now)
            )
            if taken.rowcount != 1:
                return None
            row = (await conn.execute(
                select(d.c.id, d.c.adapter, d.c.recipient, d.c.attempts, m.c.id.label("message_id"),
                       m.c.channel, m.c.body, m.c.subject, m.c.details, r.c.id.label("rid"),
                       r.c.reference, schema.agents.c.name.label("agent_name"))
                .join(m, m.c.id == d.c.message_id)
                .join(r, r.c.id == d.c.request_id)
                .outerjoin(schema.agents, schema.agents.c.id == m.c.agent_id)
                .where(d.c.id == delivery_id)
            )).mappings().one()
        details: dict[str, Any] = row["details"] or {}
        return row["adapter"], OutboundMessage(
            delivery_id=row["id"], message_id=row["message_id"], request_id=row["rid"],
            request_reference=row["reference"], channel=Channel(row["channel"]),
            recipient=row["recipient"], body=row["body"], attempt=row["attempts"],
            subject=row["subject"], agent_name=row["agent_name"],
            thread={k: str(v) for k, v in (details.get("thread") or {}).items()},
        )

    async def sent(self, delivery_id: uuid.UUID, receipt: SendReceipt) -> None:
        await self._change(delivery_id, {
            "state": receipt.state.value, "provider_id": receipt.provider_id,
            "lease_until": None, "reason": None,
        })

    async def retry(self, delivery_id: uuid.UUID, reason: str, at: datetime) -> None:
        await self._change(delivery_id, {
            "next_attempt_at": at, "lease_until": None, "reason": _short(reason),
        })

    async def fail(self, delivery_id: uuid.UUID, reason: str) -> None:
        await self._change(delivery_id, {
            "state": DeliveryState.FAILED.value, "lease_until": None, "reason": _short(reason),
        })

    async def report(self, adapter: str, report: DeliveryUpdate) -> bool:
        """Apply a gateway's status report; False when no delivery has that id.

        A report never moves a delivery back: a late "sent" after "delivered" is ignored.
        """
        allowed = [s.value for s, rank in DELIVERY_RANK.items()
                   if rank < DELIVERY_RANK[report.state]]
        # The gateway's id for the message, or ours (the delivery id, which gateways that
        # take a client reference report with).
        match = d.c.provider_id == report.provider_id
        with contextlib.suppress(ValueError):
            match = or_(match, d.c.id == uuid.UUID(report.provider_id))
        async with self._db.read() as conn:
            delivery_id = await conn.scalar(select(d.c.id).where(d.c.adapter == adapter, match))
        if delivery_id is None:
            return False
        values: dict[str, Any] = {"state": report.state.value}
        if report.reason:
            values["reason"] = _short(report.reason)
        elif report.state is DeliveryState.DELIVERED:
            values["reason"] = None
        await self._change(delivery_id, values, where=d.c.state.in_(allowed))
        return True

    async def _change(self, delivery_id: uuid.UUID, values: dict[str, Any],
                      where: Any = None) -> None:
        now = utcnow()
        condition = d.c.id == delivery_id
        if where is not None:
            condition = and_(condition, where)
        async with self._db.write() as conn:
            changed = await conn.execute(update(d).where(condition)
                                         .values(**values, updated_at=now))
            if changed.rowcount != 1:
                return
            event = await delivery_event(conn, delivery_id)
            await write_rows(conn, [event])
        self._relay.notify([event])


async def delivery_event(conn: AsyncConnection, delivery_id: uuid.UUID) -> Any:
    """The console event for a delivery's new state (with its request, for access checks)."""
    row = (await conn.execute(select(d).where(d.c.id == delivery_id))).mappings().one()
    summary = (await summaries_by_id(conn, [row["request_id"]]))[str(row["request_id"])]
    return new_row("events", {
        "type": "message.delivery", "request": summary,
        "message_id": str(row["message_id"]), "delivery": delivery_json(row),
    })


def _short(reason: str) -> str:
    return reason if len(reason) <= MAX_REASON_CHARS else reason[: MAX_REASON_CHARS - 1] + "…"
