"""The demo's canned replies: what a taxi centre answers most, in Finnish and English. The
lost-property ones belong to the demo's lost-property lane when it exists
(`dispatch.lanes_demo`), so the picker offers them only there."""

from __future__ import annotations

from sqlalchemy import func, select

from dispatch.canned import CannedFields, clean_fields
from dispatch.canned_store import add_reply
from hub import schema
from hub.database import Database

LOST_LANE = "lost"
DEMO_REPLIES: tuple[tuple[str, str, str], ...] = (
    ("fi", "Tilaus vahvistettu",
     "Taksi on tilattu, viite {reference}, arvioitu saapumisaika {eta}."),
    ("fi", "Auto matkalla",
     "Hei {name}, taksi on matkalla ja perillä noin {eta} kuluttua. Viite {reference}."),
    ("fi", "Kaikki autot ajossa",
     "Pahoittelemme, kaikki autot ovat juuri nyt ajossa. Arvioitu odotusaika on {eta}. "
     "Pidämmekö tilauksen voimassa? Viite {reference}."),
    ("fi", "Löytötavara",
     "Hei {name}, tarkistamme löytötavarat ja palaamme asiaan tänään. Viite {reference}."),
    ("fi", "Kuljettaja soittaa",
     "Kuljettaja soittaa, kun auto on perillä. Viite {reference}. Terveisin {agent}"),
    ("en", "Order confirmed",
     "Your taxi is booked, reference {reference}, estimated arrival {eta}."),
    ("en", "Taxi on its way",
     "Hello {name}, your taxi is on its way and will be there in about {eta}. "
     "Reference {reference}."),
    ("en", "All cars busy",
     "We are sorry, all our cars are busy right now. The estimated wait is {eta}. "
     "Shall we keep your order? Reference {reference}."),
    ("en", "Lost property",
     "Hello {name}, we are checking our lost property and will get back to you today. "
     "Reference {reference}."),
)


async def seed_canned_replies(db: Database) -> int:
    """Add the demo replies to a hub that has none; returns how many were added."""
    async with db.read() as conn:
        if await conn.scalar(select(func.count()).select_from(schema.canned_replies)):
            return 0
        lost = await conn.scalar(select(schema.lanes.c.key)
                                 .where(schema.lanes.c.key == LOST_LANE))
    for position, (language, title, body) in enumerate(DEMO_REPLIES, start=1):
        lane = lost if title in ("Löytötavara", "Lost property") else None
        fields: CannedFields = clean_fields({"title": title, "language": language,
                                             "body": body, "position": position, "lane": lane})
        await add_reply(db, fields, by=None)
    return len(DEMO_REPLIES)
