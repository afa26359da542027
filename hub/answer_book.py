"""The first answer a channel gives in its own response (the web form's confirmation), from
what the hub keeps in hand: answer templates and each lane's estimated wait, reloaded in the
background every few seconds (hub.refreshing). Answering a passenger therefore costs no
query after the commit: under a burst, thousands of confirmations a second would otherwise
each read the templates and the lane's queue again.

The texts and rules are hub.first_answers' (which the router's automatic answers use, reading
the same tables inside their own batch); only where the inputs come from differs.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from hub import schema
from hub.answer_templates import DEFAULTS, render_template
from hub.clock import utcnow
from hub.database import Database
from hub.first_answers import ACKNOWLEDGEMENT, OUT_OF_HOURS, opens_text
from hub.model import IngestResult
from hub.refreshing import Refreshing
from hub.wait_estimate import estimated_wait, format_wait

TEMPLATES_REFRESH_S = 5.0  # an admin's template change on another process
WAIT_REFRESH_S = 2.0  # the lane's estimated wait: a fresh figure, read once per lane

TemplateKey = tuple[str, str | None, str]  # kind, lane (None: every lane), language


class AnswerBook:
    def __init__(self, db: Database, *, zone: ZoneInfo) -> None:
        self._db = db
        self._zone = zone
        self._templates: Refreshing[Mapping[TemplateKey, str]] = Refreshing(
            "answer templates", self._load_templates, {}, max_age_s=TEMPLATES_REFRESH_S)
        self._waits: dict[str, Refreshing[timedelta | None]] = {}

    def __repr__(self) -> str:
        return f"<AnswerBook templates={len(self._templates.value)} lanes={len(self._waits)}>"

    def invalidate(self) -> None:
        """A template changed on this process: in force for the next answer."""
        self._templates.invalidate()

    async def close(self) -> None:
        await self._templates.close()
        for waits in self._waits.values():
            await waits.close()

    async def first_answer(self, result: IngestResult, name: str | None, language: str, *,
                           acknowledge: bool) -> str | None:
        """The out-of-hours answer for a request that came while its lane was closed, else
        the acknowledgement with the reference and estimated wait (when `acknowledge`)."""
        if not result.new_request or result.duplicate:
            return None
        values: dict[str, str | None] = {"reference": result.reference, "name": name or ""}
        if result.callback_due_at is not None:
            kind = OUT_OF_HOURS
            values["opens"] = opens_text(result.callback_due_at, language, self._zone)
        elif acknowledge:
            kind = ACKNOWLEDGEMENT
            values["wait"] = format_wait(await self._wait(result.lane), language)
        else:
            return None
        template = self._template(await self._templates.get(), kind, result.lane, language)
        return render_template(template, values) if template else None

    @staticmethod
    def _template(templates: Mapping[TemplateKey, str], kind: str, lane: str | None,
                  language: str) -> str | None:
        """The lane's own template, else the one for every lane, else the built-in text
        (the same choice as hub.answer_templates.find_template)."""
        if (kind, language) not in DEFAULTS:
            return None
        own = templates.get((kind, lane, language)) if lane else None
        return own or templates.get((kind, None, language)) or DEFAULTS[(kind, language)]

    async def _wait(self, lane: str | None) -> timedelta | None:
        if lane is None:
            return None
        if lane not in self._waits:
            async def load() -> timedelta | None:
                async with self._db.read() as conn:
                    return await estimated_wait(conn, lane, utcnow())

            self._waits[lane] = Refreshing(f"estimated wait in {lane}", load, None,
                                           max_age_s=WAIT_REFRESH_S)
        return await self._waits[lane].get()

    async def _load_templates(self) -> Mapping[TemplateKey, str]:
        t = schema.answer_templates
        async with self._db.read() as conn:
            rows = (await conn.execute(select(t.c.kind, t.c.lane, t.c.language, t.c.body)
                                       .order_by(t.c.updated_at))).all()
        # Ordered oldest first, so the newest of any duplicates wins, as find_template's does.
        return {(row.kind, row.lane, row.language): row.body for row in rows}
