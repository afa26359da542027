"""A data subject: the passenger behind one phone number or email address, found for the
register's export and erasure (hub.subject_export, hub.subject_erase).

The lookup follows merges both ways: the identity's owner, the passenger it was merged
into, and every passenger merged into those; all their identities, names and requests
belong to the subject.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from hub import schema
from hub.error_codes import ErrorCode
from hub.errors import BadInput, NotFound
from hub.json_types import JsonObject
from hub.model import IdentityKind
from hub.phone import mask_phone, to_e164

c, i, r = schema.contacts, schema.contact_identities, schema.contact_requests

EMAIL_MAX = 320
MERGE_DEPTH = 32  # a merge chain longer than this is a loop (ingest refuses those too)


@dataclass(frozen=True, slots=True)
class Identifier:
    """What the admin asked for: one E.164 number or one lower-cased email address."""

    kind: IdentityKind
    value: str

    @property
    def masked(self) -> str:
        """For the audit and logs: never the number or address itself."""
        if self.kind is IdentityKind.PHONE:
            return f"phone {mask_phone(self.value)}"
        return f"email ***@{self.value.rpartition('@')[2]}"


@dataclass(frozen=True, slots=True)
class Subject:
    identifier: Identifier
    contact_ids: tuple[uuid.UUID, ...]
    request_ids: tuple[uuid.UUID, ...]
    phones: tuple[str, ...]
    emails: tuple[str, ...]
    chat_visitors: tuple[str, ...]
    names: tuple[str, ...]


def identifier_from(body: JsonObject, default_region: str) -> Identifier:
    """Exactly one of `phone` and `email`; BadInput with field errors (422) otherwise."""
    phone, email = body.get("phone"), body.get("email")
    given = [name for name, value in (("phone", phone), ("email", email))
             if value not in (None, "")]
    if len(given) != 1:
        why = ErrorCode.PHONE_OR_EMAIL if not given else ErrorCode.PHONE_OR_EMAIL_NOT_BOTH
        raise BadInput(why, {"phone": "one_of", "email": "one_of"})
    if phone not in (None, ""):
        if not isinstance(phone, str):
            raise BadInput(ErrorCode.PHONE_NOT_TEXT, {"phone": "invalid"})
        try:
            return Identifier(IdentityKind.PHONE, to_e164(phone, default_region))
        except BadInput as exc:
            raise BadInput(exc.code.of(**exc.params), {"phone": "invalid"}) from exc
    if not isinstance(email, str) or "@" not in email or len(email) > EMAIL_MAX:
        raise BadInput(ErrorCode.EMAIL_INVALID, {"email": "invalid"})
    return Identifier(IdentityKind.EMAIL, email.strip().lower())


async def find_subject(conn: AsyncConnection, identifier: Identifier) -> Subject:
    """The subject behind `identifier`; NotFound when no passenger has it."""
    owner = (await conn.execute(select(i.c.contact_id).where(
        i.c.kind == identifier.kind.value, i.c.value == identifier.value))).scalar()
    if owner is None:
        raise NotFound(ErrorCode.SUBJECT_NOT_FOUND)
    root = await _survivor(conn, owner)
    contacts = await _merged_into(conn, root)
    rows = (await conn.execute(select(i.c.kind, i.c.value).where(
        i.c.contact_id.in_(contacts)).order_by(i.c.created_at))).all()
    names = (await conn.execute(select(c.c.name).where(
        c.c.id.in_(contacts), c.c.name.is_not(None)))).scalars().all()
    requests = (await conn.execute(select(r.c.id).where(r.c.contact_id.in_(contacts))
                                   .order_by(r.c.case_started_at))).scalars().all()

    def of(kind: IdentityKind) -> tuple[str, ...]:
        return tuple(value for k, value in rows if k == kind.value)
    return Subject(identifier=identifier, contact_ids=tuple(contacts),
                   request_ids=tuple(requests), phones=of(IdentityKind.PHONE),
                   emails=of(IdentityKind.EMAIL), chat_visitors=of(IdentityKind.CHAT),
                   names=tuple(sorted({n for n in names if n})))


async def _survivor(conn: AsyncConnection, contact_id: uuid.UUID) -> uuid.UUID:
    for _ in range(MERGE_DEPTH):
        into = (await conn.execute(select(c.c.merged_into_id).where(
            c.c.id == contact_id))).scalar()
        if into is None:
            return contact_id
        contact_id = into
    return contact_id


async def _merged_into(conn: AsyncConnection, root: uuid.UUID) -> list[uuid.UUID]:
    """`root` and every passenger merged into it, directly or through another."""
    found, frontier = [root], [root]
    for _ in range(MERGE_DEPTH):
        frontier = [row for row in (await conn.execute(select(c.c.id).where(
            c.c.merged_into_id.in_(frontier)))).scalars() if row not in found]
        if not frontier:
            break
        found += frontier
    return found
