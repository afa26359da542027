"""A closed chat's transcript, kept as an outbound email message with its delivery, written in
one transaction with the outbound wake-up, so the outbound worker sends it through the email
channel like any reply (retries, delivery state in the console). One per conversation and
address: a repeated close queues nothing new. Its words are the chat channel's."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from hub import schema
from hub.clock import utcnow
from hub.database import Database
from hub.model import Channel, DeliveryState
from hub.outbox import OutboxRelay, new_row, write_rows

KEY_PREFIX = "chat-transcript:"

# The request's reference -> the email's (subject, body).
Compose = Callable[[str], tuple[str, str]]


async def queue_transcript(db: Database, relay: OutboxRelay, *, adapter: str, email: str,
                           visitor: str, request_id: uuid.UUID, last_line_id: uuid.UUID,
                           compose: Compose) -> None:
    """Store the transcript as an email to `email` on `request_id` (the request of the
    conversation's last line, `last_line_id`), and queue its delivery through `adapter`."""
    r = schema.contact_requests
    digest = hashlib.sha256(f"{email.lower()}|{last_line_id}".encode()).hexdigest()[:24]
    key = f"{KEY_PREFIX}{visitor}:{digest}"
    now = utcnow()
    message_id, delivery_id = uuid.uuid4(), uuid.uuid4()
    try:
        async with db.write() as conn:
            reference = await conn.scalar(select(r.c.reference).where(r.c.id == request_id))
            subject, body = compose(str(reference))
            await conn.execute(insert(schema.messages), {
                "id": message_id, "request_id": request_id, "channel": Channel.EMAIL.value,
                "direction": "outbound", "idempotency_key": key, "subject": subject,
                "body": body, "agent_id": None, "created_at": now,
                "details": {"to": email, "via": adapter, "thread": {},
                            "kind": "chat_transcript"},
            })
            await conn.execute(insert(schema.deliveries), {
                "id": delivery_id, "message_id": message_id, "request_id": request_id,
                "adapter": adapter, "recipient": email, "state": DeliveryState.QUEUED.value,
                "attempts": 0, "next_attempt_at": now, "created_at": now, "updated_at": now,
            })
            rows = [new_row("outbound", {"delivery_id": str(delivery_id)})]
            await write_rows(conn, rows)
    except IntegrityError:
        return  # this transcript was queued already
    relay.notify(rows)
