"""Staff groups and their members (drivers, partners, on-call staff): kept by admins, messaged
by dispatchers (dispatch.groups_send).

Members' names, numbers and addresses are personal data of the register: every change goes to
the audit trail with field names and counts only, and log lines carry ids, never the values.
Numbers are stored in E.164 (as `hub.agents` does for dispatchers), addresses in lower case,
so an answer from a member is recognised (hub.group_threads).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatch.groups_csv import CsvMember
from hub import audit, schema
from hub.agents import EMAIL_PATTERN
from hub.clock import utcnow
from hub.database import Database
from hub.error_codes import ErrorCode
from hub.errors import BadInput, Conflict, NotFound
from hub.model import Agent
from hub.phone import to_e164
from hub.text import is_storable

log = logging.getLogger(__name__)

g, gm = schema.staff_groups, schema.group_members
MAX_GROUP_NAME = 100
MAX_MEMBER_NAME = 200
MAX_EMAIL = 320
MAX_PHONE_TEXT = 40
MAX_MEMBERS = 500  # a message to a group is one SMS per member: keep a slip of the hand cheap
MEMBER_FIELDS = ("name", "phone", "email")


def group_json(row: Any) -> dict[str, Any]:
    """A group with its member counts (`members`, `phones`, `emails` from `_counted`)."""
    return {"id": str(row.id), "name": row.name, "members": int(row.members or 0),
            "phones": int(row.phones or 0), "emails": int(row.emails or 0),
            "created_at": row.created_at.isoformat(), "updated_at": row.updated_at.isoformat()}


def member_json(row: Any) -> dict[str, Any]:
    return {"id": str(row.id), "name": row.name, "phone": row.phone, "email": row.email,
            "created_at": row.created_at.isoformat()}


def _counted() -> Any:
    counts = (select(gm.c.group_id, func.count().label("members"),
                     func.count(gm.c.phone).label("phones"),
                     func.count(gm.c.email).label("emails"))
              .group_by(gm.c.group_id).subquery())
    return (select(g, counts.c.members, counts.c.phones, counts.c.emails)
            .outerjoin(counts, counts.c.group_id == g.c.id))


async def list_groups(conn: AsyncConnection) -> list[dict[str, Any]]:
    rows = await conn.execute(_counted().order_by(g.c.name))
    return [group_json(row) for row in rows]


async def get_group(conn: AsyncConnection, group_id: uuid.UUID) -> dict[str, Any]:
    """The group with its members by name; NotFound."""
    row = (await conn.execute(_counted().where(g.c.id == group_id))).first()
    if row is None:
        raise NotFound(ErrorCode.GROUP_NOT_FOUND)
    members = await conn.execute(select(gm).where(gm.c.group_id == group_id)
                                 .order_by(gm.c.name, gm.c.id))
    return {**group_json(row), "member_list": [member_json(m) for m in members]}


# ---- checking what admins type -----------------------------------------------------------


def group_name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise BadInput(ErrorCode.GROUP_NAME_REQUIRED, {"name": "required"})
    name = " ".join(value.split())
    if len(name) > MAX_GROUP_NAME or not is_storable(name):
        raise BadInput(ErrorCode.GROUP_NAME_INVALID.of(max=MAX_GROUP_NAME),
                       {"name": "invalid"})
    return name


def clean_member(body: Mapping[str, Any], *, region: str,
                 partial: bool = False) -> dict[str, str | None]:
    """A member's fields, normalised: name required, a number (to E.164) or an address or
    both. BadInput with a reason per field. `partial`: only the fields given (an edit)."""
    errors: dict[str, str] = {}
    values: dict[str, str | None] = {}
    for field in body:
        if field not in MEMBER_FIELDS:
            errors[field] = "not_settable"
    if "name" in body or not partial:
        values["name"] = _text(body.get("name"), "name", errors, MAX_MEMBER_NAME)
        if values["name"] is None:
            errors.setdefault("name", "required")
    if "phone" in body or not partial:
        phone = _text(body.get("phone"), "phone", errors, MAX_PHONE_TEXT)
        if phone is not None:
            try:
                phone = to_e164(phone, region)
            except BadInput as exc:
                errors["phone"] = exc.code.value
        values["phone"] = phone
    if "email" in body or not partial:
        email = _text(body.get("email"), "email", errors, MAX_EMAIL)
        if email is not None and not EMAIL_PATTERN.match(email):
            errors["email"] = "invalid"
        values["email"] = email.lower() if email else None
    if not partial and not errors and not values["phone"] and not values["email"]:
        errors["phone"] = errors["email"] = "phone_or_email"
    if errors:
        raise BadInput(ErrorCode.CHECK_FIELDS, errors)
    return values


def _text(value: Any, field: str, errors: dict[str, str], max_len: int) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        errors[field] = "not_text"
        return None
    value = " ".join(value.split())
    if len(value) > max_len or not is_storable(value):
        errors[field] = "too_long"
        return None
    return str(value)


# ---- groups --------------------------------------------------------------------------------


async def create_group(db: Database, name: Any, *, by: Agent) -> dict[str, Any]:
    name = group_name(name)
    now = utcnow()
    group_id = uuid.uuid4()
    try:
        async with db.write() as conn:
            await conn.execute(insert(g), {"id": group_id, "name": name, "created_at": now,
                                           "updated_at": now})
            await audit.record(conn, "group.create", agent_id=by.id, subject=str(group_id),
                               detail={"name": name})
            created = await get_group(conn, group_id)
    except IntegrityError as exc:
        raise Conflict(ErrorCode.GROUP_NAME_TAKEN.of(name=name),
                       {"fields": {"name": "taken"}}) from exc
    log.info("group %s created by %s", group_id, by.id)
    return created


async def rename_group(db: Database, group_id: uuid.UUID, name: Any, *,
                       by: Agent) -> dict[str, Any]:
    name = group_name(name)
    try:
        async with db.write() as conn:
            done = await conn.execute(update(g).where(g.c.id == group_id)
                                      .values(name=name, updated_at=utcnow()))
            if done.rowcount != 1:
                raise NotFound(ErrorCode.GROUP_NOT_FOUND)
            await audit.record(conn, "group.rename", agent_id=by.id, subject=str(group_id),
                               detail={"name": name})
            return await get_group(conn, group_id)
    except IntegrityError as exc:
        raise Conflict(ErrorCode.GROUP_NAME_TAKEN.of(name=name),
                       {"fields": {"name": "taken"}}) from exc


async def delete_group(db: Database, group_id: uuid.UUID, *, by: Agent) -> None:
    """The group and its members go; its messages' threads stay as requests (they are the
    record of what was sent), no longer joined by members' answers."""
    async with db.write() as conn:
        members = await conn.scalar(select(func.count()).where(gm.c.group_id == group_id))
        await conn.execute(delete(gm).where(gm.c.group_id == group_id))
        await conn.execute(delete(schema.group_messages)
                           .where(schema.group_messages.c.group_id == group_id))
        done = await conn.execute(delete(g).where(g.c.id == group_id))
        if done.rowcount != 1:
            raise NotFound(ErrorCode.GROUP_NOT_FOUND)
        await audit.record(conn, "group.delete", agent_id=by.id, subject=str(group_id),
                           detail={"members": members or 0})
    log.info("group %s deleted by %s with %d members", group_id, by.id, members or 0)


# ---- members -------------------------------------------------------------------------------


async def add_member(db: Database, group_id: uuid.UUID, body: Mapping[str, Any], *,
                     by: Agent, region: str) -> dict[str, Any]:
    values = clean_member(body, region=region)
    member_id = uuid.uuid4()
    async with db.write() as conn:
        await _lock_group(conn, group_id)
        await _refuse_duplicates(conn, group_id, values)
        await _refuse_over_limit(conn, group_id, 1)
        now = utcnow()
        await conn.execute(insert(gm), {"id": member_id, "group_id": group_id,
                                        "created_at": now, **values})
        await _touch(conn, group_id)
        await audit.record(conn, "group.member.add", agent_id=by.id, subject=str(member_id),
                           detail={"group_id": str(group_id), "fields": _given(values)})
        row = (await conn.execute(select(gm).where(gm.c.id == member_id))).one()
    log.info("group %s: member %s added by %s", group_id, member_id, by.id)
    return member_json(row)


async def update_member(db: Database, group_id: uuid.UUID, member_id: uuid.UUID,
                        body: Mapping[str, Any], *, by: Agent, region: str) -> dict[str, Any]:
    values = clean_member(body, region=region, partial=True)
    async with db.write() as conn:
        await _lock_group(conn, group_id)
        row = (await conn.execute(select(gm).where(gm.c.id == member_id,
                                                   gm.c.group_id == group_id))).first()
        if row is None:
            raise NotFound(ErrorCode.MEMBER_NOT_FOUND)
        changed = {k: v for k, v in values.items() if getattr(row, k) != v}
        after = {k: changed.get(k, getattr(row, k)) for k in MEMBER_FIELDS}
        if not after["phone"] and not after["email"]:
            raise BadInput(ErrorCode.CHECK_FIELDS, {"phone": "phone_or_email",
                                                    "email": "phone_or_email"})
        if changed:
            await _refuse_duplicates(conn, group_id, changed, other_than=member_id)
            await conn.execute(update(gm).where(gm.c.id == member_id).values(**changed))
            await _touch(conn, group_id)
            # Field names only: the values are the member's personal data.
            await audit.record(conn, "group.member.update", agent_id=by.id,
                               subject=str(member_id),
                               detail={"group_id": str(group_id), "changed": sorted(changed)})
        row = (await conn.execute(select(gm).where(gm.c.id == member_id))).one()
    return member_json(row)


async def remove_member(db: Database, group_id: uuid.UUID, member_id: uuid.UUID, *,
                        by: Agent) -> None:
    async with db.write() as conn:
        done = await conn.execute(delete(gm).where(gm.c.id == member_id,
                                                   gm.c.group_id == group_id))
        if done.rowcount != 1:
            raise NotFound(ErrorCode.MEMBER_NOT_FOUND)
        await _touch(conn, group_id)
        await audit.record(conn, "group.member.remove", agent_id=by.id, subject=str(member_id),
                           detail={"group_id": str(group_id)})
    log.info("group %s: member %s removed by %s", group_id, member_id, by.id)


async def import_members(db: Database, group_id: uuid.UUID, rows: Sequence[CsvMember], *,
                         replace: bool, by: Agent, region: str) -> dict[str, Any]:
    """Add the rows' members (all or none); `replace`: they become the whole group. A row
    whose number or address is in the group already is skipped, not doubled."""
    checked: list[dict[str, str | None]] = []
    errors: dict[str, str] = {}
    for row in rows:
        if row.problem:
            errors[f"line {row.line}"] = row.problem
            continue
        try:
            checked.append(clean_member({"name": row.name, "phone": row.phone,
                                         "email": row.email}, region=region))
        except BadInput as exc:
            errors[f"line {row.line}"] = "; ".join(f"{field}: {reason}" for field, reason
                                                   in exc.field_errors.items())
    if errors:
        line, problem = next(iter(errors.items()))
        raise BadInput(ErrorCode.CSV_LINES_INVALID.of(
            count=len(errors), line=int(line.removeprefix("line ")),
            field=problem.split(":")[0]), errors)
    async with db.write() as conn:
        await _lock_group(conn, group_id)
        removed = 0
        if replace:
            removed = (await conn.execute(delete(gm).where(gm.c.group_id == group_id))).rowcount
        known = await _contacts_in(conn, group_id)
        fresh: list[dict[str, Any]] = []
        now = utcnow()
        for values in checked:
            mine = {str(v) for v in (values["phone"], values["email"]) if v is not None}
            if mine & known:
                continue
            known |= mine
            fresh.append({"id": uuid.uuid4(), "group_id": group_id, "created_at": now,
                          **values})
        await _refuse_over_limit(conn, group_id, len(fresh))
        if fresh:
            await conn.execute(insert(gm), fresh)
        await _touch(conn, group_id)
        await audit.record(conn, "group.member.import", agent_id=by.id, subject=str(group_id),
                           detail={"added": len(fresh), "skipped": len(checked) - len(fresh),
                                   "removed": removed, "replace": replace})
        group = await get_group(conn, group_id)
    log.info("group %s: %d members imported by %s (%d skipped, %d removed)", group_id,
             len(fresh), by.id, len(checked) - len(fresh), removed)
    return {"group": group, "added": len(fresh), "skipped": len(checked) - len(fresh),
            "removed": removed}


async def _lock_group(conn: AsyncConnection, group_id: uuid.UUID) -> None:
    """The group exists (NotFound); on PostgreSQL its row is held, so two admins' changes to
    one group take turns and neither doubles a member."""
    query = select(g.c.id).where(g.c.id == group_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    if (await conn.execute(query)).first() is None:
        raise NotFound(ErrorCode.GROUP_NOT_FOUND)


async def _contacts_in(conn: AsyncConnection, group_id: uuid.UUID) -> set[str]:
    rows = await conn.execute(select(gm.c.phone, gm.c.email).where(gm.c.group_id == group_id))
    return {value for row in rows for value in row if value}


async def _refuse_duplicates(conn: AsyncConnection, group_id: uuid.UUID,
                             values: Mapping[str, str | None], *,
                             other_than: uuid.UUID | None = None) -> None:
    errors: dict[str, str] = {}
    for field in ("phone", "email"):
        value = values.get(field)
        if not value:
            continue
        query = select(gm.c.id).where(gm.c.group_id == group_id, gm.c[field] == value)
        if other_than is not None:
            query = query.where(gm.c.id != other_than)
        if (await conn.execute(query)).first() is not None:
            errors[field] = "taken"
    if errors:
        raise BadInput(ErrorCode.CHECK_FIELDS, errors)


async def _refuse_over_limit(conn: AsyncConnection, group_id: uuid.UUID, adding: int) -> None:
    count = await conn.scalar(select(func.count()).where(gm.c.group_id == group_id)) or 0
    if count + adding > MAX_MEMBERS:
        raise BadInput(ErrorCode.GROUP_TOO_MANY_MEMBERS.of(max=MAX_MEMBERS, count=count),
                       {"members": "too_many"})


async def _touch(conn: AsyncConnection, group_id: uuid.UUID) -> None:
    await conn.execute(update(g).where(g.c.id == group_id).values(updated_at=utcnow()))


def _given(values: Mapping[str, str | None]) -> list[str]:
    return sorted(field for field, value in values.items() if value)
