"""Answers to group messages find their thread.

A group message (dispatch.groups_send) is a request of its own. What a member sends back joins
it: an SMS from a member's number, or a mail from a member's address, within
`GROUP_REPLY_WINDOW` of a message to their group goes to that message's request (the most
recent one when the member is in several groups). A mail naming one of the group mail's
per-recipient Message-IDs (a reply's In-Reply-To, a bounce's original) goes there too,
whoever sends it.

Called inside the ingest transaction (hub.ingest_store) for the messages that did not say
where they belong, so it is synchronous Core like the rest of that transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, or_, select

from hub import schema
from hub.model import Channel, InboundContact, RequestStatus

# A member answers a rota or a disruption call within days; after a week a message from them
# is a new matter and waits in the queue like anyone's.
GROUP_REPLY_WINDOW = timedelta(days=7)

Key = tuple[str, str]  # (channel, idempotency key), as ingest keys messages
Target = tuple[uuid.UUID, str, bool]  # the request's id, its reference, whether resolved

r = schema.contact_requests


def group_reply_threads(conn: Connection, contacts: Sequence[InboundContact]
                        ) -> dict[Key, Target]:
    """The group-message requests these messages answer, by message key."""
    if not contacts:
        return {}
    found = _by_delivery_refs(conn, contacts)
    rest = [c for c in contacts if (c.channel.value, c.idempotency_key) not in found]
    return {**_by_member(conn, rest), **found}


def _by_delivery_refs(conn: Connection, contacts: Sequence[InboundContact]) -> dict[Key, Target]:
    wanted: dict[Key, list[uuid.UUID]] = {}
    for contact in contacts:
        ids = [i for i in map(_uuid_of, contact.thread_refs) if i is not None]
        if ids:
            wanted[(contact.channel.value, contact.idempotency_key)] = ids
    if not wanted:
        return {}
    d = schema.deliveries
    every = {i for ids in wanted.values() for i in ids}
    rows = conn.execute(
        select(d.c.id, r.c.id, r.c.reference, r.c.status).join(r, r.c.id == d.c.request_id)
        .where(d.c.id.in_(list(every)))
    )
    requests = {delivery_id: _target(request_id, reference, status)
                for delivery_id, request_id, reference, status in rows}
    targets: dict[Key, Target] = {}
    for key, ids in wanted.items():
        match = next((requests[i] for i in ids if i in requests), None)
        if match is not None:
            targets[key] = match
    return targets


def _by_member(conn: Connection, contacts: Sequence[InboundContact]) -> dict[Key, Target]:
    identities = {(c.channel.value, c.idempotency_key): _identity(c) for c in contacts}
    phones = {value for kind, value in filter(None, identities.values()) if kind == "phone"}
    emails = {value for kind, value in filter(None, identities.values()) if kind == "email"}
    if not phones and not emails:
        return {}
    members, sent = schema.group_members, schema.group_messages
    oldest = min(c.received_at for c in contacts) - GROUP_REPLY_WINDOW
    rows = conn.execute(
        select(members.c.phone, members.c.email, sent.c.created_at, r.c.id, r.c.reference,
               r.c.status)
        .join(sent, sent.c.group_id == members.c.group_id)
        .join(r, r.c.id == sent.c.request_id)
        .where(or_(members.c.phone.in_(list(phones)), members.c.email.in_(list(emails))),
               sent.c.created_at >= oldest)
        .order_by(sent.c.created_at, sent.c.id)
    )
    # Oldest first, so the newest group message to each number or address is kept.
    latest: dict[tuple[str, str], Any] = {}
    for row in rows:
        if row.phone in phones:
            latest[("phone", row.phone)] = row
        if row.email in emails:
            latest[("email", row.email)] = row
    targets: dict[Key, Target] = {}
    for contact in contacts:
        identity = identities[(contact.channel.value, contact.idempotency_key)]
        found = latest.get(identity) if identity is not None else None
        if found is not None and found.created_at >= contact.received_at - GROUP_REPLY_WINDOW:
            targets[(contact.channel.value, contact.idempotency_key)] = _target(
                found.id, found.reference, found.status)
    return targets


def _identity(contact: InboundContact) -> tuple[str, str] | None:
    """Who sent it, as group members are listed: texts by number, mail by address."""
    if contact.channel is Channel.SMS and contact.phone:
        return "phone", contact.phone
    if contact.channel is Channel.EMAIL and contact.email:
        return "email", contact.email
    return None


def _target(request_id: uuid.UUID, reference: str, status: str) -> Target:
    return request_id, reference, status == RequestStatus.RESOLVED.value


def _uuid_of(ref: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(ref.partition("@")[0])
    except ValueError:
        return None
