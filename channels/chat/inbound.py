"""A passenger's chat message as an `InboundContact`: their visitor id, their message id, and
whatever they told the widget before it (name, phone, email, the taxi order's pickup)."""

from __future__ import annotations

from datetime import datetime

from hub.chat_conversations import Conversations, message_key
from hub.clock import utcnow
from hub.model import CallbackAsk, Channel, InboundContact


async def chat_contact(conversations: Conversations, visitor: str, client_id: str, text: str,
                       *, prechat: dict[str, str], lang: str,
                       callback_due_at: datetime | None) -> InboundContact:
    """`callback_due_at`: nobody can answer live now, so the request asks for a call back
    by then (a lane closed at the time sets its own opening instead, hub.lanes).

    A phone number or email joins the passenger's identities only when it is new or
    already theirs: a number that is someone else's would move this visitor's chat into
    that passenger's requests. It stays a detail of the message instead.
    """
    details = {"from": visitor, "language": lang}
    for name in ("pickup_address", "pickup_time"):
        if name in prechat:
            details[name] = prechat[name]
    identities: dict[str, str | None] = {"phone": None, "email": None}
    mine = await conversations.contact(visitor)
    for kind in identities:
        value = prechat.get(kind)
        if value is None:
            continue
        owner = await conversations.owner(kind, value)
        if mine is None or owner is None or owner == mine:
            identities[kind] = value
        else:
            details[kind] = value
    return InboundContact(
        channel=Channel.CHAT, idempotency_key=message_key(visitor, client_id),
        received_at=utcnow(), body=text, name=prechat.get("name"),
        phone=identities["phone"], email=identities["email"], chat_visitor=visitor,
        details=details,
        callback=CallbackAsk(callback_due_at) if callback_due_at is not None else None)
