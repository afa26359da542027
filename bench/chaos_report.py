"""The chaos bench's figures: per phase, per channel and in total, from what the senders
were answered, what the database holds and what the consoles heard."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from chaos_clients import Console, Submission, heard_of
from chaos_stores import Stored

SLOW_S = 2.0  # acknowledgement -> every console; slower ones are listed
EXAMPLES = 5  # submission ids listed per kind and phase
COUNTS = ("submitted", "acknowledged", "stored", "lost", "duplicated", "on_console",
          "console_missed", "unanswered", "refused", "retried", "server_errors")
CHANNELS = ("form", "sms", "chat", "email", "phone")
# An answer no fault excuses: the hub failed on its own (503 and SMTP 451 say "later" and
# are what an outage should answer).
SERVER_ERRORS = ("500", "newCall 500", "hangup 500")


@dataclass
class Phase:
    name: str
    fault: str
    started: float = 0.0
    fault_at: float | None = None
    recovered_at: float | None = None
    ended: float = 0.0
    note: str = ""
    failure: str = ""  # the fault was not recovered from as the hub promises
    kind: str = ""  # the fault's name in chaos.FAULTS; "steady" for none

    @property
    def outage_s(self) -> float | None:
        if self.fault_at is None or self.recovered_at is None:
            return None
        return self.recovered_at - self.fault_at


def _since(at: float, phase: Phase) -> str:
    """A moment told relative to the phase's fault (or start)."""
    origin = phase.fault_at if phase.fault_at is not None else phase.started
    return f"{at - origin:+.1f} s from the {'fault' if phase.fault_at else 'phase start'}"


def on_every_console(references: set[str], consoles: Sequence[Console],
                     channel: str) -> float | None:
    """When the last console first heard of the contact (any of its requests; a missed
    call's shown waiting for a callback); None when a console never did."""
    latest = 0.0
    for console in consoles:
        known = heard_of(console, channel)
        heard = [known[r] for r in references if r in known]
        if not heard:
            return None
        latest = max(latest, min(heard))
    return latest


def phase_row(phase: Phase, subs: list[Submission], stored: dict[str, Stored],
              consoles: Sequence[Console], everyone: list[Submission]) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(COUNTS, 0)
    row["phase"] = phase.name
    slowest = 0.0
    slowest_after: float | None = None  # acknowledged once the fault was recovered from
    late: list[tuple[float, str]] = []  # over SLOW_S from acknowledgement to every console
    examples: dict[str, list[str]] = {"lost": [], "duplicated": [], "console_missed": [],
                                      "refused": [], "server_errors": []}
    for sub in subs:
        found = stored.get(sub.sid, Stored())
        row["submitted"] += 1
        row["retried"] += sub.attempts > 1
        row["stored"] += found.messages > 0 and not found.missing
        errors = sum(s in SERVER_ERRORS for s in sub.statuses)
        if errors:
            row["server_errors"] += errors
            examples["server_errors"].append(f"{sub.sid} {sub.statuses}")
        if found.messages > 1 or len(found.references) > 1:
            row["duplicated"] += 1
            examples["duplicated"].append(f"{sub.sid} {sorted(found.references)}")
        if sub.refused:
            row["refused"] += 1
            examples["refused"].append(f"{sub.sid} {sub.refused}")
        if sub.acked_at is None:
            row["unanswered"] += not sub.refused
            continue
        row["acknowledged"] += 1
        if not found.messages or found.missing:
            row["lost"] += 1
            examples["lost"].append(f"{sub.sid} {sub.reference} {found.missing} "
                                    f"{sub.statuses}")
            continue
        heard = on_every_console(found.references, consoles, sub.channel)
        if heard is None:
            row["console_missed"] += 1
            examples["console_missed"].append(f"{sub.sid} {sorted(found.references)}")
            continue
        row["on_console"] += 1
        slowest = max(slowest, heard - sub.acked_at)
        if phase.recovered_at is not None and sub.acked_at >= phase.recovered_at:
            slowest_after = max(slowest_after or 0.0, heard - sub.acked_at)
        if heard - sub.acked_at > SLOW_S:
            late.append((heard - sub.acked_at, f"{sub.sid} {sorted(found.references)} acked "
                         f"{_since(sub.acked_at, phase)}, on consoles after "
                         f"{heard - sub.acked_at:.1f} s"))
    row["ack_to_console_max_s"] = round(slowest, 2)
    row["after_recovery_max_s"] = None if slowest_after is None else round(slowest_after, 2)
    row["outage_s"] = None if phase.outage_s is None else round(phase.outage_s, 1)
    row["catch_up_s"] = catch_up(phase, everyone, stored, consoles)
    if late:
        examples[f"{len(late)} over {SLOW_S:g} s to the consoles, slowest"] = [
            text for _, text in sorted(late, reverse=True)]
    row["examples"] = {k: v[:EXAMPLES] for k, v in examples.items() if v}
    row["note"] = phase.note
    row["failure"] = phase.failure
    return row


def catch_up(phase: Phase, everyone: list[Submission], stored: dict[str, Stored],
             consoles: Sequence[Console]) -> float | None:
    """From the fault's recovery until every console had every contact acknowledged up to
    then (those the fault's outage held back included)."""
    if phase.recovered_at is None:
        return None
    latest = phase.recovered_at
    for sub in everyone:
        if sub.acked_at is None or sub.acked_at > phase.recovered_at:
            continue
        found = stored.get(sub.sid)
        heard = on_every_console(found.references, consoles, sub.channel) if found else None
        if heard is not None:
            latest = max(latest, heard)
    return round(latest - phase.recovered_at, 2)


def print_table(phases: list[Phase], subs: list[Submission], stored: dict[str, Stored],
                consoles: Sequence[Console]) -> list[dict[str, Any]]:
    rows = [phase_row(p, [s for s in subs if s.phase == p.name], stored, consoles, subs)
            for p in phases]
    total = phase_row(Phase("total", ""), subs, stored, consoles, subs)
    total["catch_up_s"] = max((r["catch_up_s"] for r in rows if r["catch_up_s"] is not None),
                              default=None)
    total["outage_s"] = max((r["outage_s"] for r in rows if r["outage_s"] is not None),
                            default=None)
    total["after_recovery_max_s"] = max(
        (r["after_recovery_max_s"] for r in rows if r["after_recovery_max_s"] is not None),
        default=None)
    rows.append(total)
    heads = ["phase", "submitted", "acknowledged", "stored", "lost", "duplicated", "on_console",
             "unanswered", "retried", "server_errors", "outage_s", "catch_up_s",
             "ack_to_console_max_s", "after_recovery_max_s"]
    labels = ["phase", "sent", "acked", "stored", "lost", "dup", "console", "unanswered",
              "retried", "500s", "outage s", "catch-up s", "ack→console max s",
              "after recovery max s"]
    print()
    _print_rows(rows, heads, labels)
    print()
    for row in rows[:-1]:
        if row["note"]:
            print(f"  {row['phase']}: {row['note']}")
        for kind, examples in row["examples"].items():
            print(f"  {row['phase']} {kind}: {'; '.join(examples)}")
    return rows


def channel_rows(phases: list[Phase], subs: list[Submission], stored: dict[str, Stored],
                 consoles: Sequence[Console]) -> list[dict[str, Any]]:
    """Every phase together, a row per channel, printed."""
    rows = []
    for channel in CHANNELS:
        mine = [s for s in subs if s.channel == channel]
        row = phase_row(Phase(channel, ""), mine, stored, consoles, mine)
        row["after_recovery_max_s"] = max(
            (phase_row(p, [s for s in mine if s.phase == p.name], stored, consoles, mine)
             ["after_recovery_max_s"] for p in phases if p.recovered_at is not None),
            key=lambda v: -1.0 if v is None else v, default=None)
        rows.append(row)
    heads = ["phase", "submitted", "acknowledged", "stored", "lost", "duplicated", "on_console",
             "unanswered", "refused", "retried", "server_errors", "ack_to_console_max_s",
             "after_recovery_max_s"]
    labels = ["channel", "sent", "acked", "stored", "lost", "dup", "console", "unanswered",
              "refused", "retried", "500s", "ack→console max s", "after recovery max s"]
    _print_rows(rows, heads, labels)
    print()
    return rows


def _print_rows(rows: list[dict[str, Any]], heads: list[str], labels: list[str]) -> None:
    widths = [max(len(label), 16 if head == "phase" else 5) for head, label in
              zip(heads, labels, strict=True)]
    print("  ".join(label.rjust(w) for label, w in zip(labels, widths, strict=True)))
    for row in rows:
        cells = ["-" if row[h] is None else str(row[h]) for h in heads]
        print("  ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True)))


def figures(rows: list[dict[str, Any]],
            by_channel: list[dict[str, Any]]) -> tuple[dict[str, Any], list[str]]:
    """The total's figures, and what fails the run."""
    total = rows[-1]
    figures = {k: total[k] for k in (*COUNTS, "catch_up_s", "outage_s",
                                      "ack_to_console_max_s", "after_recovery_max_s")}
    figures["catch_up_s_by_phase"] = {r["phase"]: r["catch_up_s"] for r in rows[:-1]
                                      if r["catch_up_s"] is not None}
    figures["after_recovery_max_s_by_phase"] = {
        r["phase"]: r["after_recovery_max_s"] for r in rows[:-1]
        if r["after_recovery_max_s"] is not None}
    figures["by_channel"] = {r["phase"]: {k: r[k] for k in (
        "submitted", "acknowledged", "stored", "lost", "duplicated", "on_console")}
        for r in by_channel}
    failures = [f"{total[k]} {label}" for k, label in (
        ("lost", "acknowledged contacts lost"), ("duplicated", "contacts stored twice"),
        ("console_missed", "acknowledged contacts missed by a console"),
        ("refused", "contacts refused with a 4xx"),
        ("unanswered", "contacts never acknowledged despite the retries"),
        ("server_errors", "answers 500")) if total[k]]
    failures += [f"{r['phase']}: {r['failure']}" for r in rows[:-1] if r["failure"]]
    if not total["submitted"]:
        failures.append("nothing was submitted")
    failures += [f"no {r['phase']} contact was acknowledged" for r in by_channel
                 if r["submitted"] and not r["acknowledged"]]
    return figures, failures
