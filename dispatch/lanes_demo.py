"""Demo lanes for a first run: the queues a Finnish taxi centre typically keeps, with rules
that route by keyword stems (Finnish inflects: "unoh" finds unohdin, unohtui)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, insert, select

from hub import schema
from hub.clock import utcnow
from hub.database import Database

WEEKDAYS_8_TO_16 = {"timezone": "Europe/Helsinki",
                    "week": {day: [["08:00", "16:00"]] for day in
                             ("mon", "tue", "wed", "thu", "fri")}}

DEMO_LANES: list[dict[str, Any]] = [
    {"key": "orders", "name_fi": "Tilaukset", "name_en": "Orders", "position": 1,
     "priority": 10, "strategy": "offer", "offer_timeout_s": 30, "last_agent_window_s": 1800,
     "capacity": 0, "target_wait_s": 60, "opening_hours": {}},
    {"key": "where", "name_fi": "Missä taksini?", "name_en": "Where is my taxi", "position": 2,
     "priority": 20, "strategy": "manual", "offer_timeout_s": 30, "last_agent_window_s": 900,
     "capacity": 0, "target_wait_s": 45, "opening_hours": {}},
    {"key": "lost", "name_fi": "Löytötavarat", "name_en": "Lost property", "position": 3,
     "priority": 0, "strategy": "manual", "offer_timeout_s": 30, "last_agent_window_s": 0,
     "capacity": 0, "target_wait_s": 3600, "opening_hours": WEEKDAYS_8_TO_16},
    {"key": "invoicing", "name_fi": "Laskutus", "name_en": "Invoicing", "position": 4,
     "priority": -10, "strategy": "manual", "offer_timeout_s": 30, "last_agent_window_s": 0,
     "capacity": 0, "target_wait_s": 14400, "opening_hours": WEEKDAYS_8_TO_16},
    {"key": "drivers", "name_fi": "Kuljettajatuki", "name_en": "Driver support",
     "position": 5, "priority": 15, "strategy": "manual", "offer_timeout_s": 30,
     "last_agent_window_s": 0, "capacity": 0, "target_wait_s": 120, "opening_hours": {}},
]
DEMO_RULES: list[dict[str, Any]] = [
    {"lane": "where", "keywords": ["missä", "myöhäs", "where is", "late"]},
    {"lane": "lost", "keywords": ["unoh", "löyt", "kadot", "hukk", "lost", "forgot"]},
    {"lane": "invoicing", "keywords": ["lasku", "kuitti", "invoice", "receipt"]},
    {"lane": "drivers", "keywords": ["kuljettaja", "maksupääte", "driver"]},
    {"lane": "orders", "channel": "webform"},
    {"lane": "orders", "keywords": ["tilau", "taksi", "kyyti", "taxi", "pick"]},
]


async def seed_lanes(db: Database) -> None:
    """The demo lanes and rules, once: an installation that has its own is left alone."""
    async with db.read() as conn:
        lanes = await conn.scalar(select(func.count()).select_from(schema.lanes))
        rules = await conn.scalar(select(func.count()).select_from(schema.routing_rules))
    if (lanes or 0) > 1 or rules:
        return
    now = utcnow()
    async with db.write() as conn:
        await conn.execute(insert(schema.lanes),
                           [{**lane, "active": True, "updated_at": now} for lane in DEMO_LANES])
        await conn.execute(insert(schema.routing_rules), [
            {"id": uuid.uuid4(), "position": position, "channel": None, "contacted": None,
             "keywords": [], "form": None, "active": True, "updated_at": now, **rule}
            for position, rule in enumerate(DEMO_RULES)])
