"""Agent accounts: dispatchers, team members and external users."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Mapping
from typing import Any, TypedDict

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from hub import audit, schema
from hub.clock import utcnow
from hub.database import Database
from hub.error_codes import ErrorCode
from hub.errors import BadInput, Conflict, NotFound
from hub.json_types import JsonObject
from hub.model import Agent, Role
from hub.passwords import MIN_PASSWORD_LENGTH, hash_password
from hub.phone import to_e164
from hub.text import is_storable

LOGIN_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
# Set by an admin for someone else: longer than a self-chosen minimum, as it travels.
ADMIN_MIN_PASSWORD_LENGTH = max(12, MIN_PASSWORD_LENGTH)
# A PBX extension or SIP user: digits, letters and the few marks dial plans use.
PHONE_LOGIN_PATTERN = re.compile(r"^[0-9A-Za-z*#+._@-]{1,32}$")
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_NAME = 200
MAX_EMAIL = 320
MAX_PHONE_TEXT = 40
EDITABLE = ("name", "role", "email", "phone", "phone_login", "active")


def _agent(row: Any) -> Agent:
    return Agent(
        id=row.id, login=row.login, name=row.name, role=Role(row.role), email=row.email,
        phone=row.phone, phone_login=row.phone_login, active=row.active,
    )


async def get_agent(conn: AsyncConnection, agent_id: uuid.UUID) -> Agent | None:
    row = (await conn.execute(select(schema.agents).where(schema.agents.c.id == agent_id))).first()
    return _agent(row) if row else None


async def get_agents(conn: AsyncConnection, agent_ids: set[uuid.UUID]
                     ) -> dict[uuid.UUID, Agent]:
    if not agent_ids:
        return {}
    rows = await conn.execute(select(schema.agents).where(schema.agents.c.id.in_(agent_ids)))
    return {row.id: _agent(row) for row in rows}


async def find_login(conn: AsyncConnection, login: str) -> tuple[Agent, str] | None:
    """The active agent with this login and their password hash."""
    a = schema.agents
    row = (await conn.execute(select(a).where(a.c.login == login.lower(), a.c.active))).first()
    return (_agent(row), row.password_hash) if row else None


async def add_agent(db: Database, *, login: str, name: str, role: Role, password: str,
                    email: str | None = None, phone: str | None = None,
                    phone_login: str | None = None, by: uuid.UUID | None = None) -> Agent:
    login = login.strip().lower()
    if not LOGIN_PATTERN.match(login):
        raise BadInput(ErrorCode.LOGIN_INVALID)
    if not name.strip():
        raise BadInput(ErrorCode.NAME_REQUIRED)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise BadInput(ErrorCode.PASSWORD_TOO_SHORT.of(min=MIN_PASSWORD_LENGTH))
    if not all(is_storable(text) for text in (login, name, password, email or "")):
        raise BadInput(ErrorCode.ACCOUNT_UNSTORABLE)
    password_hash = await asyncio.to_thread(hash_password, password)  # slow on purpose
    now = utcnow()
    agent = Agent(id=uuid.uuid4(), login=login, name=name.strip(), role=role, email=email,
                  phone=phone, phone_login=phone_login)
    try:
        async with db.write() as conn:
            await conn.execute(insert(schema.agents), {
                "id": agent.id, "login": agent.login, "name": agent.name, "email": email,
                "role": role.value, "phone": phone, "phone_login": phone_login,
                "password_hash": password_hash, "active": True,
                "created_at": now, "updated_at": now,
            })
            await audit.record(conn, "agent.add", agent_id=by, subject=str(agent.id),
                               detail={"login": login, "role": role.value})
    except IntegrityError as exc:
        raise Conflict(ErrorCode.LOGIN_TAKEN.of(login=login)) from exc
    return agent


def agent_json(agent: Agent) -> JsonObject:
    return {
        "id": str(agent.id), "login": agent.login, "name": agent.name, "role": agent.role.value,
        "email": agent.email, "phone": agent.phone, "phone_login": agent.phone_login,
    }


# ---- administration: the admin pages' accounts ------------------------------------------


class AccountJson(TypedDict):
    """An account as the admin pages see it."""

    id: str
    login: str
    name: str
    role: str
    email: str | None
    phone: str | None
    phone_login: str | None
    active: bool
    created_at: str
    updated_at: str


def account_json(row: Any) -> AccountJson:
    """An agents row as the admin pages see it: everything but the password hash."""
    return {
        "id": str(row.id), "login": row.login, "name": row.name, "role": row.role,
        "email": row.email, "phone": row.phone, "phone_login": row.phone_login,
        "active": bool(row.active), "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
    }


def _account_columns() -> list[Any]:
    return [c for c in schema.agents.c if c.name != "password_hash"]


async def list_agents(conn: AsyncConnection) -> list[AccountJson]:
    """Every account, active or not, by login."""
    a = schema.agents
    rows = await conn.execute(select(*_account_columns()).order_by(a.c.login))
    return [account_json(row) for row in rows]


async def get_account(conn: AsyncConnection, agent_id: uuid.UUID) -> AccountJson | None:
    a = schema.agents
    row = (await conn.execute(select(*_account_columns()).where(a.c.id == agent_id))).first()
    return account_json(row) if row else None


def _optional_text(value: Any, field: str, errors: dict[str, str], max_len: int) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        errors[field] = "not_text"
        return None
    value = value.strip()
    if len(value) > max_len or not is_storable(value):
        errors[field] = "too_long"
        return None
    return str(value)


def clean_fields(body: Mapping[str, Any], allowed: tuple[str, ...], *,
                 default_region: str) -> dict[str, Any]:
    """Check and normalise account fields (phone to E.164, login to lower case).

    Raises BadInput with an error per field; fields absent from `body` are left out.
    """
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    for field in body:
        if field not in allowed:
            errors[field] = "not_settable"
    if "login" in body:
        login = body["login"]
        if not isinstance(login, str) or not LOGIN_PATTERN.match(login.strip().lower()):
            errors["login"] = "invalid"
        else:
            values["login"] = login.strip().lower()
    if "name" in body:
        name = _optional_text(body["name"], "name", errors, MAX_NAME)
        if name is None:
            errors.setdefault("name", "required")
        values["name"] = name
    if "role" in body:
        try:
            values["role"] = Role(str(body["role"]))
        except ValueError:
            errors["role"] = "invalid"
    if "email" in body:
        email = _optional_text(body["email"], "email", errors, MAX_EMAIL)
        if email is not None and not EMAIL_PATTERN.match(email):
            errors["email"] = "invalid"
        values["email"] = email
    if "phone" in body:
        phone = _optional_text(body["phone"], "phone", errors, MAX_PHONE_TEXT)
        if phone is not None:
            try:
                phone = to_e164(phone, default_region)
            except BadInput as exc:
                errors["phone"] = exc.code.value
        values["phone"] = phone
    if "phone_login" in body:
        phone_login = _optional_text(body["phone_login"], "phone_login", errors, 32)
        if phone_login is not None and not PHONE_LOGIN_PATTERN.match(phone_login):
            errors["phone_login"] = "invalid"
        values["phone_login"] = phone_login
    if "active" in body:
        if not isinstance(body["active"], bool):
            errors["active"] = "invalid"
        values["active"] = body["active"]
    if "password" in body:
        password = body["password"]
        if not isinstance(password, str) or len(password) < ADMIN_MIN_PASSWORD_LENGTH \
                or not is_storable(password):
            errors["password"] = "too_short"
        values["password"] = password
    if errors == {"password": "too_short"}:  # the one field: its own words, with the minimum
        raise BadInput(ErrorCode.PASSWORD_TOO_SHORT.of(min=ADMIN_MIN_PASSWORD_LENGTH), errors)
    if errors:
        raise BadInput(ErrorCode.CHECK_FIELDS, errors)
    return values


async def create_account(db: Database, body: JsonObject, *, by: Agent,
                         default_region: str) -> AccountJson:
    """An admin adds an account: login, name, role and password required."""
    missing = {f: "required" for f in ("login", "name", "role", "password") if f not in body}
    if missing:
        raise BadInput(ErrorCode.CHECK_FIELDS, missing)
    values = clean_fields(body, ("login", "name", "role", "password", "email", "phone",
                                 "phone_login"), default_region=default_region)
    a = schema.agents
    async with db.read() as conn:
        taken = (await conn.execute(select(a.c.id).where(a.c.login == values["login"]))).first()
    if taken:
        raise Conflict(ErrorCode.LOGIN_TAKEN.of(login=values["login"]),
                       {"fields": {"login": "taken"}})
    agent = await add_agent(db, login=values["login"], name=values["name"],
                            role=values["role"], password=values["password"],
                            email=values.get("email"), phone=values.get("phone"),
                            phone_login=values.get("phone_login"), by=by.id)
    async with db.read() as conn:
        created = await get_account(conn, agent.id)
    assert created is not None
    return created


async def update_agent(db: Database, agent_id: uuid.UUID, body: JsonObject, *,
                       by: Agent, default_region: str) -> tuple[AccountJson, AccountJson]:
    """An admin changes an account; returns it before and after.

    An admin cannot disable or demote themselves (Conflict): there is always one admin
    left who can undo a mistake.
    """
    values = clean_fields(body, EDITABLE, default_region=default_region)
    if agent_id == by.id:
        if values.get("active") is False:
            raise Conflict(ErrorCode.CANNOT_DISABLE_SELF)
        if "role" in values and values["role"] is not Role.ADMIN:
            raise Conflict(ErrorCode.CANNOT_DEMOTE_SELF)
    a = schema.agents
    async with db.write() as conn:
        row = (await conn.execute(select(*_account_columns()).where(a.c.id == agent_id)
                                  .with_for_update())).first()
        if row is None:
            raise NotFound(ErrorCode.AGENT_NOT_FOUND)
        before = account_json(row)
        stored = {k: (v.value if isinstance(v, Role) else v) for k, v in values.items()}
        changed = {k: v for k, v in stored.items() if before.get(k) != v}
        if not changed:
            return before, before
        await conn.execute(update(a).where(a.c.id == agent_id)
                           .values(**changed, updated_at=utcnow()))
        # Field names only, and the role and state: no personal data in the trail.
        detail: dict[str, Any] = {"login": row.login, "changed": sorted(changed)}
        detail.update({k: changed[k] for k in ("role", "active") if k in changed})
        action = ("agent.disable" if changed.get("active") is False
                  else "agent.enable" if changed.get("active") is True else "agent.update")
        await audit.record(conn, action, agent_id=by.id, subject=str(agent_id), detail=detail)
        after = await get_account(conn, agent_id)
    assert after is not None
    return before, after


async def set_password(db: Database, agent_id: uuid.UUID, password: Any, *,
                       by: Agent) -> AccountJson:
    """An admin sets a new password for an account (the caller ends its sessions)."""
    if not isinstance(password, str):
        raise BadInput(ErrorCode.CHECK_FIELDS, {"password": "required"})
    clean_fields({"password": password}, ("password",), default_region="")
    password_hash = await asyncio.to_thread(hash_password, password)
    a = schema.agents
    async with db.write() as conn:
        result = await conn.execute(update(a).where(a.c.id == agent_id)
                                    .values(password_hash=password_hash, updated_at=utcnow())
                                    .returning(a.c.login))
        login = result.scalar_one_or_none()
        if login is None:
            raise NotFound(ErrorCode.AGENT_NOT_FOUND)
        await audit.record(conn, "agent.password", agent_id=by.id, subject=str(agent_id),
                           detail={"login": login})
        after = await get_account(conn, agent_id)
    assert after is not None
    return after
