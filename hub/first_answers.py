"""The automatic first answer to a new request: the out-of-hours answer when it came while
its lane was closed (it is a callback due at the next opening), else the acknowledgement
with its reference and the estimated wait. The texts are the lane's templates in the
passenger's language (`hub.answer_templates`)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from hub import catalogue, schema
from hub.answer_templates import find_template, render_template
from hub.clock import utcnow
from hub.wait_estimate import estimated_wait, format_wait

OUT_OF_HOURS = "out_of_hours"
ACKNOWLEDGEMENT = "acknowledgement"


async def first_answer(conn: AsyncConnection, request_id: uuid.UUID, language: str, *,
                       acknowledge: bool, zone: ZoneInfo,
                       cache: dict[tuple[str, ...], Any] | None = None
                       ) -> tuple[str, str] | None:
    """(kind, text) of the answer the request gets, or None (acknowledgements off).
    `cache` keeps lanes' waits and templates across one batch of answers."""
    cache = {} if cache is None else cache
    r, c = schema.contact_requests, schema.contacts
    found = (await conn.execute(
        select(r.c.reference, r.c.lane, r.c.details, r.c.callback_due_at, c.c.name)
        .join(c, c.c.id == r.c.contact_id).where(r.c.id == request_id))).first()
    if found is None:
        return None
    details = found.details or {}
    values: dict[str, str | None] = {"reference": found.reference, "name": found.name or ""}
    if details.get("out_of_hours") == "true":
        kind = OUT_OF_HOURS
        due = found.callback_due_at
        values["opens"] = opens_text(due.isoformat() if due else None, language, zone)
    elif acknowledge:
        kind = ACKNOWLEDGEMENT
        if ("wait", found.lane) not in cache:
            cache[("wait", found.lane)] = await estimated_wait(conn, found.lane, utcnow())
        values["wait"] = format_wait(cache[("wait", found.lane)], language)
    else:
        return None
    if (kind, found.lane, language) not in cache:
        cache[(kind, found.lane, language)] = await find_template(conn, kind, found.lane,
                                                                  language)
    template = cache[(kind, found.lane, language)]
    return (kind, render_template(template, values)) if template else None


def opens_text(due: str | None, language: str, zone: ZoneInfo) -> str:
    """The next opening as a passenger reads it: "ma 1.12. klo 7.00", "mån 1.12. kl. 7.00",
    "Mon 1 Dec 07:00" (the passenger catalogue's `answer.opens`)."""
    try:
        at = datetime.fromisoformat(due or "").astimezone(zone)
    except ValueError:
        return "—"
    language = catalogue.supported(language)
    day, date, time = catalogue.format_moment(language, at)
    return catalogue.text(language, "answer.opens", day=day, date=date, time=time)
