"""Numbers that texted STOP (or LOPETA...): no SMS goes to them until they text START."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from hub import schema


@dataclass(frozen=True, slots=True)
class OptOut:
    """The word the passenger texted, and when."""

    keyword: str
    at: datetime


async def opted_out(conn: AsyncConnection, phones: Iterable[str]) -> dict[str, OptOut]:
    """Of these E.164 numbers, the opted-out ones, each with its `keyword` and `at`."""
    wanted = list(set(phones))
    if not wanted:
        return {}
    o = schema.sms_opt_outs
    rows = await conn.execute(select(o.c.phone, o.c.keyword, o.c.at)
                              .where(o.c.phone.in_(wanted)))
    return {row.phone: OptOut(row.keyword, row.at) for row in rows}
