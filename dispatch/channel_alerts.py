"""The channel alert watcher: every `alerts.check_s` it looks at each enabled adapter and
raises or clears its alerts (hub.channel_alerts): `down` when the adapter's own health says
its link is down (dispatch.channel_status.live_state: IMAP not connected after errors, such
as a refused login; Asterisk AMI not logged in) for `alerts.link_down_s`, `failing` when its
last `alerts.failed_in_row` deliveries all failed, `quiet` when a `[[alerts.quiet]]` window
passes without an inbound contact within its hours.

Each change is told once: a `channel.alert` console event (through the outbox, as notices
are) and, with `alerts.oncall_group` set, a message to that staff group through the group
sending path (dispatch.groups_send), worded by dispatch.alert_texts: by SMS and email as the
enabled channels allow, raised and cleared alike, whatever the kind. One hub process decides
at a time (a Redis lock); every process keeps the alerts it last read for its `/metrics`
gauge. `GET /api/v1/alerts` lists the raised ones (admins).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from redis.exceptions import RedisError
from sqlalchemy import or_, select
from sqlalchemy.exc import SQLAlchemyError

from dispatch.alert_texts import oncall_body, oncall_subject
from dispatch.appkeys import ADAPTERS
from dispatch.channel_status import _last_inbound, live_state
from dispatch.groups_send import GROUP_CHANNELS, GroupMessages
from hub import schema
from hub.agent_auth import require_admin
from hub.agents import find_login
from hub.appkeys import DATABASE, KEYS, METRICS, REDIS, RELAY, REPLY_SENDERS, SETTINGS
from hub.channel_alerts import Alert, AlertBook, AlertKind, AlertsSettings
from hub.clock import utcnow
from hub.database import Database
from hub.errors import OperatorMustAct, TaxiConnectError
from hub.events import EventType
from hub.model import Agent, Channel, DeliveryState, Role
from hub.outbox import OutboxRelay, new_row, write_rows

log = logging.getLogger(__name__)

d = schema.deliveries


class AlertWatch:
    """The watcher of one hub process; `adapters` are the enabled channel adapters."""

    def __init__(self, settings: AlertsSettings, *, timezone: str, db: Database,
                 relay: OutboxRelay, book: AlertBook, adapters: Mapping[str, Any],
                 senders: Mapping[Channel, list[str]]) -> None:
        self._settings = settings
        self._timezone = timezone
        self._db = db
        self._relay = relay
        self._book = book
        self._adapters = adapters
        self._senders = senders
        self._token = uuid.uuid4().hex
        self._stopping = asyncio.Event()
        self.looks = 0
        self.raised = 0
        self.cleared = 0
        self.active: list[Alert] = []  # as last read from Redis, for the gauge

    def __repr__(self) -> str:
        return (f"<AlertWatch looks={self.looks} raised={self.raised} cleared={self.cleared}"
                f" active={len(self.active)}>")

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        try:
            while not self._stopping.is_set():
                try:
                    await self.look()
                except (RedisError, OSError, SQLAlchemyError) as exc:
                    log.warning("channel alerts: %s; looking again in %.0f s",
                                type(exc).__name__, self._settings.check_s)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self._settings.check_s)
        finally:
            with contextlib.suppress(RedisError, OSError):
                await self._book.release_lock(self._token)

    def now(self) -> datetime:
        return utcnow() + timedelta(seconds=self._settings.clock_offset_s)

    async def look(self) -> None:
        """One look at every adapter; only the lock's holder raises and clears."""
        self.looks += 1
        if await self._book.hold_lock(self._token, self._settings.check_s * 3):
            now = self.now()
            raised = {a.field: a for a in await self._book.active()}
            for name, adapter in self._adapters.items():
                for kind, since in (await self._judge(name, adapter, now, raised)).items():
                    alert = Alert(name, adapter.channel.value, kind, since or now)
                    found = raised.get(alert.field)
                    if since is not None and found is None and await self._book.raise_(alert):
                        await self._tell(alert, raised=True)
                    elif since is None and found is not None and await self._book.clear(found):
                        await self._tell(found, raised=False)
        self.active = await self._book.active()

    async def _judge(self, name: str, adapter: Any, now: datetime,
                     raised: Mapping[str, Alert]) -> dict[AlertKind, datetime | None]:
        """Per kind watched on this adapter: since when it is alarming, or None."""
        s = self._settings
        found: dict[AlertKind, datetime | None] = {}
        down_at = await self._book.down_since(name, now, down=_link_down(adapter))
        found[AlertKind.DOWN] = (down_at if down_at is not None
                                 and now - down_at >= timedelta(seconds=s.link_down_s) else None)
        if adapter.can_reply and s.failed_in_row:
            found[AlertKind.FAILING] = await self._failing_since(name)
        window = next((w for w in s.quiet if w.adapter == name), None)
        if window is not None:
            async with self._db.read() as conn:
                last = await _last_inbound(conn, name, adapter.channel.value)
            busy_at = await self._book.active_since(name, last, now)
            quiet = now - busy_at >= timedelta(minutes=window.after_min)
            # Raised only within the hours; once raised, only traffic clears it.
            already = f"{name}:{AlertKind.QUIET.value}" in raised
            found[AlertKind.QUIET] = busy_at if quiet and (
                already or window.covers(now, self._timezone)) else None
        return found

    async def _failing_since(self, name: str) -> datetime | None:
        """The oldest of the last `failed_in_row` deliveries, if every one of them failed."""
        async with self._db.read() as conn:
            rows = (await conn.execute(
                select(d.c.state, d.c.updated_at)
                # Settled ones: a delivery still queued says nothing yet.
                .where(d.c.adapter == name, d.c.state != DeliveryState.QUEUED.value)
                .order_by(d.c.updated_at.desc()).limit(self._settings.failed_in_row))).all()
        if len(rows) < self._settings.failed_in_row or any(
                row.state != DeliveryState.FAILED.value for row in rows):
            return None
        oldest: datetime = rows[-1].updated_at
        return oldest

    async def _tell(self, alert: Alert, *, raised: bool) -> None:
        if raised:
            self.raised += 1
        else:
            self.cleared += 1
        log.warning("channel alert %s: %s %s", "raised" if raised else "cleared",
                    alert.adapter, alert.kind.value)
        rows = [new_row("events", {
            "type": EventType.CHANNEL_ALERT, "state": "raised" if raised else "cleared",
            "alert": alert.to_json(), "at": utcnow().isoformat()})]
        async with self._db.write() as conn:
            await write_rows(conn, rows)
        self._relay.notify(rows)
        if self._settings.oncall_group:
            await self._message_oncall(alert, raised=raised)

    async def _message_oncall(self, alert: Alert, *, raised: bool) -> None:
        """The on-call group's message; a problem with it is logged, never fatal: the
        console event and the metric still tell."""
        senders = _sparing(self._senders, alert)
        channels = [c for c in GROUP_CHANNELS if senders.get(c)]
        try:
            group_id, sender = await self._oncall()
            if not channels:
                raise OperatorMustAct("no SMS or email channel is enabled to message the group")
            key = (f"alert:{alert.field}:{int(alert.since.timestamp())}:"
                   f"{'raised' if raised else 'cleared'}")
            await GroupMessages(self._db, self._relay, senders).send(
                group_id, sender, key=key, channels=channels,
                body=oncall_body(alert, raised=raised, timezone=self._timezone),
                subject=oncall_subject(alert, raised=raised))
        except TaxiConnectError as exc:
            log.error("channel alert: the on-call group %r was not messaged: %s",
                      self._settings.oncall_group, exc)

    async def _oncall(self) -> tuple[uuid.UUID, Agent]:
        s, g, a = self._settings, schema.staff_groups, schema.agents
        try:
            wanted: Any = g.c.id == uuid.UUID(s.oncall_group)
        except ValueError:
            wanted = g.c.name == s.oncall_group
        async with self._db.read() as conn:
            group_id = await conn.scalar(select(g.c.id).where(or_(wanted)))
            if s.oncall_sender:
                found = await find_login(conn, s.oncall_sender)
                sender = found[0] if found else None
            else:
                row = (await conn.execute(
                    select(a.c.login).where(a.c.role == Role.ADMIN.value, a.c.active)
                    .order_by(a.c.created_at, a.c.login).limit(1))).first()
                found = await find_login(conn, row.login) if row else None
                sender = found[0] if found else None
        if group_id is None:
            raise OperatorMustAct("alerts.oncall_group names no staff group")
        if sender is None:
            raise OperatorMustAct("no active account to send as (alerts.oncall_sender)")
        return uuid.UUID(str(group_id)), sender


def _sparing(senders: Mapping[Channel, list[str]], alert: Alert
             ) -> Mapping[Channel, list[str]]:
    """The senders for the on-call message about `alert`. An adapter that is down or
    failing is not asked to carry the news of its own failure while another can: its
    channel goes through the channel's other adapters, or is left out when another channel
    remains. A quiet adapter still sends (its webhook may be what broke, not its sending)."""
    if alert.kind is AlertKind.QUIET:
        return senders
    spared = {channel: [name for name in names if name != alert.adapter]
              for channel, names in senders.items()}
    if not any(spared.get(channel) for channel in GROUP_CHANNELS):
        return senders  # nothing else can tell: try the failing one rather than nobody
    return spared


def _link_down(adapter: Any) -> bool:
    state = live_state(adapter)
    imap, ami = state.get("imap"), state.get("ami")
    return bool((imap and not imap["connected"] and imap["errors"])
                or (ami and not ami["logged_in"]))


class AlertGauge(Collector):
    """`taxiconnect_channel_alert{channel,kind}`: 1 while raised, else 0, for each enabled
    adapter and kind."""

    def __init__(self, watch: AlertWatch, adapters: Mapping[str, Any]) -> None:
        self._watch = watch
        self._adapters = adapters

    def collect(self) -> Iterator[Metric]:
        gauge = GaugeMetricFamily("taxiconnect_channel_alert",
                                  "1 while a channel alert is raised, by adapter and kind",
                                  labels=["channel", "kind"])
        raised = {a.field for a in self._watch.active}
        for name in sorted(self._adapters):
            for kind in AlertKind:
                gauge.add_metric([name, kind.value],
                                 1.0 if f"{name}:{kind.value}" in raised else 0.0)
        yield gauge


async def list_alerts(request: web.Request) -> web.Response:
    await require_admin(request)
    book = AlertBook(request.app[REDIS].client, request.app[KEYS])
    return web.json_response({"at": utcnow().isoformat(),
                              "alerts": [a.to_json() for a in await book.active()]})


def routes() -> list[web.RouteDef]:
    return [web.get("/api/v1/alerts", list_alerts)]


ALERT_WATCH: web.AppKey[AlertWatch] = web.AppKey("alert_watch")


def make_watch(app: web.Application) -> AlertWatch:
    """The process's watcher, its gauge on the process's /metrics."""
    settings, adapters = app[SETTINGS], app[ADAPTERS]
    watch = AlertWatch(settings.alerts, timezone=settings.timezone, db=app[DATABASE],
                       relay=app[RELAY], book=AlertBook(app[REDIS].client, app[KEYS]),
                       adapters=adapters, senders=app[REPLY_SENDERS])
    app[METRICS].registry.register(AlertGauge(watch, adapters))
    return watch
