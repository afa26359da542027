"""The purge: data past its retention leaves the database, the data folder and Redis; younger
data stays; requests keep their timings. The clock moves by configuration
([retention] as_of), never by patching code."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import smtplib
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis
from sqlalchemy import select

from channels.email.channel import EmailChannel
from dispatch.appkeys import ADAPTERS
from hub import schema
from hub.appkeys import DATABASE
from hub.errors import OperatorMustAct
from hub.purge import ERASED_CONTACT_ID
from hub.retention import RetentionSettings
from hub.settings import (
    ChannelsSettings,
    EmailSettings,
    PhoneSettings,
    Secret,
    Settings,
    SmtpListenerSettings,
    load_settings,
)
from tests.conftest import DispatcherFactory, HubFactory
from tests.helpers import Dispatcher, eventually, submit

REPO = Path(__file__).resolve().parents[2]
CTI_SECRET = "cti-shared-secret"
COMPANY = "taksi@taxi.example"
DAYS = 180  # every class kept this long: inside every range, the audit's floor included
RETAINED = ("recordings_days", "messages_days", "calls_days", "attachments_days",
            "deliveries_days", "handling_days", "audit_days")

OLD = {"name": "Vanha Matkustaja", "phone": "+358401110001", "email": "vanha@example.fi",
       "text": "Nouto Vanhakatu 1", "file": b"old receipt scan"}
YOUNG = {"name": "Nuori Matkustaja", "phone": "+358402220002", "email": "nuori@example.fi",
         "text": "Nouto Nuorikatu 2", "file": b"young receipt scan"}


def _settings(settings: Settings, **retention: Any) -> Settings:
    return dataclasses.replace(
        settings,
        channels=ChannelsSettings(enabled=("webform", "email", "phone_cti")),
        email=EmailSettings(address=COMPANY, reply_token_secret=Secret("test-reply-secret"),
                            smtp=SmtpListenerSettings(port=0, domains=("taxi.example",))),
        phone=PhoneSettings(cti_secret=Secret(CTI_SECRET)),
        retention=dataclasses.replace(settings.retention, **retention))


def _mail(who: dict[str, Any]) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = f"{who['name']} <{who['email']}>"
    mail["To"] = COMPANY
    mail["Subject"] = who["text"]
    mail["Message-ID"] = make_msgid(domain="example.fi")
    mail.set_content(who["text"])
    mail.add_attachment(who["file"], maintype="application", subtype="pdf",
                        filename="kuitti.pdf")
    return mail


async def _contacts(client: TestClient[Any, Any], agent: Dispatcher, who: dict[str, Any],
                    tag: str) -> list[str]:
    """One passenger on three channels; returns their requests' ids, oldest first."""
    receipt = await submit(agent.http, agent.base, f"purge-{tag}-form", name=who["name"],
                           phone=who["phone"], message=who["text"])
    channel = client.app[ADAPTERS]["email"]
    assert isinstance(channel, EmailChannel) and channel.smtp_port
    port = channel.smtp_port

    def send() -> None:
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
            smtp.send_message(_mail(who), to_addrs=[COMPANY])
    await asyncio.to_thread(send)
    call = {"callId": f"purge-{tag}-call", "from": who["phone"], "to": "0912345678",
            "direction": "in"}
    for event in ("newCall", "hangup"):
        async with client.post("/webhooks/phone/cti", json={"event": event, **call},
                               headers={"X-CTI-Token": CTI_SECRET}) as resp:
            assert resp.status == 200, await resp.text()

    async def all_in() -> list[str] | None:
        k, m = schema.calls, schema.messages
        async with client.app[DATABASE].read() as conn:
            ended = (await conn.execute(select(k.c.request_id).where(
                k.c.call_key == call["callId"], k.c.state == "ended"))).first()
            mail = (await conn.execute(select(m.c.request_id).where(
                m.c.channel == "email", m.c.subject == who["text"]))).first()
            if ended is None or mail is None:
                return None
            ids = (await conn.execute(select(schema.contact_requests.c.id))).scalars().all()
        return sorted(str(i) for i in ids)
    found = await eventually(all_in, what="the requests")
    claim = await agent.http.post(f"{agent.base}/api/v1/requests/{receipt['id']}/claim")
    assert claim.status == 200, await claim.text()

    async def published() -> bool | None:
        """Every event of these contacts is in Redis, stamped before the test moves on."""
        async with client.app[DATABASE].read() as conn:
            return None if (await conn.execute(select(schema.outbox.c.id))).first() else True
    await eventually(published, what="every event published")
    await asyncio.sleep(0.05)
    return found


def purge_cli(settings: Settings, as_of: datetime, *args: str,
              retention: dict[str, int] | None = None) -> dict[str, tuple[int, str]]:
    """`taxiconnect purge` in a process of its own at `as_of`, each class kept as
    `retention` says (DAYS when not given): {class: (count, oldest)}."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("TAXICONNECT_")}
    days = retention or dict.fromkeys(RETAINED, DAYS)
    env.update({
        "PYTHONPATH": str(REPO),
        "TAXICONNECT_DATA_DIR": str(settings.data_dir),
        "TAXICONNECT_DATABASE_URL": settings.database.url.reveal(),
        "TAXICONNECT_REDIS_URL": settings.redis.url.reveal(),
        "TAXICONNECT_REDIS_PREFIX": settings.redis.prefix,
        "TAXICONNECT_RETENTION_AS_OF": as_of.isoformat(),
        **{f"TAXICONNECT_RETENTION_{name.upper()}": str(value)
           for name, value in days.items()},
    })
    done = subprocess.run([sys.executable, "-m", "hub.cli", "purge", *args], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"purge as of {as_of.astimezone(UTC):%Y-%m-%dT%H:%M:%S}")
    table = {}
    for line in lines[1:]:
        name, count, oldest = line.split()
        table[name] = (int(count), oldest)
    return table


async def everything_in(client: TestClient[Any, Any], raw_redis: Redis,
                        settings: Settings, *, database: bool = True) -> str:
    """Every row of every table (unless `database` is false), every Redis key under the
    test's prefix with its value whatever its type, and every attachment's and recording's
    bytes, as one text to look for personal data in."""
    parts: list[str] = []
    if database:
        async with client.app[DATABASE].read() as conn:
            for table in schema.metadata.sorted_tables:
                parts += [repr(tuple(row)) for row in await conn.execute(select(table))]
    async for key in raw_redis.scan_iter(match=f"{settings.redis.prefix}*"):
        parts.append(key)
        kind = await raw_redis.type(key)
        if kind == "stream":
            parts += [json.dumps(fields) for _id, fields in await raw_redis.xrange(key)]
        elif kind == "string":
            parts.append(str(await raw_redis.get(key)))
        elif kind == "hash":
            parts.append(json.dumps(await raw_redis.hgetall(key)))
        elif kind == "zset":
            parts.append(json.dumps(await raw_redis.zrange(key, 0, -1, withscores=True)))
        elif kind == "set":
            parts.append(json.dumps(sorted(await raw_redis.smembers(key))))
        elif kind == "list":
            parts.append(json.dumps(await raw_redis.lrange(key, 0, -1)))
        else:
            assert kind == "none", f"{key} of type {kind} is not read"  # gone meanwhile
    for folder in ("attachments", "recordings"):
        root = settings.data_dir / folder
        if root.is_dir():
            parts += [p.read_bytes().decode("latin-1") for p in root.rglob("*") if p.is_file()]
    return "\n".join(parts)


async def test_purge_removes_what_is_past_retention_and_the_dry_run_said_so(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings, raw_redis: Redis
) -> None:
    client = await hub(_settings(settings, purge_interval_s=0))
    agent = await dispatcher(client)
    old_ids = await _contacts(client, agent, OLD, "old")
    await asyncio.sleep(0.05)
    between = datetime.now(UTC)
    await asyncio.sleep(0.05)
    young_ids = sorted(set(await _contacts(client, agent, YOUNG, "young")) - set(old_ids))
    async with client.app[DATABASE].read() as conn:
        before = {row.id: row for row in await conn.execute(select(schema.contact_requests))}
    everything = await everything_in(client, raw_redis, settings)
    for private in (*OLD.values(), *YOUNG.values()):
        text = private.decode() if isinstance(private, bytes) else private
        assert text in everything  # the test looks where the data is

    # Every class kept DAYS: at `between` + DAYS, the first passenger's data is just past it.
    as_of = between + timedelta(days=DAYS)
    planned = purge_cli(settings, as_of, "--dry-run")
    assert planned == purge_cli(settings, as_of, "--dry-run")  # a dry run changes nothing
    removed = purge_cli(settings, as_of)
    assert removed == planned
    assert planned["requests"][0] == len(old_ids) and planned["contacts"][0] >= 1
    assert planned["attachments"][0] == 1 and planned["calls"][0] >= 1
    assert planned["messages"][0] >= 3 and planned["stream_entries"][0] > 0
    assert planned["handling_events"][0] >= 1
    assert all(count == 0 for count, _oldest in purge_cli(settings, as_of, "--dry-run")
               .values()), "a second run finds nothing left"

    everything = await everything_in(client, raw_redis, settings)
    for private in OLD.values():
        text = private.decode() if isinstance(private, bytes) else private
        assert text not in everything, text
    for private in YOUNG.values():
        text = private.decode() if isinstance(private, bytes) else private
        assert text in everything, text

    r = schema.contact_requests
    async with client.app[DATABASE].read() as conn:
        after = {row.id: row for row in await conn.execute(select(r))}
        calls = {row.request_id: row for row in await conn.execute(select(schema.calls))}
    for request_id in map(lambda s: next(i for i in after if str(i) == s), old_ids):
        was, now = before[request_id], after[request_id]
        assert now.contact_id == ERASED_CONTACT_ID and now.preview == ""
        for timing in ("case_started_at", "queued_at", "service_started_at",
                       "first_response_at", "ended_at"):
            assert getattr(now, timing) == getattr(was, timing), timing
        assert (now.status, now.channel, now.lane, now.last_agent_id) == \
            (was.status, was.channel, was.lane, was.last_agent_id)
    assert any(after[i].service_started_at for i in after if str(i) in old_ids)
    for request_id in (i for i in after if str(i) in young_ids):
        assert after[request_id] == before[request_id]
    assert any(row.caller == "" and row.started_at for row in calls.values())
    assert any(row.caller == YOUNG["phone"] for row in calls.values())

    oldest_event = await raw_redis.xrange(f"{settings.redis.prefix}stream:events", count=1)
    assert int(oldest_event[0][0].split("-")[0]) >= int(between.timestamp() * 1000)


async def test_the_scheduled_purge_runs_on_one_of_several_processes(
    hub: HubFactory, dispatcher: DispatcherFactory, settings: Settings, raw_redis: Redis
) -> None:
    client = await hub(_settings(settings, purge_interval_s=0))
    agent = await dispatcher(client)
    old_ids = await _contacts(client, agent, OLD, "old")
    as_of = (datetime.now(UTC) + timedelta(days=DAYS)).isoformat()
    purging = _settings(settings, purge_interval_s=1.0, as_of=as_of,
                        **dict.fromkeys(RETAINED, DAYS))
    await hub(purging)
    await hub(purging)

    async def purged() -> list[dict[str, int]] | None:
        """The runs' audit entries, once one has purged something (written at its end)."""
        async with client.app[DATABASE].read() as conn:
            runs = (await conn.execute(select(schema.audit_log.c.detail).where(
                schema.audit_log.c.action == "retention.purge"))).scalars().all()
        return list(runs) if any(run["requests"] for run in runs) else None
    runs = await eventually(purged, what="the scheduled purge")
    async with client.app[DATABASE].read() as conn:
        left = (await conn.execute(select(schema.contact_requests.c.contact_id).where(
            schema.contact_requests.c.id.in_(map(uuid.UUID, old_ids))))).scalars().all()
    assert set(left) == {ERASED_CONTACT_ID}
    everything = await everything_in(client, raw_redis, settings)
    at = everything.find(OLD["name"])
    assert at < 0, everything[at - 400:at + 100]
    # Each request was purged once, by whichever process held the lock.
    assert sum(run["requests"] for run in runs) == len(old_ids)


@pytest.mark.parametrize(("name", "value"), [
    ("recordings_days", "0"), ("recordings_days", "1096"), ("audit_days", "30"),
    ("messages_days", "-1"), ("purge_interval_s", "0.5"), ("as_of", "2026-01-01T00:00:00"),
])
def test_a_retention_outside_its_range_stops_start_up_with_the_range(
    name: str, value: str
) -> None:
    with pytest.raises(OperatorMustAct) as raised:
        load_settings(None, environ={f"TAXICONNECT_RETENTION_{name.upper()}": value})
    assert f"retention.{name}" in str(raised.value)


def test_the_register_s_range_for_recordings_is_accepted() -> None:
    for days in ("1", "1095"):
        found = load_settings(None, environ={"TAXICONNECT_RETENTION_RECORDINGS_DAYS": days})
        assert found.retention.recordings_days == int(days)
    assert RetentionSettings().recordings_days == 90
