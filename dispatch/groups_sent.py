"""What became of a group's messages: per message, its delivery states counted (in all and
per channel), the recipients not reached with the reason, and how many answers came back."""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatch.groups_send import GROUP_KEY_PREFIX
from hub import schema
from hub.model import DeliveryState

r, m, d = schema.contact_requests, schema.messages, schema.deliveries
sent_to = schema.group_messages
sender = schema.agents.alias("sender")
STATES = tuple(s.value for s in DeliveryState)


async def sent_messages(conn: AsyncConnection, group_id: uuid.UUID,
                        limit: int) -> list[dict[str, Any]]:
    """The group's newest messages first."""
    rows = (await conn.execute(
        select(sent_to, r.c.reference, r.c.status, sender.c.name.label("sender_name"))
        .join(r, r.c.id == sent_to.c.request_id)
        .outerjoin(sender, sender.c.id == sent_to.c.created_by)
        .where(sent_to.c.group_id == group_id)
        .order_by(sent_to.c.created_at.desc(), sent_to.c.id).limit(limit)
    )).all()
    request_ids = [row.request_id for row in rows]
    if not request_ids:
        return []
    messages = (await conn.execute(
        select(m.c.id, m.c.request_id, m.c.channel, m.c.subject, m.c.body, m.c.details)
        .where(m.c.request_id.in_(request_ids), m.c.direction == "outbound",
               m.c.idempotency_key.startswith(GROUP_KEY_PREFIX, autoescape=True))
    )).all()
    deliveries = (await conn.execute(
        select(d.c.message_id, d.c.recipient, d.c.state, d.c.reason, d.c.attempts)
        .where(d.c.message_id.in_([x.id for x in messages]))
        .order_by(d.c.created_at, d.c.id)
    )).all() if messages else []
    answers: dict[uuid.UUID, int] = dict((await conn.execute(
        select(m.c.request_id, func.count()).where(m.c.request_id.in_(request_ids),
                                                   m.c.direction == "inbound")
        .group_by(m.c.request_id)
    )).all())
    by_request: dict[uuid.UUID, list[Any]] = {}
    for message in messages:
        by_request.setdefault(message.request_id, []).append(message)
    by_message: dict[uuid.UUID, list[Any]] = {}
    for delivery in deliveries:
        by_message.setdefault(delivery.message_id, []).append(delivery)
    return [_json(row, by_request.get(row.request_id, []), by_message,
                  int(answers.get(row.request_id, 0))) for row in rows]


def _json(row: Any, messages: list[Any], deliveries: dict[uuid.UUID, list[Any]],
          answers: int) -> dict[str, Any]:
    total: Counter[str] = Counter()
    per_channel: dict[str, dict[str, int]] = {}
    failures: list[dict[str, Any]] = []
    first = messages[0] if messages else None
    for message in messages:
        names = (message.details or {}).get("recipients") or {}
        counted = Counter(x.state for x in deliveries.get(message.id, []))
        total.update(counted)
        per_channel[message.channel] = _counts(counted)
        failures += [{"channel": message.channel, "recipient": x.recipient,
                      "name": names.get(x.recipient, ""), "reason": x.reason,
                      "attempts": x.attempts}
                     for x in deliveries.get(message.id, []) if x.state == "failed"]
    return {
        "id": str(row.id), "request_id": str(row.request_id), "reference": row.reference,
        "status": row.status, "channels": list(row.channels),
        "created_at": row.created_at.isoformat(),
        "created_by": {"id": str(row.created_by), "name": row.sender_name or ""},
        "body": first.body if first else "",
        "subject": next((x.subject for x in messages if x.subject), None),
        "recipients": sum(total.values()), "counts": _counts(total),
        "by_channel": per_channel, "failures": failures, "answers": answers,
    }


def _counts(counted: Counter[str]) -> dict[str, int]:
    return {state: counted.get(state, 0) for state in STATES}
