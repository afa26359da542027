"""The transcript of a closed chat, sent to the passenger by email when they ask for it.

It is an outbound email message with its delivery, written in one transaction with the
outbound wake-up, so the outbound worker sends it through the email channel like any reply
(retries, delivery state in the console). One per conversation and address: a repeated close
queues nothing new.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Sequence
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from channels.chat.conversation import Line
from hub import catalogue, schema
from hub.clock import utcnow
from hub.database import Database
from hub.model import Channel, DeliveryState
from hub.outbox import OutboxRelay, new_row, write_rows

EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
KEY_PREFIX = "chat-transcript:"



def valid_email(text: str) -> bool:
    return EMAIL.match(text) is not None


def transcript_text(lines: Sequence[Line], *, reference: str, lang: str,
                    timezone: str) -> str:
    lang = catalogue.supported(lang)
    zone = ZoneInfo(timezone)
    out = [catalogue.text(lang, "transcript.intro", reference=reference), ""]
    for line in lines:
        who = (catalogue.text(lang, "transcript.you") if line.author == "passenger"
               else line.agent or catalogue.text(lang, "transcript.dispatcher"))
        out.append(f"[{line.at.astimezone(zone):%d.%m. %H:%M}] {who}: {line.text}")
    return "\n".join(out) + "\n"


async def queue_transcript(db: Database, relay: OutboxRelay, *, adapter: str, email: str,
                           visitor: str, lines: Sequence[Line], lang: str,
                           timezone: str) -> None:
    """Store the transcript as an email to `email` on the request of the last line, and
    queue its delivery through `adapter`."""
    r = schema.contact_requests
    request_id = lines[-1].request_id
    digest = hashlib.sha256(f"{email.lower()}|{lines[-1].id}".encode()).hexdigest()[:24]
    key = f"{KEY_PREFIX}{visitor}:{digest}"
    now = utcnow()
    message_id, delivery_id = uuid.uuid4(), uuid.uuid4()
    try:
        async with db.write() as conn:
            reference = await conn.scalar(select(r.c.reference).where(r.c.id == request_id))
            await conn.execute(insert(schema.messages), {
                "id": message_id, "request_id": request_id, "channel": Channel.EMAIL.value,
                "direction": "outbound", "idempotency_key": key,
                "subject": catalogue.text(catalogue.supported(lang), "transcript.subject",
                                          reference=reference),
                "body": transcript_text(lines, reference=str(reference), lang=lang,
                                        timezone=timezone),
                "agent_id": None, "created_at": now,
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
