"""Throttling: a fleet audit of 200 sandbox clusters over 4 subscriptions, 25 ms per ARM answer, under a
read budget that forces 429s, against the same audit unthrottled: every cluster still evaluated, the
429s served, the slowdown, and no request to a subscription sent before its Retry-After had passed.

Run by hand from the checkout: ``.venv/bin/python bench/throttling.py [--repeat N]``. Starts one sandbox
per configuration on a free loopback port, with its state, the target files and the reports in a
temporary directory; nothing is written to the checkout except ``bench/RESULTS.md``.

The sandbox throttles as ARM does: a token bucket of reads per subscription (``--read-budget`` tokens,
``--read-refill`` back each second); a GET with no token left gets a 429 with ``Retry-After`` in whole
seconds, and spends nothing. The check of Retry-After reads the sandbox's request log
(``/_sandbox/requests``): each request's arrival (``at``) and each 429's ``retry_after``.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fleet import CONCURRENCY, SUBSCRIPTIONS, Audit, Fleet, fleet_options, outcomes_verdict, run_audit
from measure import (
    Samples,
    cached_bytecode,
    load_average,
    machine,
    ms,
    rotations,
    sandbox,
    table,
    write_section,
)

CLUSTERS = 200
LATENCY_MS = 25
READ_BUDGET = 100
READ_REFILL = 25.0
# A request that reached the sandbox up to this long after a 429 could have been answered was already
# on its way, or its thread past the pacer, before the client had read the 429: in flight, not early.
# It covers loopback and the client's 16 threads sharing the GIL on few cores.
IN_FLIGHT_SECONDS = 0.050
# A request is early when it reached the sandbox more than this before its subscription's hold ended.
TOLERANCE_SECONDS = 0.005
CONFIGURATIONS = {
    "throttled": (
        f"--read-budget {READ_BUDGET} --read-refill {READ_REFILL:g}",
        ("--read-budget", str(READ_BUDGET), "--read-refill", f"{READ_REFILL:g}"),
    ),
    "unthrottled": ("no read budget", ()),
}
_SUBSCRIPTION = re.compile(r"^/subscriptions/([^/]+)/", re.IGNORECASE)


def subscription_of(path: str) -> str | None:
    """The subscription whose bucket a GET of ``path`` spends (none for ``/subscriptions`` itself)."""
    match = _SUBSCRIPTION.match(path)
    return match.group(1).lower() if match else None


def retry_after(entry: dict[str, Any]) -> float:
    """The ``Retry-After`` (seconds) a logged 429 carried."""
    if entry.get("retry_after") is None:
        raise SystemExit(f"throttling: the sandbox's request log gives no `retry_after` for a 429: {entry}")
    return float(entry["retry_after"])


@dataclass
class Pacing:
    """How the requests after each 429 kept to its Retry-After, per subscription."""

    refusals: int = 0
    early: list[float] = field(default_factory=list)  # for each early request, seconds too soon
    # early requests that had waited out an earlier 429's hold, not the longer one a 429 answered
    # while they waited set
    early_after_extension: int = 0
    in_flight: int = 0  # requests that reached the sandbox while a 429 was on its way to the client
    after_hold: list[float] = field(default_factory=list)  # first request after each hold: seconds late


def pacing(requests: Sequence[dict[str, Any]], latency: float) -> Pacing:
    """Judge every 429 of the log against the requests to its subscription that followed it.

    The log's ``at`` is when a request reached the sandbox, before the sandbox's latency. A 429 that
    arrived at ``a`` was answered no earlier than ``t = a + latency``; with ``Retry-After: R``, no
    request to its subscription may then arrive before ``t + R``. Those arriving up to
    IN_FLIGHT_SECONDS after ``t`` were sent before the client could act on the 429.
    """
    found = Pacing(refusals=sum(1 for r in requests if r["status"] == 429))
    by_subscription: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for entry in requests:
        if (sub := subscription_of(entry["path"])) is not None:
            by_subscription[sub].append(entry)
    early: dict[int, float] = {}
    extended: set[int] = set()
    in_flight: set[int] = set()
    for entries in by_subscription.values():
        entries.sort(key=lambda e: float(e["at"]))
        holds: list[float] = []  # when each earlier 429's hold ended
        for i, refusal in enumerate(entries):
            if refusal["status"] != 429:
                continue
            hold = retry_after(refusal)
            answered = float(refusal["at"]) + latency
            allowed = answered + hold
            for later in entries[i + 1 :]:
                at = float(later["at"])
                if at >= allowed - TOLERANCE_SECONDS:
                    found.after_hold.append(at - allowed)
                    break
                if at <= answered + IN_FLIGHT_SECONDS:
                    in_flight.add(id(later))
                    continue
                early[id(later)] = max(early.get(id(later), 0.0), allowed - at)
                if any(at >= h - TOLERANCE_SECONDS for h in holds):
                    extended.add(id(later))
            holds.append(allowed)
    found.early = sorted(early.values(), reverse=True)
    found.early_after_extension = len(extended)
    found.in_flight = len(in_flight - early.keys())
    return found


@dataclass
class Throttled:
    """One run: the audit as measured, and the pacing of its requests."""

    audit: Audit
    pacing: Pacing

    @property
    def refusals(self) -> int:
        return self.pacing.refusals

    def reads(self) -> dict[str, int]:
        """Reads each subscription's bucket paid for: its GETs that were not refused."""
        return dict(
            Counter(
                sub
                for r in self.audit.requests
                if r["method"] == "GET" and r["status"] != 429 and (sub := subscription_of(r["path"]))
            )
        )

    def spans(self) -> list[str]:
        """For each fleet subscription, in the order it was first read: when its resources were read and
        when it was refused, in seconds since the run's first request (the listings left out)."""
        first = min(float(r["at"]) for r in self.audit.requests)
        reads: dict[str, list[float]] = defaultdict(list)
        refused: dict[str, list[float]] = defaultdict(list)
        for r in self.audit.requests:
            sub = subscription_of(r["path"])
            if sub is None or r["path"].lower().endswith("/cloudhsmclusters"):
                continue
            (refused if r["status"] == 429 else reads)[sub].append(float(r["at"]) - first)
        ordered = sorted((times for times in reads.items() if len(times[1]) > 10), key=lambda t: min(t[1]))
        return [
            f"{min(times):.1f}–{max(times):.1f} s"
            + (f" (429s {min(refused[sub]):.1f}–{max(refused[sub]):.1f} s)" if refused[sub] else "")
            for sub, times in ordered
        ]


def floors(reads: dict[str, int]) -> tuple[float, float]:
    """Least time the bucket allows for these reads: subscriptions read side by side (the slowest one's
    reads beyond its budget, at the refill rate), and subscriptions read one after another (the sum)."""
    beyond = [max(0, n - READ_BUDGET) / READ_REFILL for n in reads.values()]
    return max(beyond, default=0.0), sum(beyond)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each configuration (3)")
    parser.add_argument("--no-write", action="store_true", help="do not refresh bench/RESULTS.md")
    args = parser.parse_args()
    where = machine()
    print(f"machine: {where}")
    runs: dict[str, list[Throttled]] = {name: [] for name in CONFIGURATIONS}
    latency = LATENCY_MS / 1000

    with (
        tempfile.TemporaryDirectory(prefix="chsm-bench-") as tmp,
        cached_bytecode() as cached,
        ExitStack() as sandboxes,
    ):
        env = {**cached, "PYTHONUNBUFFERED": "1"}
        served = {
            name: sandboxes.enter_context(
                sandbox(
                    Path(tmp) / f"sandbox-{name}",
                    (*fleet_options(CLUSTERS, LATENCY_MS), *options),
                    cached,
                    who="throttling",
                )
            )
            for name, (_, options) in CONFIGURATIONS.items()
        }
        fleets = {name: Fleet.read(s.url) for name, s in served.items()}
        workdir = Path(tmp) / "run"
        workdir.mkdir()
        loads = [load_average()]
        print(
            f"{CLUSTERS} clusters over {SUBSCRIPTIONS} subscriptions, {LATENCY_MS} ms, concurrency "
            f"{CONCURRENCY}; load average {loads[0]}; one untimed warm-up run, then {args.repeat} "
            "interleaved runs of each configuration"
        )
        run_audit(served["unthrottled"], LATENCY_MS, CONCURRENCY, workdir, env, fleets["unthrottled"])
        for name in rotations(list(CONFIGURATIONS), args.repeat):
            if name == "throttled":
                # The bucket outlives a reset of the sandbox: let it fill, so every run starts alike.
                time.sleep(READ_BUDGET / READ_REFILL)
            audit = run_audit(served[name], LATENCY_MS, CONCURRENCY, workdir, env, fleets[name])
            done = Throttled(audit, pacing(audit.requests, latency))
            runs[name].append(done)
            print(f"  {CONFIGURATIONS[name][0]}: {_line(done)}", flush=True)
        loads.append(load_average())

    report = Report(runs, loads)
    print()
    print(report.text())
    if not args.no_write:
        write_section("throttling", report.markdown(where, args.repeat))
        print("written to bench/RESULTS.md")
    return 0 if report.met() else 1


def _line(run: Throttled) -> str:
    audit = run.audit
    outcomes = ", ".join(f"{n} {o}" for o, n in sorted(audit.outcomes.items()))
    pace = run.pacing
    paced = f"{len(pace.early)} early, {pace.in_flight} in flight"
    return (
        f"{ms(audit.run.wall)} wall, ARM reading {ms(audit.arm)}, {len(audit.requests)} requests of which "
        f"{run.refusals} 429; {paced}; {audit.evaluated} clusters: {outcomes}"
        + (f"; PROBLEMS: {'; '.join(audit.problems)}" if audit.problems else "")
    )


@dataclass
class Report:
    """Figures, targets and verdicts of one benchmark run."""

    runs: dict[str, list[Throttled]]
    loads: list[str]

    def median(self, name: str, value: str) -> float:
        return statistics.median(_value(run, value) for run in self.runs[name])

    def samples(self, name: str, value: str = "wall") -> Samples:
        return Samples(CONFIGURATIONS[name][0], [_value(run, value) for run in self.runs[name]])

    def pacing(self) -> Pacing:
        """The pacing of every throttled run, together."""
        paced = [run.pacing for run in self.runs["throttled"]]
        return Pacing(
            refusals=sum(p.refusals for p in paced),
            early=sorted((s for p in paced for s in p.early), reverse=True),
            early_after_extension=sum(p.early_after_extension for p in paced),
            in_flight=sum(p.in_flight for p in paced),
            after_hold=[s for p in paced for s in p.after_hold],
        )

    def verdicts(self) -> list[list[str]]:
        audits = {CONFIGURATIONS[name][0]: [run.audit for run in runs] for name, runs in self.runs.items()}
        rows = [outcomes_verdict("throttled and unthrottled", audits)]
        refusals = [run.refusals for run in self.runs["throttled"]]
        rows.append(
            [
                "429s served per throttled run",
                "some (the budget must bite)",
                f"**{statistics.median(refusals):.0f}** (runs: {', '.join(map(str, refusals))})",
                "met" if min(refusals) > 0 else "missed: the budget never ran out",
            ]
        )
        paced = self.pacing()
        measure = "requests to a subscription before its last 429's Retry-After had passed, all runs"
        target = f"none (tolerance {ms(TOLERANCE_SECONDS)}; in flight: {ms(IN_FLIGHT_SECONDS)})"
        early = paced.early
        measured = f"**{len(early)}**"
        if early:
            measured += (
                f", up to {ms(early[0])} too soon (median {ms(statistics.median(early))}); "
                f"{paced.early_after_extension} of them had waited out an earlier 429's hold, not "
                "the later one answered while they waited"
            )
        measured += f"; {paced.in_flight} in flight"
        if paced.after_hold:
            measured += (
                f"; the first request after a hold came a median "
                f"{ms(statistics.median(paced.after_hold))} after it ended"
            )
        rows.append([measure, target, measured, "met" if not early else f"missed: {len(early)} early"])
        for what, value in (("whole command", "wall"), ("ARM reading phase", "arm")):
            throttled, unthrottled = self.median("throttled", value), self.median("unthrottled", value)
            rows.append(
                [
                    f"slowdown, {what}: throttled / unthrottled",
                    "tracked",
                    f"**{throttled / unthrottled:.2f}×** ({ms(throttled)} / {ms(unthrottled)})",
                    "—",
                ]
            )
        return rows

    def met(self) -> bool:
        return all(row[-1] in ("met", "—") for row in self.verdicts())

    def figures(self) -> tuple[list[str], list[list[str]]]:
        header = [
            "configuration",
            "wall (median, range)",
            "ARM reading (median, range)",
            "ARM requests",
            "429s",
            "least ARM time the budget allows: subscriptions together / in turn",
            "reads per subscription",
            "each fleet subscription read (refused), since the first request; first run",
        ]
        rows = []
        for name, runs in self.runs.items():
            first = runs[0]
            together, in_turn = floors(first.reads())
            throttled = name == "throttled"
            rows.append(
                [
                    CONFIGURATIONS[name][0],
                    f"{ms(self.median(name, 'wall'))} ({self.samples(name).spread()})",
                    f"{ms(self.median(name, 'arm'))} ({self.samples(name, 'arm').spread()})",
                    f"{self.median(name, 'requests'):.0f}",
                    f"{self.median(name, '429'):.0f}",
                    f"{ms(together)} / {ms(in_turn)}" if throttled else "—",
                    ", ".join(str(n) for n in first.reads().values()),
                    "; ".join(first.spans()),
                ]
            )
        return header, rows

    def notes(self) -> list[str]:
        reads = self.runs["throttled"][0].reads()
        together, in_turn = floors(reads)
        arm = self.median("throttled", "arm")
        unthrottled = self.median("unthrottled", "requests") * LATENCY_MS / 1000 / CONCURRENCY
        return [
            f"Budget {READ_BUDGET} reads per subscription, {READ_REFILL:g} back each second; the bucket "
            f"is full when each throttled run starts (the script waits {READ_BUDGET / READ_REFILL:g} s "
            "first, untimed: the sandbox's reset does not refill it).",
            f"Least ARM time the budget allows: each subscription's reads beyond its {READ_BUDGET} "
            f"tokens come at {READ_REFILL:g} per second, so {ms(together)} if the subscriptions are "
            f"read side by side, {ms(in_turn)} if one after another. The throttled ARM reading took "
            f"{ms(arm)}: {arm / together:.1f}× the first, {arm / in_turn:.1f}× the second. Unthrottled, "
            f"the latency-bound ideal is {ms(unthrottled)}.",
            "Each fleet subscription read: from the first to the last arrival of a request for one of "
            "its resources (its cluster listing left out), and of the 429s it got. Spans one after "
            "another mean the audit drains one subscription's bucket at a time.",
            f"Retry-After, from the sandbox's request log (`at`: when a request arrived, before the "
            f"sandbox's {LATENCY_MS} ms; `retry_after`: the header a 429 carried). A 429 that arrived at "
            f"`a` was answered no earlier than `t = a + {LATENCY_MS} ms`; with `Retry-After: R`, no "
            "request to its subscription may arrive before `t + R`. Early: arrived more than "
            f"{ms(TOLERANCE_SECONDS)} before that. In flight, not early: arrived within "
            f"{ms(IN_FLIGHT_SECONDS)} after `t`, sent before the client could have read the 429 "
            f"({CONCURRENCY} threads share the GIL and the machine's cores with the sandbox). Since `t` "
            "is the earliest the 429 could have left and `at` the latest a request could have been "
            "sent, an early request is early by at least the figure shown.",
            f"Load average (1, 5, 15 min) {self.loads[0]} before, {self.loads[-1]} after.",
        ]

    def text(self) -> str:
        header, rows = self.figures()
        lines = [" | ".join(header), *("  " + " | ".join(row) for row in rows), ""]
        lines += self.notes()
        lines += ["", "targets:"]
        lines += ["  " + " | ".join(cell.replace("**", "") for cell in row) for row in self.verdicts()]
        return "\n".join(lines)

    def markdown(self, where: str, repeat: int) -> str:
        return (
            "## Throttling (`bench/throttling.py`)\n\n"
            f"{where}\n\n"
            f"A sandbox fleet of {CLUSTERS} clusters (plus the 2 seeded ones) over {SUBSCRIPTIONS} "
            f"subscriptions, `--latency-ms {LATENCY_MS}`, concurrency {CONCURRENCY}, with and without a "
            f"read budget; the whole `chsm-checks run --mode live --no-html`, {repeat} interleaved runs "
            "of each after one warm-up.\n\n"
            + table(["measure", "target", "measured", "verdict"], self.verdicts())
            + "\n\n"
            + table(*self.figures())
            + "\n\n"
            + "\n".join(f"- {note}" for note in self.notes())
        )


def _value(run: Throttled, value: str) -> float:
    if value == "wall":
        return run.audit.run.wall
    if value == "arm":
        return run.audit.arm
    if value == "requests":
        return len(run.audit.requests)
    if value == "429":
        return run.refusals
    raise ValueError(value)


if __name__ == "__main__":
    sys.exit(main())
