"""The figures of bench/ingest.py: one `Phase` per load phase, scored from the samples, and
the report: the table, the hub/baseline ratios and the issue's targets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from load import Sample

FAST_503_MS = 50.0  # a refusal slower than this is not "fast"
HANGING_MS = 1000.0  # past capacity, accepted requests slower than this are left hanging
KEPT_UP = 0.95  # achieved / offered needed to call a rate sustained


@dataclass
class Phase:
    """The figures of one load phase against one server."""

    target: str  # "hub" or "baseline"
    mode: str  # "open" or "closed"
    offered: float  # requests per second (open loop); 0 for closed loop
    concurrency: int  # requests in flight (closed loop); 0 for open loop
    seconds: float
    sent: int = 0
    ok: int = 0
    refused_503: int = 0
    errors: int = 0  # other non-2xx answers
    timeouts: int = 0
    failures: dict[str, int] = field(default_factory=dict)  # by status or exception
    throughput: float = 0.0  # 2xx answers per second
    post_p50_ms: float | None = None
    post_p99_ms: float | None = None
    post_max_ms: float | None = None
    refused_p99_ms: float | None = None
    retry_after_on_all_503: bool = True
    e2e_throughput: float | None = None  # accepted contacts on the consoles per second
    e2e_p50_ms: float | None = None
    e2e_p99_ms: float | None = None
    e2e_max_ms: float | None = None
    reached: int | None = None  # accepted contacts seen on every measured console
    all_consoles_complete: bool | None = None  # every console got every event so far
    cpu_percent: dict[str, float] = field(default_factory=dict)  # of one core
    waited_for_quiet_s: float = 0.0
    hub_batches: int | None = None
    hub_batch_mean: float | None = None
    # From the hub's own /metrics histograms over the phase (one process's under --workers):
    # where the end-to-end time goes inside the hub.
    hub_histograms: dict[str, float | None] = field(default_factory=dict)
    probe: dict[str, Any] = field(default_factory=dict)  # with --probe: inside the hub

    @property
    def label(self) -> str:
        if self.mode == "open":
            return f"{self.offered:g}/s"
        return f"closed {self.concurrency}"

    @property
    def clean(self) -> bool:
        return not (self.refused_503 or self.errors or self.timeouts)


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile of unsorted values, None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, int(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 2)


def score_posts(phase: Phase, samples: list[Sample], start_at: float) -> None:
    phase.sent = len(samples)
    ok = [s for s in samples if 200 <= s.status < 300]
    refused = [s for s in samples if s.status == 503]
    phase.ok, phase.refused_503 = len(ok), len(refused)
    phase.timeouts = sum(1 for s in samples if s.error == "timeout")
    phase.errors = phase.sent - phase.ok - phase.refused_503 - phase.timeouts
    for s in samples:
        if not 200 <= s.status < 300:
            kind = s.error or str(s.status)
            phase.failures[kind] = phase.failures.get(kind, 0) + 1
    if ok:
        phase.throughput = round(len(ok) / (max(s.done for s in ok) - start_at), 1)
    latencies = [s.done - s.due for s in ok]
    phase.post_p50_ms = _ms(percentile(latencies, 50))
    phase.post_p99_ms = _ms(percentile(latencies, 99))
    phase.post_max_ms = _ms(max(latencies, default=None))
    phase.refused_p99_ms = _ms(percentile([s.done - s.due for s in refused], 99))
    phase.retry_after_on_all_503 = all(s.retry_after for s in refused)


def score_consoles(phase: Phase, samples: list[Sample], start_at: float,
                   arrivals: list[dict[str, float]]) -> None:
    accepted = [s for s in samples if 200 <= s.status < 300 and s.reference]
    delays: list[float] = []
    reached = 0
    last = start_at
    for s in accepted:
        seen = [a[s.reference] for a in arrivals if s.reference in a]
        delays.extend(t - s.due for t in seen)
        if len(seen) == len(arrivals):
            reached += 1
            last = max(last, *seen)
    phase.reached = reached
    phase.e2e_p50_ms = _ms(percentile(delays, 50))
    phase.e2e_p99_ms = _ms(percentile(delays, 99))
    phase.e2e_max_ms = _ms(max(delays, default=None))
    if reached:
        phase.e2e_throughput = round(reached / (last - start_at), 1)


def score_batches(phase: Phase, before: dict[str, float], after: dict[str, float]) -> None:
    def delta(name: str) -> float:
        return after.get(name, 0.0) - before.get(name, 0.0)

    batches = delta("taxiconnect_ingest_batches_total")
    phase.hub_batches = int(batches)
    if batches:
        phase.hub_batch_mean = round(delta("taxiconnect_ingest_committed_total") / batches, 1)
    for label, metric in HUB_HISTOGRAMS:
        for q in (50, 99):
            phase.hub_histograms[f"{label} p{q}"] = _ms(
                histogram_quantile(before, after, metric, q / 100))


# The hub's histograms the bench reads (hub/metrics.py): (column, metric name).
HUB_HISTOGRAMS = (
    ("answer", "taxiconnect_http_answer_seconds"),  # arrival to answer, every inbound route
    ("commit", "taxiconnect_ingest_commit_seconds"),  # one ingest batch's transaction
    ("fan-out", "taxiconnect_event_fanout_seconds"),  # stream entry to a console socket
)


def histogram_quantile(before: dict[str, float], after: dict[str, float], metric: str,
                       q: float) -> float | None:
    """The q-quantile of what a Prometheus histogram observed between two scrapes, summed
    over its labels, interpolated inside its bucket (as PromQL's histogram_quantile)."""
    counts: dict[float, float] = {}
    prefix = metric + "_bucket{"
    for name, value in after.items():
        if not name.startswith(prefix):
            continue
        bound = name.split('le="', 1)[1].split('"', 1)[0]
        edge = float("inf") if bound == "+Inf" else float(bound)
        counts[edge] = counts.get(edge, 0.0) + value - before.get(name, 0.0)
    edges = sorted(counts)
    if not edges or counts[edges[-1]] <= 0:
        return None
    wanted = q * counts[edges[-1]]
    lower, below = 0.0, 0.0
    for edge in edges:
        if counts[edge] >= wanted:
            if edge == float("inf"):
                return lower
            inside = counts[edge] - below
            return lower + (edge - lower) * ((wanted - below) / inside if inside else 1.0)
        lower, below = edge, counts[edge]
    return lower


COLUMNS = ("target", "load", "sent", "ok/s", "e2e/s", "503", "503p99", "err", "t/o",
           "POSTp50", "POSTp99", "e2ep50", "e2ep99", "reached", "cpu% srv/redis/cli/others",
           "batch")
WIDTHS = (8, 10, 6, 7, 7, 5, 6, 4, 4, 7, 7, 7, 7, 13, 25, 5)


LEGEND = """\
ok/s: 2xx answers per second; e2e/s: accepted contacts on every measured console per second;
503p99: how long refusals took; err: other non-2xx or broken connections; t/o: no answer in
--timeout. Latencies in ms, counted from when each POST was due (open loop) or sent (closed).
reached: accepted contacts seen on all measured consoles / accepted ("!": some console missed
events or the drain timed out). cpu%: of one core, over the phase and its drain; "others" is
the rest of the machine (with external stores it includes them). batch: contacts per commit."""


def _cell(value: float | int | str | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}" if value < 100 else f"{value:.0f}"
    return str(value)


def _ratio_cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def row(phase: Phase) -> str:
    cpu = phase.cpu_percent
    cpu_text = "/".join(_cell(cpu.get(k)) for k in (phase.target, "redis", "client",
                                                       "others"))
    reached = "-"
    if phase.reached is not None:
        reached = f"{phase.reached}/{phase.ok}" + ("" if phase.all_consoles_complete else "!")
    cells = (phase.target, phase.label, phase.sent, phase.throughput, phase.e2e_throughput,
             phase.refused_503, phase.refused_p99_ms, phase.errors, phase.timeouts,
             phase.post_p50_ms, phase.post_p99_ms, phase.e2e_p50_ms, phase.e2e_p99_ms,
             reached, cpu_text, phase.hub_batch_mean)
    return " ".join(_cell(c).rjust(w) for c, w in zip(cells, WIDTHS, strict=True))


def header() -> str:
    return " ".join(c.rjust(w) for c, w in zip(COLUMNS, WIDTHS, strict=True))


def print_table(phases: list[Phase]) -> None:
    print(header())
    for phase in phases:
        print(row(phase))
    print(LEGEND)


def print_hub_histograms(hub: list[Phase]) -> None:
    measured = [p for p in hub if any(v is not None for v in p.hub_histograms.values())]
    if not measured:
        return
    names = list(measured[0].hub_histograms)
    print("\ninside the hub (its /metrics histograms, ms; answer: arrival to answer of an "
          "inbound POST, commit: one ingest batch, fan-out: stream entry to console socket):")
    print(" ".join(["load".rjust(10), *(n.rjust(max(8, len(n))) for n in names)]))
    for p in measured:
        print(" ".join([p.label.rjust(10),
                        *(_cell(p.hub_histograms.get(n)).rjust(max(8, len(n)))
                          for n in names)]))


def print_probes(hub: list[Phase]) -> None:
    probed = [p for p in hub if p.probe]
    if not probed:
        return
    names = list(probed[0].probe)
    print("\ninside the hub (--probe; round trip = one aiosqlite call, loop -> thread -> loop):")
    print(" ".join(["load".rjust(10), *(n.rjust(max(8, len(n))) for n in names)]))
    for p in probed:
        print(" ".join([p.label.rjust(10),
                        *(_cell(p.probe.get(n)).rjust(max(8, len(n))) for n in names)]))


def report_line(phase: Phase) -> Phase:
    print(row(phase), flush=True)
    return phase


def ratios(hub: list[Phase], baseline: list[Phase]) -> list[dict[str, Any]]:
    def ratio(a: float | None, b: float | None) -> float | None:
        return float(f"{a / b:.3g}") if a is not None and b else None

    out = []
    for h in hub:
        b = next((p for p in baseline if (p.mode, p.offered, p.concurrency)
                  == (h.mode, h.offered, h.concurrency)), None)
        if b is not None:
            out.append({"load": h.label, "throughput": ratio(h.throughput, b.throughput),
                        "post_p50": ratio(h.post_p50_ms, b.post_p50_ms),
                        "post_p99": ratio(h.post_p99_ms, b.post_p99_ms),
                        "e2e_p50_vs_baseline_post_p50": ratio(h.e2e_p50_ms, b.post_p50_ms),
                        "e2e_p99_vs_baseline_post_p99": ratio(h.e2e_p99_ms, b.post_p99_ms)})
    best_hub = max((p.throughput for p in hub if p.mode == "closed"), default=None)
    best_base = max((p.throughput for p in baseline if p.mode == "closed"), default=None)
    out.append({"load": "max closed loop", "throughput": ratio(best_hub, best_base)})
    return out


def sustained(phase: Phase) -> bool:
    return (phase.clean and bool(phase.all_consoles_complete) and phase.reached == phase.sent
            and (phase.e2e_throughput or 0) >= KEPT_UP * phase.offered)


def over_capacity(phase: Phase) -> bool:
    return phase.mode == "open" and (
        phase.throughput < KEPT_UP * phase.offered or not phase.clean)


def beyond_capacity(phases: list[Phase]) -> tuple[bool | None, str]:
    """Past capacity the hub must refuse at once (503 + Retry-After), not let requests queue:
    accepted ones then stay quick and none time out."""
    over = [p for p in phases if over_capacity(p)]
    if not over:
        return None, "no open-loop rate exceeded the hub's capacity"
    passed = all(p.refused_503 and (p.refused_p99_ms or 0) <= FAST_503_MS
                 and p.retry_after_on_all_503 and not p.timeouts
                 and (p.post_p99_ms or 0) <= HANGING_MS for p in over)
    detail = "; ".join(
        f"{p.label}: {p.refused_503} x 503 (p99 {_cell(p.refused_p99_ms)} ms), "
        f"{p.timeouts} timeouts, accepted POST p99 {_cell(p.post_p99_ms)} ms" for p in over)
    return passed, detail


def checks(hub: list[Phase], consoles: int,
           wanted: int = 50) -> list[tuple[str, bool | None, str]]:
    open_loop = [p for p in hub if p.mode == "open"]
    best = max((p.offered for p in open_loop if sustained(p)), default=0.0)
    tried = max((p.offered for p in open_loop), default=0.0)
    at_200 = next((p for p in open_loop if p.offered == 200), None)

    def rate_goal(goal: float, kind: str) -> tuple[str, bool | None, str]:
        return (f"{kind}: >= {goal:g} contacts/s end to end, no errors",
                None if tried < goal else best >= goal,
                f"highest sustained offered rate {best:g}/s (of {tried:g}/s tried)")

    return [
        (f"{wanted} consoles connected and receiving", consoles >= wanted, f"{consoles}"),
        rate_goal(1000, "target"),
        rate_goal(2000, "aim"),
        ("e2e p99 <= 50 ms at 200/s",
         None if at_200 is None or at_200.e2e_p99_ms is None else at_200.e2e_p99_ms <= 50,
         f"e2e p99 {at_200.e2e_p99_ms if at_200 else '-'} ms, "
         f"POST p99 {at_200.post_p99_ms if at_200 else '-'} ms"),
        ("beyond capacity: fast 503 + Retry-After, no hanging requests",
         *beyond_capacity(open_loop)),
    ]


def print_summary(hub: list[Phase], baseline: list[Phase], consoles: int,
                  wanted: int = 50) -> dict[str, Any]:
    found = ratios(hub, baseline)
    if baseline:
        print("\nhub / baseline (x times; e2e is set against the baseline's POST latency):")
        names = ["throughput", "post_p50", "post_p99", "e2e_p50_vs_baseline_post_p50",
                 "e2e_p99_vs_baseline_post_p99"]
        titles = ["ok/s", "POSTp50", "POSTp99", "e2ep50", "e2ep99"]
        print(" ".join(["load".rjust(16), *(t.rjust(8) for t in titles)]))
        for r in found:
            print(" ".join([str(r["load"]).rjust(16),
                            *(_ratio_cell(r.get(n)).rjust(8) for n in names)]))
    print("\ntargets:")
    verdicts = checks(hub, consoles, wanted)
    for name, passed, detail in verdicts:
        mark = {True: "PASS", False: "FAIL", None: "n/a "}[passed]
        print(f"  {mark}  {name}: {detail}")
    return {"ratios": found,
            "targets": [{"target": n, "passed": p, "detail": d} for n, p, d in verdicts]}


# --- CI's smoke and the README's table ---------------------------------------------------------

def smoke_failures(phase: Phase) -> list[str]:
    """The rules bench/ingest.py --smoke enforces on an open-loop phase; each broken rule as
    a sentence, none when the phase passed."""
    failures = []
    expected = round(phase.offered * phase.seconds)
    if phase.timeouts:
        failures.append(f"{phase.timeouts} of {phase.sent} POSTs timed out")
    # A 503 + Retry-After is the hub refusing load it cannot take in time: the rule on the
    # accepted rate counts it. Any other 5xx is a failure by itself.
    server_errors = sum(n for kind, n in phase.failures.items()
                        if kind.startswith("5") and kind != "503")
    if server_errors:
        failures.append(f"{server_errors} answers were 5xx other than 503 "
                        f"({_kinds(phase, '5')})")
    others = phase.errors - sum(n for kind, n in phase.failures.items()
                                if kind.startswith("5") and kind != "503")
    if others > 0:
        failures.append(f"{others} other errors ({_kinds(phase, '')})")
    if phase.throughput < KEPT_UP * phase.offered or phase.ok < KEPT_UP * expected:
        failures.append(f"accepted {phase.throughput:g}/s ({phase.ok} of {expected}), under "
                        f"{KEPT_UP:.0%} of the offered {phase.offered:g}/s")
    if not phase.all_consoles_complete or (phase.reached or 0) < phase.ok:
        failures.append(f"consoles missed events ({phase.reached} of {phase.ok} accepted "
                        f"contacts reached every measured console; every console complete: "
                        f"{bool(phase.all_consoles_complete)})")
    return failures


def _kinds(phase: Phase, prefix: str) -> str:
    return ", ".join(f"{kind} x{n}" for kind, n in sorted(phase.failures.items())
                     if kind.startswith(prefix) and kind != "timeout") or "-"


def _figure(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.2g}" if value < 10 else f"{value:.0f}"


def markdown_table(document: dict[str, Any]) -> str:
    """The README's table from bench/ingest.py's figures (its --json document): one row per
    hub phase, the baseline's best closed loop below, with the date and the commit."""
    phases = document["phases"]
    hub = [p for p in phases if p["target"] == "hub"]
    lines = [
        f"{document.get('stores', 'embedded defaults')}, profile "
        f"{document.get('profile', 'bare')}"
        + (f", {document['preload']:,} preloaded requests" if document.get("preload") else "")
        + f", {document.get('consoles_connected', '?')} consoles connected "
        f"({document.get('date', '?')}, commit {document.get('commit', '?')}):",
        "",
        "| offered | accepted/s | POST p50 / p99 | end-to-end p50 / p99 | 503 (p99) | timeouts |",
        "|---|---|---|---|---|---|",
    ]
    for p in hub:
        load = (f"{p['offered']:,.0f}/s" if p["mode"] == "open"
                else f"closed loop, {p['concurrency']} in flight")
        refused = (f"{p['refused_503']:,} ({_figure(p['refused_p99_ms'])} ms)"
                   if p["refused_503"] else "0")
        lines.append(
            f"| {load} | {p['throughput']:,.0f} | {_figure(p['post_p50_ms'])} / "
            f"{_figure(p['post_p99_ms'])} ms | {_figure(p['e2e_p50_ms'])} / "
            f"{_figure(p['e2e_p99_ms'])} ms | {refused} | {p['timeouts']:,} |")
    base = [p for p in phases if p["target"] == "baseline"]
    best = max(base, key=lambda p: p["throughput"], default=None)
    if best is not None:
        lines += ["", f"Baseline in the same run (bare aiohttp form handler): "
                      f"{best['throughput']:,.0f} POSTs/s at {best['label']}."]
    disk = document.get("machine", {}).get("fsync_ms")
    if disk:
        lines += ["", f"The disk in the same run: an fsync of 4 KiB took p50 {disk['p50']:g} ms, "
                      f"p99 {disk['p99']:g} ms (every SQLite commit waits for one)."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """`python bench/report.py --markdown figures.json`: the README's table from a run's
    --json figures."""
    import argparse
    import json
    from pathlib import Path

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("figures", type=Path, nargs="+", help="bench/ingest.py --json files")
    parser.add_argument("--markdown", action="store_true", required=True)
    args = parser.parse_args(argv)
    print("\n\n".join(markdown_table(json.loads(path.read_text())) for path in args.figures))


if __name__ == "__main__":
    main()
