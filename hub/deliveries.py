"""Delivery state of outbound messages: leased to one sender at a time, moved forward by the
sender's result and by the gateway's later reports, each change announced to the consoles.

In the core because both sides write it: dispatch's outbound sender, and the channels'
delivery reports (gateway status callbacks, the chat widget's "seen").
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, TypedDict

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub import schema
from hub.attachment_store import file_refs
from hub.clock import utcnow
from hub.database import Database
from hub.events import EventType
from hub.model import (
    DELIVERY_RANK,
    Channel,
    DeliveryState,
    DeliveryUpdate,
    OutboundMessage,
    SendReceipt,
)
from hub.outbox import OutboxRelay, OutboxRow, new_row, write_rows
from hub.read_models import delivery_json, summaries_by_id

d = schema.deliveries
m = schema.messages
r = schema.contact_requests
MAX_REASON_CHARS = 500


class DeliveryChange(TypedDict, total=False):
    """The columns an attempt's outcome (`sent`, `retry`, `failed`) or a gateway's report
    sets on a delivery: a retry leaves the state queued, so it has none."""

    state: str
    provider_id: str | None
    next_attempt_at: datetime
    lease_until: None  # every outcome ends the attempt's lease
    reason: str | None


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

    async def lease_many(self, ids: Sequence[uuid.UUID],
                         lease_s: float) -> list[tuple[str, OutboundMessage]]:
        """Take due deliveries for one attempt each, in one transaction: for each, the
        adapter to send it with and the message. Those not due, or held by another sender,
        are left out. A sender that dies loses its lease after `lease_s`; the row is due
        again."""
        if not ids:
            return []
        now = utcnow()
        async with self._db.write() as conn:
            taken = (await conn.execute(
                update(d).where(
                    d.c.id.in_(list(ids)),
                    d.c.state == DeliveryState.QUEUED.value,
                    d.c.next_attempt_at <= now,
                    or_(d.c.lease_until.is_(None), d.c.lease_until < now),
                ).values(lease_until=now + timedelta(seconds=lease_s),
                         attempts=d.c.attempts + 1, updated_at=now)
                .returning(d.c.id)
            )).scalars().all()
            if not taken:
                return []
            rows = (await conn.execute(
                select(d.c.id, d.c.adapter, d.c.recipient, d.c.attempts,
                       m.c.id.label("message_id"), m.c.channel, m.c.body, m.c.subject,
                       m.c.details, r.c.id.label("rid"), r.c.reference,
                       schema.agents.c.name.label("agent_name"))
                .join(m, m.c.id == d.c.message_id)
                .join(r, r.c.id == d.c.request_id)
                .outerjoin(schema.agents, schema.agents.c.id == m.c.agent_id)
                .where(d.c.id.in_(list(taken)))
            )).mappings().all()
        return [(row["adapter"], _message(row)) for row in rows]

    async def finish_many(self, outcomes: Sequence[tuple[uuid.UUID, DeliveryChange]]) -> None:
        """Record the results of attempts (values from `sent`, `retry`, `failed`), in one
        transaction: one commit for a whole round of sends."""
        if not outcomes:
            return
        now = utcnow()
        async with self._db.write() as conn:
            changed = []
            for delivery_id, values in outcomes:
                done = await conn.execute(update(d).where(d.c.id == delivery_id)
                                          .values(**values, updated_at=now))
                if done.rowcount == 1:
                    changed.append(delivery_id)
            events = await delivery_events(conn, changed)
            await write_rows(conn, events)
        self._relay.notify(events)

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
        values: DeliveryChange = {"state": report.state.value}
        if report.reason:
            values["reason"] = _short(report.reason)
        elif report.state is DeliveryState.DELIVERED:
            values["reason"] = None
        await self._change(delivery_id, values, where=d.c.state.in_(allowed))
        return True

    async def _change(self, delivery_id: uuid.UUID, values: DeliveryChange,
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
            events = await delivery_events(conn, [delivery_id])
            await write_rows(conn, events)
        self._relay.notify(events)


def sent(receipt: SendReceipt) -> DeliveryChange:
    return {"state": receipt.state.value, "provider_id": receipt.provider_id,
            "lease_until": None, "reason": None}


def retry(reason: str, at: datetime) -> DeliveryChange:
    return {"next_attempt_at": at, "lease_until": None, "reason": _short(reason)}


def failed(reason: str) -> DeliveryChange:
    return {"state": DeliveryState.FAILED.value, "lease_until": None, "reason": _short(reason)}


async def delivery_events(conn: AsyncConnection, ids: Sequence[uuid.UUID]) -> list[OutboxRow]:
    """Console events for deliveries' new states (with their requests, for access checks)."""
    if not ids:
        return []
    rows = (await conn.execute(select(d).where(d.c.id.in_(list(ids))))).mappings().all()
    summaries = await summaries_by_id(conn, {row["request_id"] for row in rows})
    return [new_row("events", {
        "type": EventType.MESSAGE_DELIVERY, "request": summaries[str(row["request_id"])],
        "message_id": str(row["message_id"]), "delivery": delivery_json(row),
    }) for row in rows]


def _message(row: Any) -> OutboundMessage:
    details: dict[str, Any] = row["details"] or {}
    return OutboundMessage(
        delivery_id=row["id"], message_id=row["message_id"], request_id=row["rid"],
        request_reference=row["reference"], channel=Channel(row["channel"]),
        recipient=row["recipient"], body=row["body"], attempt=row["attempts"],
        subject=row["subject"], agent_name=row["agent_name"],
        thread={k: str(v) for k, v in (details.get("thread") or {}).items()},
        attachments=file_refs(details),
    )


def _short(reason: str) -> str:
    return reason if len(reason) <= MAX_REASON_CHARS else reason[: MAX_REASON_CHARS - 1] + "…"
