"""A report's figures: their definitions, the tallies they are read from, and the count in
Python over the requests' facts (dispatch.report_facts): pure. The API's reports are counted
by the database to these same definitions (dispatch.report_counts); the Python count is the
reference it is tested against, and counts the wallboard's one day.

Every figure is over the requests whose **case started** in the period, grouped by the
request's lane, its channel, its last handling agent, or the local hour or day of its case
start. The definitions, from what hub.schema records:

contacts
    requests started.
answered
    requests whose service started (`service_started_at`: the first claim, answered call or
    call back; the hub also sets it when a request nobody took is resolved, so such a
    request counts as answered, its wait running to the resolve).
abandoned
    requests that are any of the three below (a request counts once in `abandoned`, and
    in each kind it is):

    ``abandoned_missed_calls``: a request with a missed inbound call (`missed_calls` > 0)
    none of whose calls, in or out, was ever answered (`calls.answered_at`) and whose
    callback was never made (below).

    ``abandoned_chats``: a chat request resolved without any reply to the passenger (no
    `first_response_at`). A chat still open is still being answered, not yet abandoned.

    ``abandoned_late_callbacks``: a request that asked for a callback (a missed call, a chat or form
    out of hours: `callback_due_at` set) whose due time has passed by the time the report
    is read and that was not made by then. A callback is **made** at the first of the
    dispatcher's "call now" (`callback_called_at`, the last one the hub keeps) and the
    outcome "reached" (`callback_done_at`).
speed of answer
    `queued_at` → `service_started_at` of the answered requests: average and 90th
    percentile (nearest rank), seconds.
service level
    `answered_within_target`: answered within N seconds of being queued; as a percentage
    of the requests that were answered or abandoned (their outcome is known). N is the
    `service_level_s` asked for, or else each lane's own target wait (`lanes.target_wait_s`),
    or 60 s for a lane the hub no longer has.
handling time
    `service_started_at` → `ended_at` of the resolved requests, average seconds.
callbacks, callbacks in time
    requests with a callback due time; those whose callback was made by its due time.
first response
    `case_started_at` → `first_response_at` (the first reply or answered call), average
    seconds; the report also gives it per channel over the whole period.

Durations are counted in whole microseconds (as stored), so sums and the comparison with N
are exact on every path; averages and the percentile are then given in seconds to the
millisecond.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from dispatch.report_facts import RequestFacts
from dispatch.report_period import Dimension, Period

DEFAULT_SERVICE_LEVEL_S = 60


US = 1_000_000  # durations are counted in whole microseconds: exact sums on every path


def seconds(start: datetime | None, end: datetime | None) -> float | None:
    return (end - start).total_seconds() if start is not None and end is not None else None


def micros(start: datetime | None, end: datetime | None) -> int | None:
    return ((end - start) // timedelta(microseconds=1)
            if start is not None and end is not None else None)


def callback_made_at(f: RequestFacts) -> datetime | None:
    made = [at for at in (f.callback_called_at, f.callback_done_at) if at is not None]
    return min(made) if made else None


def callback_in_time(f: RequestFacts) -> bool:
    made = callback_made_at(f)
    return f.callback_due_at is not None and made is not None and made <= f.callback_due_at


def callback_late(f: RequestFacts, now: datetime) -> bool:
    return (f.callback_due_at is not None and f.callback_due_at < now
            and not callback_in_time(f))


def missed_call_unanswered(f: RequestFacts) -> bool:
    return f.missed_calls > 0 and not f.call_answered and callback_made_at(f) is None


def chat_unanswered(f: RequestFacts) -> bool:
    return f.channel == "chat" and f.first_response_at is None and f.status == "resolved"


def nearest_rank(count: int, share_tenths: int = 9) -> int:
    """The 1-based rank of the nearest-rank percentile among `count` values: the smallest
    rank with at least that share of them at or below it (integers: no float edge)."""
    return max(1, (share_tenths * count + 9) // 10)


def percentile(values: list[int], share_tenths: int = 9) -> int | None:
    """Nearest-rank percentile: the smallest value with at least `share` of them at or
    below it."""
    if not values:
        return None
    return sorted(values)[nearest_rank(len(values), share_tenths) - 1]


def _mean(total_us: int, count: int) -> float | None:
    return round(total_us / count / US, 3) if count else None


@dataclass(frozen=True, slots=True)
class Outcome:
    """One request's part in every figure, worked out once however many tallies count it."""

    answered: bool
    missed_call: bool
    unanswered_chat: bool
    late_callback: bool
    within: bool
    wait_us: int | None
    handling_us: int | None
    first_response_us: int | None
    callback: bool
    callback_in_time: bool

    @property
    def abandoned(self) -> bool:
        return self.missed_call or self.unanswered_chat or self.late_callback


def outcome(f: RequestFacts, threshold_s: int, now: datetime) -> Outcome:
    answered = f.service_started_at is not None
    wait = micros(f.queued_at, f.service_started_at) if answered else None
    return Outcome(
        answered=answered, missed_call=missed_call_unanswered(f),
        unanswered_chat=chat_unanswered(f), late_callback=callback_late(f, now),
        within=wait is not None and wait <= threshold_s * US, wait_us=wait,
        handling_us=micros(f.service_started_at, f.ended_at),
        first_response_us=micros(f.case_started_at, f.first_response_at),
        callback=f.callback_due_at is not None, callback_in_time=callback_in_time(f))


COUNTS = ("contacts", "answered", "abandoned", "missed_calls", "unanswered_chats",
          "late_callbacks", "answered_within", "settled", "callbacks", "callbacks_in_time",
          "wait_us", "waited", "handling_us", "handled", "first_response_us",
          "first_responded")


@dataclass
class Tally:
    """One group's running counts and durations (sums of microseconds and how many)."""

    contacts: int = 0
    answered: int = 0
    abandoned: int = 0
    missed_calls: int = 0
    unanswered_chats: int = 0
    late_callbacks: int = 0
    answered_within: int = 0
    settled: int = 0  # answered or abandoned: the service level's denominator
    callbacks: int = 0
    callbacks_in_time: int = 0
    wait_us: int = 0
    waited: int = 0
    handling_us: int = 0
    handled: int = 0
    first_response_us: int = 0
    first_responded: int = 0
    waits: list[int] = field(default_factory=list)  # counted in Python: every wait, us
    # Counted by the database (dispatch.report_counts): the 90th percentile wait it found.
    p90_wait_us: int | None = None

    def add(self, o: Outcome) -> None:
        self.contacts += 1
        abandoned = o.abandoned
        self.answered += o.answered
        self.abandoned += abandoned
        self.missed_calls += o.missed_call
        self.unanswered_chats += o.unanswered_chat
        self.late_callbacks += o.late_callback
        self.settled += o.answered or abandoned
        self.answered_within += o.within
        if o.wait_us is not None:
            self.waits.append(o.wait_us)
            self.wait_us += o.wait_us
            self.waited += 1
        if o.handling_us is not None:
            self.handling_us += o.handling_us
            self.handled += 1
        if o.first_response_us is not None:
            self.first_response_us += o.first_response_us
            self.first_responded += 1
        self.callbacks += o.callback
        self.callbacks_in_time += o.callback_in_time

    def merge(self, other: Tally) -> None:
        """Add `other` in; a percentile found by the database does not merge (the report
        counted by the database carries its total's own)."""
        for name in COUNTS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.waits += other.waits
        self.p90_wait_us = None

    def figures(self) -> dict[str, int | float | None]:
        p90 = self.p90_wait_us if self.p90_wait_us is not None else percentile(self.waits)
        return {
            "contacts": self.contacts, "answered": self.answered, "abandoned": self.abandoned,
            "abandoned_missed_calls": self.missed_calls,
            "abandoned_chats": self.unanswered_chats,
            "abandoned_late_callbacks": self.late_callbacks,
            "avg_speed_of_answer_s": _mean(self.wait_us, self.waited),
            "p90_speed_of_answer_s": _mean(p90, 1) if p90 is not None else None,
            "answered_within_target": self.answered_within,
            "service_level_pct": (round(100 * self.answered_within / self.settled, 1)
                                  if self.settled else None),
            "avg_handling_time_s": _mean(self.handling_us, self.handled),
            "callbacks": self.callbacks, "callbacks_in_time": self.callbacks_in_time,
            "avg_first_response_s": _mean(self.first_response_us, self.first_responded),
        }


FIGURES = tuple(Tally().figures())  # the figures' names, in the order rows give them


@dataclass(frozen=True, slots=True)
class Group:
    key: str
    label: str


QUARTER_S = 900  # every timezone's offset is a whole number of quarter hours


def _local_clock(zone: ZoneInfo) -> Callable[[datetime], datetime]:
    """`at` in the zone, the conversion done once per quarter hour of UTC time: within one,
    the local hour and date cannot change."""
    seen: dict[int, datetime] = {}

    def local(at: datetime) -> datetime:
        quarter = int(at.timestamp()) // QUARTER_S
        found = seen.get(quarter)
        if found is None:
            found = seen[quarter] = datetime.fromtimestamp(quarter * QUARTER_S, zone)
        return found

    return local


def group_of(by: Dimension, zone: ZoneInfo) -> Callable[[RequestFacts], Group]:
    local = _local_clock(zone)
    hours = [Group(f"{h:02d}", f"{h:02d}") for h in range(24)]
    days: dict[date, Group] = {}

    def day(f: RequestFacts) -> Group:
        on = local(f.case_started_at).date()
        found = days.get(on)
        if found is None:
            found = days[on] = Group(on.isoformat(), on.isoformat())
        return found

    match by:
        case Dimension.LANE:
            return lambda f: Group(f.lane, f.lane)
        case Dimension.CHANNEL:
            return lambda f: Group(f.channel, f.channel)
        case Dimension.AGENT:
            return lambda f: (Group(f.last_agent_id, f.last_agent_name or "")
                              if f.last_agent_id is not None else Group("", ""))
        case Dimension.HOUR:
            return lambda f: hours[local(f.case_started_at).hour]
        case Dimension.DAY:
            return day


def _empty_groups(by: Dimension, period: Period) -> list[Group]:
    """Hours and days show even when nothing happened in them, for a chart without gaps."""
    if by is Dimension.HOUR:
        return [Group(f"{h:02d}", f"{h:02d}") for h in range(24)]
    if by is Dimension.DAY:
        days = (period.after - period.first).days
        return [Group(d.isoformat(), d.isoformat())
                for d in (period.first + timedelta(days=i) for i in range(days))]
    return []


@dataclass
class Report:
    """The figures of every group, of the whole period, and first response per channel."""

    by: Dimension
    period: Period
    groups: dict[Group, Tally]
    # Per channel only the first responses' sum (us) and count: the one figure given per
    # channel whatever the grouping.
    first_responses: dict[str, tuple[int, int]] = field(default_factory=dict)
    # Counted by the database: the whole period, with its own 90th percentile.
    counted_total: Tally | None = None

    def rows(self) -> list[tuple[Group, dict[str, int | float | None]]]:
        order = sorted(self.groups, key=lambda g: (
            (g.key,) if self.by in (Dimension.HOUR, Dimension.DAY) else (g.label == "", g.label,
                                                                          g.key)))
        return [(group, self.groups[group].figures()) for group in order]

    def total(self) -> Tally:
        """The whole period: every group's tally merged (or the database's own count)."""
        if self.counted_total is not None:
            return self.counted_total
        merged = Tally()
        for tally in self.groups.values():
            merged.merge(tally)
        return merged

    def first_response_by_channel(self) -> dict[str, float | None]:
        return {channel: _mean(total, count)
                for channel, (total, count) in sorted(self.first_responses.items())}


def new_report(by: Dimension, period: Period) -> Report:
    return Report(by, period, {g: Tally() for g in _empty_groups(by, period)})


def add_facts(report: Report, facts: Iterable[RequestFacts], thresholds: Mapping[str, int],
              default_s: int, now: datetime) -> None:
    """Count `facts` in: `thresholds` are the lanes' service-level seconds."""
    group = group_of(report.by, report.period.zone)
    groups, channels = report.groups, report.first_responses
    for f in facts:
        done = outcome(f, thresholds.get(f.lane, default_s), now)
        found = groups.get(key := group(f))
        if found is None:
            found = groups[key] = Tally()
        found.add(done)
        total, count = channels.get(f.channel, (0, 0))
        if done.first_response_us is not None:
            total, count = total + done.first_response_us, count + 1
        channels[f.channel] = (total, count)
