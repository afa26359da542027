"""Channel alerts: their settings, their state in Redis and the words that tell of them.

An alert is one (adapter, kind) pair: `down` (the adapter's link is down: IMAP login
refused, Asterisk AMI not logged in), `failing` (its last deliveries all failed) or `quiet`
(no inbound contact for longer than its window, within its hours). It is raised once and
cleared once: `raise_` and `clear` are HSETNX / HDEL on one hash, so two hub processes that
both see a change still tell of it once, and a restarted process finds the alerts it left.
The watcher that decides lives in dispatch.channel_alerts; only one process at a time
decides (`hold_lock`), every process reads.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time
from enum import StrEnum
from zoneinfo import ZoneInfo

from redis.asyncio import Redis

from hub.errors import OperatorMustAct
from hub.json_types import JsonObject
from hub.keys import Keys

_HOURS = re.compile(r"^\s*([01]\d|2[0-3]):([0-5]\d)\s*-\s*([01]\d|2[0-4]):([0-5]\d)\s*$")


class AlertKind(StrEnum):
    DOWN = "down"
    FAILING = "failing"
    QUIET = "quiet"


@dataclass(frozen=True)
class QuietWindow:
    """`[[alerts.quiet]]`: an adapter that should bring contacts in."""

    adapter: str = ""  # an enabled adapter's name, e.g. "twilio_sms"
    after_min: float = 30.0
    hours: str = ""  # "07:00-22:00" in the company's timezone, every day; empty: always

    def __post_init__(self) -> None:
        if not self.adapter:
            raise OperatorMustAct("configuration alerts.quiet: each window names its adapter")
        if self.after_min <= 0:
            raise OperatorMustAct(f"configuration alerts.quiet ({self.adapter}): after_min "
                                  "must be more than 0")
        if self.hours and _HOURS.match(self.hours) is None:
            raise OperatorMustAct(f"configuration alerts.quiet ({self.adapter}): hours "
                                  f"{self.hours!r}: write e.g. '07:00-22:00'")

    def covers(self, at: datetime, timezone: str) -> bool:
        """Whether `at` falls within the hours; a span like 20:00-04:00 runs past midnight."""
        found = _HOURS.match(self.hours) if self.hours else None
        if found is None:
            return True
        start = time(int(found[1]), int(found[2]))
        end_h, end_m = int(found[3]), int(found[4])
        end = time(0) if end_h == 24 else time(end_h, end_m)
        now = at.astimezone(ZoneInfo(timezone)).time()
        if start < end:
            return start <= now < end
        return now >= start or now < end


@dataclass(frozen=True)
class AlertsSettings:
    check_s: float = 15.0  # how often the watcher looks
    link_down_s: float = 60.0  # a link down this long raises `down`
    failed_in_row: int = 3  # this many deliveries failing in a row raise `failing`; 0: never
    # The staff group (its name or id) told of each alert raised and cleared, by SMS and/or
    # email as the enabled channels allow; empty: nobody is messaged.
    oncall_group: str = ""
    # The login of the account the on-call message goes out as (the thread is theirs);
    # empty: the longest-standing active admin.
    oncall_sender: str = ""
    # Moves the watcher's clock forward, to rehearse a quiet alert; never leave it set.
    clock_offset_s: float = 0.0
    quiet: tuple[QuietWindow, ...] = ()

    def __post_init__(self) -> None:
        if self.check_s <= 0 or self.link_down_s < 0 or self.failed_in_row < 0:
            raise OperatorMustAct("configuration alerts: check_s must be more than 0, "
                                  "link_down_s and failed_in_row 0 or more")

    def check_adapters(self, enabled: Iterable[str]) -> None:
        """At start-up: a quiet window for an adapter that is not enabled would never
        raise; say so rather than watch nothing."""
        known = sorted(enabled)
        unknown = sorted({w.adapter for w in self.quiet} - set(known))
        if unknown:
            raise OperatorMustAct(f"configuration alerts.quiet names {unknown}, not enabled; "
                                  f"enabled adapters: {known}")


@dataclass(frozen=True, slots=True)
class Alert:
    adapter: str
    channel: str  # the adapter's channel: sms, email, phone, ...
    kind: AlertKind
    since: datetime

    @property
    def field(self) -> str:
        return f"{self.adapter}:{self.kind.value}"

    def to_json(self) -> JsonObject:
        return {"adapter": self.adapter, "channel": self.channel, "kind": self.kind.value,
                "since": self.since.isoformat()}

    @classmethod
    def from_json(cls, raw: str) -> Alert:
        data = json.loads(raw)
        return cls(data["adapter"], data["channel"], AlertKind(data["kind"]),
                   datetime.fromisoformat(data["since"]))


class AlertBook:
    """The alerts in Redis, and what the watcher remembers between its looks: when each
    adapter's link was first seen down, and the inbound traffic it last saw."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        # Beside the hub's other keys (hub.keys), under the same prefix and hash tag.
        base = f"{keys.prefix}channel-alerts:"
        self.active_key = base + "active"
        self.down_key = base + "down-since"
        self.traffic_key = base + "traffic"
        self.lock_key = f"{keys.prefix}lock:channel-alerts"

    async def hold_lock(self, token: str, ttl_s: float) -> bool:
        """Take or keep the watcher's lock; False while another process holds it."""
        ttl_ms = max(1000, int(ttl_s * 1000))
        if await self._redis.set(self.lock_key, token, nx=True, px=ttl_ms):
            return True
        if await self._redis.get(self.lock_key) == token:
            await self._redis.pexpire(self.lock_key, ttl_ms)
            return True
        return False

    async def release_lock(self, token: str) -> None:
        if await self._redis.get(self.lock_key) == token:
            await self._redis.delete(self.lock_key)

    async def active(self) -> list[Alert]:
        found = await self._redis.hgetall(self.active_key)
        return sorted((Alert.from_json(str(raw)) for raw in found.values()),
                      key=lambda a: (a.since, a.field))

    async def raise_(self, alert: Alert) -> bool:
        """True if this call raised it (it was not raised before)."""
        done: int = await self._redis.hsetnx(
            self.active_key, alert.field, json.dumps(alert.to_json()))
        return bool(done)

    async def clear(self, alert: Alert) -> bool:
        """True if this call cleared it."""
        done: int = await self._redis.hdel(self.active_key, alert.field)
        return bool(done)

    async def down_since(self, adapter: str, now: datetime, *, down: bool) -> datetime | None:
        """When the adapter's link was first seen down in this spell; None while it is up."""
        if not down:
            await self._redis.hdel(self.down_key, adapter)
            return None
        await self._redis.hsetnx(self.down_key, adapter, now.isoformat())
        raw = await self._redis.hget(self.down_key, adapter)
        return datetime.fromisoformat(str(raw)) if raw else now

    async def active_since(self, adapter: str, last_inbound: datetime | None,
                           now: datetime) -> datetime:
        """When the watcher last saw the adapter busy: a new inbound contact (by its time in
        the database changing) counts from the moment it is seen, so a watcher's moved
        clock stays consistent with itself. The first look counts from the last contact,
        or from now when there was none."""
        seen = last_inbound.isoformat() if last_inbound else ""
        raw = await self._redis.hget(self.traffic_key, adapter)
        known = json.loads(str(raw)) if raw else None
        if known is not None and known["seen"] == seen:
            return datetime.fromisoformat(known["at"])
        at = now if known is not None or last_inbound is None else last_inbound
        await self._redis.hset(self.traffic_key, adapter,
                               json.dumps({"seen": seen, "at": at.isoformat()}))
        return at

