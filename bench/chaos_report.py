"""The chaos bench's figures: per phase and in total, from what the senders were answered,
what the database holds and what the consoles heard."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from chaos_clients import Console, Submission
from chaos_stores import Stored

SLOW_S = 2.0  # acknowledgement -> every console; slower ones are listed
EXAMPLES = 5  # submission ids listed per kind and phase
COUNTS = ("submitted", "acknowledged", "stored", "lost", "duplicated", "on_console",
          "console_missed", "unanswered", "refused", "retried")


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


def on_every_console(references: set[str], consoles: Sequence[Console]) -> float | None:
    """When the last console first heard of the contact (any of its requests); None when a
    console never did."""
    latest = 0.0
    for console in consoles:
        heard = [console.seen[r] for r in references if r in console.seen]
        if not heard:
            return None
        latest = max(latest, min(heard))
    return latest


def phase_row(phase: Phase, subs: list[Submission], stored: dict[str, Stored],
              consoles: Sequence[Console], everyone: list[Submission]) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(COUNTS, 0)
    row["phase"] = phase.name
    slowest = 0.0
    late: list[tuple[float, str]] = []  # over SLOW_S from acknowledgement to every console
    examples: dict[str, list[str]] = {"lost": [], "duplicated": [], "console_missed": [],
                                      "refused": []}
    for sub in subs:
        found = stored.get(sub.sid, Stored())
        row["submitted"] += 1
        row["retried"] += sub.attempts > 1
        row["stored"] += found.messages > 0
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
        if not found.messages:
            row["lost"] += 1
            examples["lost"].append(f"{sub.sid} {sub.reference} {sub.statuses}")
            continue
        heard = on_every_console(found.references, consoles)
        if heard is None:
            row["console_missed"] += 1
            examples["console_missed"].append(f"{sub.sid} {sorted(found.references)}")
            continue
        row["on_console"] += 1
        slowest = max(slowest, heard - sub.acked_at)
        if heard - sub.acked_at > SLOW_S:
            late.append((heard - sub.acked_at, f"{sub.sid} {sorted(found.references)} acked "
                         f"{_since(sub.acked_at, phase)}, on consoles after "
                         f"{heard - sub.acked_at:.1f} s"))
    row["ack_to_console_max_s"] = round(slowest, 2)
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
        heard = on_every_console(found.references, consoles) if found else None
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
    rows.append(total)
    heads = ["phase", "submitted", "acknowledged", "stored", "lost", "duplicated", "on_console",
             "unanswered", "retried", "outage_s", "catch_up_s", "ack_to_console_max_s"]
    labels = ["phase", "sent", "acked", "stored", "lost", "dup", "console", "unanswered",
              "retried", "outage s", "catch-up s", "ack→console max s"]
    widths = [max(len(label), 16 if head == "phase" else 5) for head, label in
              zip(heads, labels, strict=True)]
    print()
    print("  ".join(label.rjust(w) for label, w in zip(labels, widths, strict=True)))
    for row in rows:
        cells = ["-" if row[h] is None else str(row[h]) for h in heads]
        print("  ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True)))
    print()
    for row in rows[:-1]:
        if row["note"]:
            print(f"  {row['phase']}: {row['note']}")
        for kind, examples in row["examples"].items():
            print(f"  {row['phase']} {kind}: {'; '.join(examples)}")
    return rows


def figures(rows: list[dict[str, Any]]) -> tuple[dict[str, Any], list[str]]:
    """The total's figures, and what fails the run."""
    total = rows[-1]
    figures = {k: total[k] for k in (*COUNTS, "catch_up_s", "outage_s",
                                      "ack_to_console_max_s")}
    figures["catch_up_s_by_phase"] = {r["phase"]: r["catch_up_s"] for r in rows[:-1]
                                      if r["catch_up_s"] is not None}
    failures = [f"{total[k]} {label}" for k, label in (
        ("lost", "acknowledged contacts lost"), ("duplicated", "contacts stored twice"),
        ("console_missed", "acknowledged contacts missed by a console"),
        ("refused", "contacts refused with a 4xx"),
        ("unanswered", "contacts never acknowledged despite the retries")) if total[k]]
    failures += [f"{r['phase']}: {r['failure']}" for r in rows[:-1] if r["failure"]]
    if not total["submitted"]:
        failures.append("nothing was submitted")
    return figures, failures
