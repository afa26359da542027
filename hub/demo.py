"""Demo data for a first run: a dispatcher to log in with, a few passengers' contacts and
the canned replies a taxi centre sends most."""

from __future__ import annotations

import contextlib
import logging
import uuid
from datetime import timedelta

from aiohttp import web
from sqlalchemy import func, select

from dispatch.canned_demo import seed_canned_replies
from dispatch.lanes_demo import seed_lanes
from hub import schema
from hub.agents import add_agent
from hub.appkeys import DATABASE, INGESTOR, LANES
from hub.clock import utcnow
from hub.errors import Conflict
from hub.model import Channel, InboundContact, Role

log = logging.getLogger(__name__)

DEMO_LOGIN = "demo"
DEMO_PASSWORD = "taxi-demo-2026"

DEMO_CONTACTS = [
    ("Aino Virtanen", "+358401234567", None,
     "Tarvitsen taksin Kampista lentokentälle klo 18.", "Kampinkuja 2, Helsinki",
     "Helsinki-Vantaan lentoasema"),
    ("Mikko Korhonen", None, "mikko.korhonen@example.fi",
     "Unohdin sateenvarjon autoon eilen illalla, kyyti Kalliosta Töölöön.", None, None),
    ("Emma Smith", "+447700900123", None,
     "Need a taxi for 4 people with luggage from Hotel Kämp.", "Pohjoisesplanadi 29",
     "Helsinki Central Station"),
]


async def seed_demo(app: web.Application) -> None:
    db = app[DATABASE]
    with contextlib.suppress(Conflict):  # a second run keeps the first run's account
        await add_agent(db, login=DEMO_LOGIN, name="Demo Dispatcher", role=Role.ADMIN,
                        password=DEMO_PASSWORD)
    await seed_lanes(db)
    app[LANES].invalidate()
    async with db.read() as conn:
        count = await conn.scalar(select(func.count()).select_from(schema.contact_requests))
    if not count:
        now = utcnow()
        for minutes, (name, phone, email, body, pickup, destination) in enumerate(DEMO_CONTACTS):
            details = {k: v for k, v in (("pickup_address", pickup),
                                         ("destination", destination)) if v}
            await app[INGESTOR].submit(InboundContact(
                channel=Channel.WEBFORM, idempotency_key=f"demo-{uuid.uuid4()}",
                received_at=now - timedelta(minutes=3 * (len(DEMO_CONTACTS) - minutes)),
                body=body, name=name, phone=phone, email=email, details=details,
            ))
    await seed_canned_replies(db)
    print(f"Demo dispatcher login: {DEMO_LOGIN} / password: {DEMO_PASSWORD}", flush=True)
