"""Agent accounts: dispatchers, team members and external users."""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from hub import audit, schema
from hub.clock import utcnow
from hub.database import Database
from hub.errors import BadInput, Conflict
from hub.model import Agent, Role
from hub.passwords import MIN_PASSWORD_LENGTH, hash_password
from hub.text import is_storable

LOGIN_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")


def _agent(row: Any) -> Agent:
    return Agent(
        id=row.id, login=row.login, name=row.name, role=Role(row.role), email=row.email,
        phone=row.phone, phone_login=row.phone_login, active=row.active,
    )


async def get_agent(conn: AsyncConnection, agent_id: uuid.UUID) -> Agent | None:
    row = (await conn.execute(select(schema.agents).where(schema.agents.c.id == agent_id))).first()
    return _agent(row) if row else None


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
        raise BadInput("login must be 2–64 characters: a-z, 0-9, dot, dash, underscore")
    if not name.strip():
        raise BadInput("name is required")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise BadInput(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    if not all(is_storable(text) for text in (login, name, password, email or "")):
        raise BadInput("the account details contain characters that cannot be stored")
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
        raise Conflict(f"login {login!r} is taken") from exc
    return agent


def agent_json(agent: Agent) -> dict[str, Any]:
    return {
        "id": str(agent.id), "login": agent.login, "name": agent.name, "role": agent.role.value,
        "email": agent.email, "phone": agent.phone, "phone_login": agent.phone_login,
    }
