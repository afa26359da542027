"""The queue's search, filters and order through GET /api/v1/requests, as the console uses
them: a number as a Finn says it on the phone, a name, a reference, a word of any message;
"mine", "unassigned", "callbacks" and a lane; priority, the longest waiting, and an overdue
callback on top. Runs on SQLite, and on PostgreSQL with TEST_DATABASE_URL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import update

from hub import schema
from hub.appkeys import DATABASE, INGESTOR
from hub.model import Channel, InboundContact
from tests.conftest import DispatcherFactory, HubFactory
from tests.helpers import Dispatcher

r = schema.contact_requests


async def _ingest(client: TestClient[Any, Any], minutes_ago: float, **fields: Any) -> str:
    """A request that came in `minutes_ago`; returns its id."""
    contact = InboundContact(
        channel=fields.pop("channel", Channel.SMS), idempotency_key=f"t-{uuid.uuid4()}",
        received_at=datetime.now(UTC) - timedelta(minutes=minutes_ago), **fields)
    result = await client.app[INGESTOR].submit(contact)
    return str(result.request_id)


async def _set(client: TestClient[Any, Any], request_id: str, **values: Any) -> None:
    """Place a request as routing would (lane, priority, callback details)."""
    async with client.app[DATABASE].write() as conn:
        await conn.execute(update(r).where(r.c.id == uuid.UUID(request_id)).values(**values))


async def _ids(agent: Dispatcher, query: str = "", status: int = 200) -> list[str]:
    async with agent.http.get(f"{agent.base}/api/v1/requests{query}") as resp:
        body = await resp.json()
        assert resp.status == status, body
        return [found["id"] for found in body["requests"]] if status == 200 else body


async def _queue(client: TestClient[Any, Any]) -> dict[str, str]:
    """Four passengers over three channels, oldest first."""
    return {
        "aino": await _ingest(client, 40, name="Aino Virtanen", phone="+358401234567",
                              body="Taksi lentokentälle klo 18"),
        "emma": await _ingest(client, 30, channel=Channel.EMAIL, name="Emma Smith",
                              email="emma.smith@example.org", subject="Taxi for four",
                              body="Hotel Kämp at 15:30\nfour people and a pram, 100% sure"),
        "anon": await _ingest(client, 20, phone="+358505550101",
                              body="Unohdin sateenvarjon autoon"),
        "pekka": await _ingest(client, 10, channel=Channel.WEBFORM, name="Pekka Aho",
                               phone="+358449876543", body="Kyyti Pasilaan"),
    }


async def test_a_number_is_found_however_the_dispatcher_types_it(
    hub: HubFactory, dispatcher: DispatcherFactory
) -> None:
    client = await hub()
    agent = await dispatcher(client)
    ids = await _queue(client)

    for typed in ["0401234567", "040 123 4567", "040-123 4567", "+358 40 123 4567",
                  "+358401234567", "00358401234567", "040123", "1234567"]:
        assert await _ids(agent, f"?q={_quote(typed)}") == [ids["aino"]], typed
    assert await _ids(agent, "?q=0401234568") == []  # one digit off is someone else
    assert await _ids(agent, "?q=0505550101") == [ids["anon"]]
    assert await _ids(agent, "?q=044%20987") == [ids["pekka"]]


async def test_names_references_and_message_text_are_found_every_word_counting(
    hub: HubFactory, dispatcher: DispatcherFactory
) -> None:
    client = await hub()
    agent = await dispatcher(client)
    ids = await _queue(client)
    reference = (await agent.request(ids["emma"]))["reference"]

    assert await _ids(agent, "?q=virtanen") == [ids["aino"]]
    assert await _ids(agent, "?q=AINO%20virt") == [ids["aino"]]  # both words, any case
    assert await _ids(agent, "?q=aino%20pasila") == []  # every word must match
    assert await _ids(agent, f"?q={reference}") == [ids["emma"]]
    assert await _ids(agent, "?q=emma.smith@example") == [ids["emma"]]  # the address
    assert await _ids(agent, "?q=pram") == [ids["emma"]]  # the body beyond the preview
    assert await _ids(agent, "?q=taxi%20for%20four") == [ids["emma"]]  # the subject
    assert await _ids(agent, "?q=sateenvarjon") == [ids["anon"]]  # the preview
    assert await _ids(agent, "?q=taksi") == [ids["aino"]]
    # LIKE's wildcards are the passenger's characters, not patterns.
    assert await _ids(agent, "?q=100%25") == [ids["emma"]]
    assert await _ids(agent, "?q=a%25e") == []
    assert await _ids(agent, "?q=_") == []
    assert await _ids(agent, "?q=%20%20") == list(ids.values())  # blank: the whole queue

    resolved = await _set_resolved(agent, ids["aino"])
    assert await _ids(agent, "?q=virtanen") == []  # the open queue only, by default
    assert await _ids(agent, "?q=virtanen&status=resolved") == [resolved]


async def test_mine_unassigned_callbacks_and_lane(
    hub: HubFactory, dispatcher: DispatcherFactory
) -> None:
    client = await hub()
    agent, colleague = await dispatcher(client), await dispatcher(client)
    ids = await _queue(client)
    async with agent.http.post(f"{agent.base}/api/v1/requests/{ids['emma']}/claim") as resp:
        assert resp.status == 200
    soon = datetime.now(UTC) + timedelta(minutes=10)
    await _set(client, ids["pekka"], priority=100, callback="requested", callback_due_at=soon)
    await _set(client, ids["anon"], priority=100, callback="requested",
               callback_due_at=soon + timedelta(minutes=5))
    await _set(client, ids["aino"], callback="done")
    await _set(client, ids["emma"], lane="lost-property")

    assert await _ids(agent, "?filter=mine") == [ids["emma"]]
    assert await _ids(colleague, "?filter=mine") == []
    assert await _ids(agent, "?mine=1") == [ids["emma"]]  # the older spelling still works
    assert await _ids(agent, "?filter=unassigned") == [ids["anon"], ids["pekka"], ids["aino"]]
    # Callbacks go by deadline (the queue's order would put anon first), and only callbacks.
    assert await _ids(agent, "?filter=callbacks") == [ids["pekka"], ids["anon"]]
    assert await _ids(agent, "?lane=lost-property") == [ids["emma"]]
    assert await _ids(agent, "?lane=default&filter=unassigned&q=aino") == [ids["aino"]]
    assert await _ids(agent, "?lane=nowhere") == []
    assert await _ids(agent, "?filter=all") == await _ids(agent)

    refused = await _ids(agent, "?filter=everything", status=422)
    assert refused["fields"] == {"filter": "invalid"}
    assert (await _ids(agent, "?q=" + "x" * 201, status=422))["fields"] == {"q": "too_long"}
    many = "%20".join(["word"] * 9)
    assert (await _ids(agent, f"?q={many}", status=422))["fields"] == {"q": "too_many_words"}


async def test_priority_then_longest_waiting_and_an_overdue_callback_on_top(
    hub: HubFactory, dispatcher: DispatcherFactory
) -> None:
    client = await hub()
    agent = await dispatcher(client)
    ids = await _queue(client)
    assert await _ids(agent) == [ids["aino"], ids["emma"], ids["anon"], ids["pekka"]]

    await _set(client, ids["pekka"], priority=5)
    assert await _ids(agent) == [ids["pekka"], ids["aino"], ids["emma"], ids["anon"]]

    # A callback still in time keeps its place; past its deadline it goes above everything.
    due = datetime.now(UTC) + timedelta(minutes=10)
    await _set(client, ids["emma"], callback="requested", callback_due_at=due)
    assert await _ids(agent) == [ids["pekka"], ids["aino"], ids["emma"], ids["anon"]]
    late = datetime.now(UTC) - timedelta(minutes=1)
    await _set(client, ids["emma"], callback="requested", callback_due_at=late)
    assert await _ids(agent) == [ids["emma"], ids["pekka"], ids["aino"], ids["anon"]]
    assert await _ids(agent, "?filter=callbacks") == [ids["emma"]]


async def _set_resolved(agent: Dispatcher, request_id: str) -> str:
    async with agent.http.post(f"{agent.base}/api/v1/requests/{request_id}/resolve") as resp:
        assert resp.status == 200, await resp.text()
    return request_id


def _quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")


async def test_every_request_is_searched_by_status_date_and_the_agent_who_handled_it(
    hub: HubFactory, dispatcher: DispatcherFactory
) -> None:
    """Yesterday's passenger calls back: the dispatcher finds the resolved request among all,
    by number, by day, and by who handled it."""
    client = await hub()
    agent, colleague = await dispatcher(client), await dispatcher(client)
    ids = await _queue(client)
    for request_id, who in ((ids["aino"], agent), (ids["pekka"], colleague)):
        for action in ("claim", "resolve"):
            async with who.http.post(f"{who.base}/api/v1/requests/{request_id}/{action}") as r_:
                assert r_.status == 200, await r_.text()
    every = "status=queued,claimed,resolved"

    assert await _ids(agent, "?q=0401234567") == []  # resolved: not in the open queue
    assert await _ids(agent, f"?{every}&q=040%20123%204567") == [ids["aino"]]
    assert await _ids(agent, f"?{every}&agent={agent.agent.id}") == [ids["aino"]]
    assert await _ids(agent, f"?status=resolved&agent={colleague.agent.id}") == [ids["pekka"]]
    assert await _ids(agent, f"?{every}&agent={uuid.uuid4()}") == []
    since = _quote((datetime.now(UTC) - timedelta(minutes=25)).isoformat())
    assert sorted(await _ids(agent, f"?{every}&from={since}")) == sorted(
        [ids["anon"], ids["pekka"]])
    refused = await _ids(agent, f"?{every}&agent=nobody", status=400)
    assert "agent" in refused["error"]
