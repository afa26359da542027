"""Every statement the hub runs while taking contacts in and routing them to the consoles is
answered from an index on SQLite, never by scanning a table that grows with the traffic.

A scan costs nothing on a fresh test database and everything on a year of data: ingest once
looked messages and identities up by `(a, b) IN ((?, ?), …)`, which SQLite answers by
reading the whole table, so every commit batch read every message ever stored and ingest
slowed as the register grew (hub.pairs). The statements are recorded as the hub sends them
to the database (SQLAlchemy's cursor event), then each is put to SQLite's own planner.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url

from hub.settings import (
    AnswersSettings,
    ChannelsSettings,
    GenericSmsSettings,
    HttpSettings,
    Secret,
    Settings,
    SmsSettings,
)
from tests.conftest import DispatcherFactory, HubFactory, free_port
from tests.gateways import GENERIC_TOKEN, FakeGenericGateway
from tests.helpers import eventually, order

SECRET = "whsec_plans"
# Tables whose rows come with every contact, call or action: a scan of one grows with time.
# (The outbox does not: its rows are deleted once published.)
GROWING = frozenset({
    "contacts", "contact_identities", "contact_requests", "messages", "handling_events",
    "calls", "recordings", "deliveries", "notice_answers", "audit_log", "sms_opt_outs",
    "sms_parts", "group_messages", "group_members",
})
NOTICE = {"text_fi": "Myrsky: odotusajat ovat pitkiä.", "text_en": "Storm: long waits.",
          "channels": ["webform", "sms"]}


@dataclasses.dataclass
class Recorded:
    statements: dict[str, Any] = dataclasses.field(default_factory=dict)
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)


@pytest.fixture
def recorded() -> Iterator[Recorded]:
    """What the hub sends to its database, one example of each statement's parameters."""
    seen = Recorded()

    def on_execute(_conn: Any, _cursor: Any, statement: str, parameters: Any,
                   _context: Any, executemany: bool) -> None:
        if executemany and parameters:
            parameters = parameters[0]
        with seen.lock:
            seen.statements.setdefault(statement, parameters)

    event.listen(Engine, "before_cursor_execute", on_execute)
    yield seen
    event.remove(Engine, "before_cursor_execute", on_execute)


def _signed(raw: bytes) -> str:
    t = int(time.time())
    digest = hmac.new(SECRET.encode(), str(t).encode() + b"." + raw, hashlib.sha256)
    return f"t={t},v1={digest.hexdigest()}"


def _scans(database: str, statement: str, parameters: Any) -> list[str]:
    """The planner's SCAN steps over growing tables ("SCAN messages", "SCAN t USING
    COVERING INDEX …" alike: each reads every row or index entry)."""
    with sqlite3.connect(database) as conn:
        plan = conn.execute(f"EXPLAIN QUERY PLAN {statement}", parameters or ()).fetchall()
    steps = [row[3] for row in plan]
    words = " ".join(statement.upper().split())
    if (" ORDER BY " in words and " LIMIT " in words and " WHERE " not in words
            and not any("TEMP B-TREE" in s for s in steps)):
        return []  # the newest rows, read in key order and stopped at the limit
    return [s for s in steps if s.startswith("SCAN ") and s.split()[1] in GROWING]


async def test_taking_contacts_in_reads_by_index_only(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings, recorded: Recorded
) -> None:
    url = make_url(settings.database.url.reveal())
    if url.get_backend_name() != "sqlite":
        pytest.skip("the plans checked are SQLite's; PostgreSQL plans by its statistics")
    port = free_port()
    async with FakeGenericGateway() as gateway:
        client = await hub(dataclasses.replace(
            settings,
            channels=ChannelsSettings(enabled=("webform", "generic_sms")),
            http=HttpSettings(public_url=f"http://127.0.0.1:{port}"),
            answers=AnswersSettings(acknowledge=("sms", "webform")),
            sms=SmsSettings(generic=GenericSmsSettings(
                signing_secret=Secret(SECRET), send_url=gateway.url + "/send",
                send_token=Secret(GENERIC_TOKEN), from_number="+358450000000")),
        ), port=port)
        with recorded.lock:
            recorded.statements.clear()  # the migrations' one-off statements at start-up
        anna = await dispatcher(client)
        async with anna.http.post(f"{anna.base}/api/v1/notices", json=NOTICE) as response:
            assert response.status == 201, await response.text()
        console = await anna.console()
        # Several at once, so that batches hold several keys and identities: SQLite plans a
        # single (a, b) pair by index, two or more by a scan.
        answers = await asyncio.gather(*(client.post("/api/v1/contact-requests", json=order(
            f"plan-order-{n}", phone=f"+35840123450{n}", email=f"matkustaja{n}@example.fi"))
            for n in range(3)))
        assert [a.status for a in answers] == [201] * 3, [await a.text() for a in answers]
        for n in range(3):
            response = await client.post("/api/v1/contact-requests", json=order(  # a retry
                f"plan-order-{n}", phone=f"+35840123450{n}", email=f"matkustaja{n}@example.fi"))
            assert response.status in (200, 201), await response.text()
            # The form's passenger texts too; a new passenger texts (and is acknowledged).
            for sender in (f"+35840123450{n}", f"+35840999990{n}"):
                raw = json.dumps({"message_id": f"sms-{sender}", "from": sender,
                                  "to": "+358451234567", "text": f"Taksi {n}"}).encode()
                response = await client.post("/webhooks/sms/generic", data=raw, headers={
                    "Content-Type": "application/json",
                    "X-TaxiConnect-Signature": _signed(raw)})
                assert response.status == 200, await response.text()
        messages: list[str] = []

        def third_text(event: dict[str, Any]) -> bool:
            if event["type"] == "request.message":
                messages.append(event["request"]["id"])
            return len(messages) == 3
        await console.until(third_text)

        async def acknowledged() -> bool | None:
            return len(gateway.received) >= 3 or None
        await eventually(acknowledged, what="the SMS acknowledgements")

    with recorded.lock:
        statements = dict(recorded.statements)
    assert any("INSERT INTO messages" in s for s in statements), "nothing recorded"
    reading = {s: p for s, p in statements.items()
               if s.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE", "WITH"))}
    scanning = {s: found for s, p in reading.items()
                if (found := _scans(url.database or "", s, p))}
    assert not scanning, "\n\n".join(f"{found}: {s}" for s, found in scanning.items())
