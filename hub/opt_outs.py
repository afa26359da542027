"""Numbers that texted STOP (or LOPETA...): no SMS goes to them until they text START."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from hub import schema


async def opted_out(conn: AsyncConnection, phones: Iterable[str]) -> dict[str, Any]:
    """Of these E.164 numbers, the opted-out ones, each with its `keyword` and `at`."""
    wanted = list(set(phones))
    if not wanted:
        return {}
    o = schema.sms_opt_outs
    rows = await conn.execute(select(o.c.phone, o.c.keyword, o.c.at)
                              .where(o.c.phone.in_(wanted)))
    return {row.phone: row for row in rows}
