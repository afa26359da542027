"""A report's figures counted by the database: the same definitions as
dispatch.report_figures (whose Python count over dispatch.report_facts stays the reference),
but rows come back per group, not per request, however many requests the period holds.

Three reads, each over the period's requests by `ix_contact_requests_started`:

- the counts and sums (microseconds, exact) per group and channel, so the channel's first
  response comes from the same read whatever the grouping;
- how many answered waits each group has in each whole second: a row per second waited;
  from it, the second that holds each group's 90th percentile (nearest rank), and the
  period's (the groups' histograms added up), and the rank within that second;
- the exact waits of those seconds only (per group its own, and the period's), from which
  the percentile is exact to the microsecond, as in Python.

Durations are differences of the timings' integer copies (hub.schema's `*_us`, whole
microseconds since the epoch), so sums, the service level's "within N seconds" and the
percentile are exact and nothing parses a timestamp; a local hour or day is integer
arithmetic on the case start's copy (dispatch.report_local). By agent, the rows are the
agents' ids; their few names are read after, not joined to every request.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Select,
    Subquery,
    and_,
    case,
    column,
    exists,
    false,
    func,
    literal,
    or_,
    select,
    tuple_,
    values,
)

from dispatch.report_facts import agent_key
from dispatch.report_figures import COUNTS, US, Group, Report, Tally, nearest_rank, new_report
from dispatch.report_local import key_text, local_number
from dispatch.report_period import Dimension, Period
from hub import schema
from hub.database import Database

r = schema.contact_requests
calls = schema.calls


def _key(by: Dimension, period: Period) -> ColumnElement[Any]:
    """The group's key in SQL."""
    match by:
        case Dimension.LANE:
            return r.c.lane
        case Dimension.CHANNEL:
            return r.c.channel
        case Dimension.AGENT:
            return r.c.last_agent_id
        case Dimension.HOUR | Dimension.DAY:
            return local_number(r.c.case_started_us, by, period.zone, period.start,
                                period.end)


def _period(period: Period) -> list[ColumnElement[bool]]:
    return [r.c.case_started_at >= period.start, r.c.case_started_at < period.end]


def _once(query: Select[Any]) -> Subquery:
    """`query` as a subquery whose columns the outer query reads rather than repeats: an
    OFFSET keeps SQLite from flattening it (which would work a duration out once per use)."""
    return query.offset(0).subquery()


def _flag(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return case((condition, 1), else_=0)


def _counts(by: Dimension, period: Period, thresholds: Mapping[str, int], default_s: int,
            now: datetime) -> Select[Any]:
    """Per group and channel: every count and sum of dispatch.report_figures.COUNTS."""
    threshold: ColumnElement[Any] = literal(default_s * US, BigInteger)
    if thresholds:
        threshold = case({lane: s * US for lane, s in thresholds.items()}, value=r.c.lane,
                         else_=default_s * US)
    due, called, done = r.c.callback_due_at, r.c.callback_called_at, r.c.callback_done_at
    # The first of the two made it in time exactly when either is by the due time; each
    # comparison guarded so that `in_time` is never null (NOT NULL would stay null).
    in_time = and_(due.is_not(None), or_(and_(called.is_not(None), called <= due),
                                         and_(done.is_not(None), done <= due)))
    # Asked only of a request with a missed call: no other needs it.
    call_answered = case((r.c.missed_calls > 0, exists().where(
        calls.c.request_id == r.c.id, calls.c.answered_at.is_not(None))), else_=false())
    made = or_(called.is_not(None), done.is_not(None))
    facts = select(
        _key(by, period).label("key"),
        r.c.channel.label("channel"),
        _flag(r.c.service_started_us.is_not(None)).label("answered"),
        _flag(and_(r.c.missed_calls > 0, ~call_answered, ~made)).label("missed"),
        _flag(and_(r.c.channel == "chat", r.c.first_response_us.is_(None),
                   r.c.status == "resolved")).label("chat"),
        _flag(and_(due.is_not(None), due < now, ~in_time)).label("late"),
        _flag(due.is_not(None)).label("callback"),
        _flag(in_time).label("in_time"),
        _wait().label("wait"),
        threshold.label("threshold"),
        (r.c.ended_us - r.c.service_started_us).label("handling"),
        (r.c.first_response_us - r.c.case_started_us).label("first"),
    ).where(*_period(period))
    f = _once(facts).c
    gone = f.missed + f.chat + f.late > 0
    return select(
        f.key, f.channel, func.count(), func.sum(f.answered), func.sum(_flag(gone)),
        func.sum(f.missed), func.sum(f.chat), func.sum(f.late),
        func.sum(_flag(f.wait <= f.threshold)), func.sum(_flag(or_(f.answered > 0, gone))),
        func.sum(f.callback), func.sum(f.in_time),
        func.sum(f.wait), func.count(f.wait), func.sum(f.handling), func.count(f.handling),
        func.sum(f.first), func.count(f.first),
    ).group_by(f.key, f.channel)


def _wait() -> ColumnElement[int]:
    """Queued to service start in microseconds; null unless both are set."""
    return r.c.service_started_us - r.c.queued_us


def _waits(by: Dimension, period: Period) -> Subquery:
    """Each answered request's group key, wait (us) and whole second of wait."""
    waits = _once(select(_key(by, period).label("key"), _wait().label("wait"))
                  .where(*_period(period), r.c.service_started_us.is_not(None),
                         r.c.queued_us.is_not(None)))
    # Whole seconds toward zero: a bucket's waits all rank below the next bucket's.
    return select(waits.c.key, waits.c.wait, (waits.c.wait // US).label("second")).subquery()


def _histogram(by: Dimension, period: Period) -> Select[Any]:
    """How many waits each group has in each whole second: a row per second waited, not per
    request."""
    w = _waits(by, period).c
    return select(w.key, w.second, func.count()).group_by(w.key, w.second)


def _within(by: Dimension, period: Period, dialect: str, total: int,
            chosen: Mapping[Any, int]) -> Select[Any]:
    """The exact waits (and how many of each) of the second the period's percentile falls
    in, and of each group's own second."""
    waits = _waits(by, period)
    w = waits.c
    pairs = [(key, second) for key, second in chosen.items() if key is not None]
    wanted = [w.second == total]
    source: Any = waits
    if pairs and dialect == "postgresql":
        # A hash join with the pairs: PostgreSQL turns a row IN list into one OR per pair.
        table = values(column("key", w.key.type), column("second", BigInteger),
                       name="chosen").data(pairs)
        source = waits.outerjoin(table, and_(table.c.key == w.key,
                                             table.c.second == w.second))
        wanted.append(table.c.second.is_not(None))
    elif pairs:  # SQLite looks a row value up in its IN list's own index
        wanted.append(tuple_(w.key, w.second).in_(pairs))
    if None in chosen:  # the requests without an agent: a null key matches no pair
        wanted.append(and_(w.key.is_(None), w.second == chosen[None]))
    return (select(w.key, w.second, w.wait, func.count()).select_from(source)
            .where(or_(*wanted)).group_by(w.key, w.second, w.wait))


def _at_rank(counts: Iterable[tuple[int, int]], rank: int) -> tuple[int, int]:
    """The value holding the 1-based `rank` among (value, how many) pairs, and the rank
    within it."""
    seen = 0
    for value, count in sorted(counts):
        if seen + count >= rank:
            return value, rank - seen
        seen += count
    raise ValueError(f"rank {rank} beyond {seen} values")


def _group(by: Dimension, key: Any, names: Mapping[str, str]) -> Group:
    match by:
        case Dimension.AGENT:
            found = agent_key(key)
            return Group(found, names.get(found, "")) if found is not None else Group("", "")
        case Dimension.HOUR | Dimension.DAY:
            text = key_text(by, int(key))
            return Group(text, text)
        case _:
            return Group(str(key), str(key))


async def _agent_names(database: Database, ids: Iterable[Any]) -> dict[str, str]:
    """The names of the agents among the groups' keys (a handful, however many requests)."""
    wanted = [key for key in ids if key is not None]
    if not wanted:
        return {}
    agents = schema.agents
    async with database.read() as conn:
        rows = await conn.execute(select(agents.c.id, agents.c.name)
                                  .where(agents.c.id.in_(wanted)))
        return {str(agent_id): name or "" for agent_id, name in rows}


def _int(value: Any) -> int:
    return int(value or 0)  # PostgreSQL's sum of integers is a Decimal; an empty one null


async def counted_report(database: Database, by: Dimension, period: Period,
                         thresholds: Mapping[str, int], default_s: int,
                         now: datetime) -> Report:
    """The report over `period` grouped `by`, counted by the database: `thresholds` are the
    lanes' service-level seconds, `default_s` any other lane's."""
    report = new_report(by, period)
    total = report.counted_total = Tally()
    keys: dict[Any, Group] = {}
    async with database.read() as conn:
        rows = (await conn.execute(_counts(by, period, thresholds, default_s, now))).all()
    names = await _agent_names(database, {row[0] for row in rows}) \
        if by is Dimension.AGENT else {}
    for key, channel, *counts in rows:
        group = keys[key] = _group(by, key, names)
        part = Tally()
        for name, value in zip(COUNTS, counts, strict=True):
            setattr(part, name, _int(value))
        report.groups.setdefault(group, Tally()).merge(part)
        total.merge(part)
        first_us, firsts = report.first_responses.get(channel, (0, 0))
        report.first_responses[channel] = (first_us + part.first_response_us,
                                           firsts + part.first_responded)
    if total.waited:
        await _percentiles(database, by, period, report, keys)
    return report


async def _percentiles(database: Database, by: Dimension, period: Period, report: Report,
                       keys: Mapping[Any, Group]) -> None:
    """Each group's and the period's 90th percentile wait (nearest rank), exact: the
    whole second it falls in from the histogram, then the waits of that second only."""
    dialect = database.dialect
    async with database.read() as conn:
        histogram = (await conn.execute(_histogram(by, period))).all()
    per_key: dict[Any, list[tuple[int, int]]] = {}
    overall: dict[int, int] = {}
    for key, second, count in histogram:
        per_key.setdefault(key, []).append((int(second), int(count)))
        overall[int(second)] = overall.get(int(second), 0) + int(count)
    wanted: dict[Any, tuple[int, int]] = {}  # key: (second, rank within it)
    for key, seconds in per_key.items():
        wanted[key] = _at_rank(seconds, nearest_rank(sum(n for _, n in seconds)))
    total_second, total_rank = _at_rank(overall.items(), nearest_rank(sum(overall.values())))
    async with database.read() as conn:
        exact = (await conn.execute(_within(by, period, dialect, total_second, {
            key: second for key, (second, _) in wanted.items()}))).all()
    in_group: dict[Any, list[tuple[int, int]]] = {}
    in_total: list[tuple[int, int]] = []
    for key, second, wait, count in exact:
        if wanted.get(key, (None,))[0] == second:
            in_group.setdefault(key, []).append((int(wait), int(count)))
        if second == total_second:
            in_total.append((int(wait), int(count)))
    for key, (_, rank) in wanted.items():
        report.groups[keys[key]].p90_wait_us = _at_rank(in_group[key], rank)[0]
    assert report.counted_total is not None
    report.counted_total.p90_wait_us = _at_rank(in_total, total_rank)[0]
