"""Readers under a tenant's limits: a fleet audit of 1,000 sandbox clusters over 10 subscriptions, with
ARM's documented read throttling (a bucket of 250 reads per subscription, refilled at 25/s) and Resource
Graph's default quota (15 queries per 5 s), 25 ms per answer, read with ``reader = "arm"`` and with
``reader = "resource-graph"``; each against the ideal its own reads allow.

Run by hand from the checkout: ``.venv/bin/python bench/resource_graph.py [--repeat N]``. Starts one
sandbox on a free loopback port, with its state, the target files and the reports in a temporary
directory; nothing is written to the checkout except ``bench/RESULTS.md``.

A reader's ideal is the longest of three floors, each from the sandbox's request log of the run:
latency (every request answered 25 ms late, ``concurrency`` at a time), throttling (the busiest
subscription's reads beyond its bucket, at the refill rate: subscriptions drain side by side) and
Resource Graph's quota (a window waited out for every 15 queries after the first 15). Nothing else
costs anything in the ideal: not pytest, not the reports.
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from fleet import CONCURRENCY, Audit, Fleet, fleet_options, outcomes_verdict, run_audit
from measure import (
    Samples,
    cached_bytecode,
    load_average,
    machine,
    mb,
    ms,
    rotations,
    sandbox,
    table,
    write_section,
)
from throttling import subscription_of

CLUSTERS = 1000
SUBSCRIPTIONS = 10
LATENCY_MS = 25
READ_BUDGET = 250  # ARM's documented read bucket per subscription
READ_REFILL = 25.0  # tokens back each second
GRAPH_QUOTA = 15  # Resource Graph's default: queries per caller per window
GRAPH_WINDOW = 5.0  # seconds
READERS = ("arm", "resource-graph")
WITHIN_IDEAL = 2.0  # the whole command at most this many times its reader's ideal


@dataclass
class Read:
    """One run of a reader: the audit as measured, and its floors from the request log."""

    reader: str
    audit: Audit

    @property
    def requests(self) -> list[dict[str, object]]:
        return self.audit.requests

    def gets_by_subscription(self) -> Counter[str]:
        """The reads each subscription's bucket paid for: its GETs that were not refused."""
        return Counter(
            sub
            for r in self.requests
            if r["method"] == "GET" and r["status"] != 429 and (sub := subscription_of(str(r["path"])))
        )

    @property
    def queries(self) -> int:
        return sum(1 for r in self.requests if r["method"] == "POST" and r["status"] != 429)

    @property
    def refused(self) -> int:
        return sum(1 for r in self.requests if r["status"] == 429)

    @property
    def arm_reads(self) -> int:
        return sum(1 for r in self.requests if r["method"] == "GET" and r["status"] != 429)

    def floors(self) -> dict[str, float]:
        served = sum(1 for r in self.requests if r["status"] != 429)
        beyond = [max(0, n - READ_BUDGET) / READ_REFILL for n in self.gets_by_subscription().values()]
        return {
            "latency": served * LATENCY_MS / 1000 / CONCURRENCY,
            "throttling": max(beyond, default=0.0),
            "quota": max(0, math.ceil(self.queries / GRAPH_QUOTA) - 1) * GRAPH_WINDOW,
        }

    @property
    def ideal(self) -> float:
        return max(self.floors().values())


@dataclass
class Report:
    runs: dict[str, list[Read]] = field(default_factory=lambda: {r: [] for r in READERS})
    loads: list[str] = field(default_factory=list)

    def median(self, reader: str, value: str) -> float:
        return statistics.median(_value(run, value) for run in self.runs[reader])

    def verdicts(self) -> list[list[str]]:
        audits = {f"`{reader}`": [run.audit for run in runs] for reader, runs in self.runs.items()}
        rows = [outcomes_verdict("both readers (so both give the same verdicts)", audits)]
        for reader in READERS:
            wall, ideal = self.median(reader, "wall"), self.median(reader, "ideal")
            ratio = wall / ideal
            floors = {
                k: statistics.median(r.floors()[k] for r in self.runs[reader])
                for k in ("latency", "throttling", "quota")
            }
            bound = max(floors, key=lambda k: floors[k])
            rows.append(
                [
                    f"`{reader}`: whole command / its ideal ({bound}-bound)",
                    f"≤ {WITHIN_IDEAL:g}×",
                    f"**{ratio:.2f}×** ({ms(wall)} / {ms(ideal)}; floors: "
                    + ", ".join(f"{k} {ms(v)}" for k, v in floors.items())
                    + ")",
                    "met" if ratio <= WITHIN_IDEAL else "missed",
                ]
            )
        arm, graph = self.median("arm", "wall"), self.median("resource-graph", "wall")
        rows.append(
            [
                "`arm` / `resource-graph`, whole command",
                "tracked",
                f"**{arm / graph:.2f}×** ({ms(arm)} / {ms(graph)})",
                "—",
            ]
        )
        return rows

    def figures(self) -> list[list[str]]:
        rows = []
        for what, value, fmt in (
            ("whole command", "wall", ms),
            ("ARM reads (GETs served)", "arm-reads", lambda v: f"{v:,.0f}"),
            ("ARM reads per cluster", "reads-per-cluster", lambda v: f"{v:.2f}"),
            ("Resource Graph queries", "queries", lambda v: f"{v:,.0f}"),
            ("429s served (ARM and Resource Graph)", "refused", lambda v: f"{v:,.0f}"),
            ("busiest subscription's reads", "busiest", lambda v: f"{v:,.0f}"),
            ("peak RSS of the chsm-checks process", "rss", mb),
            ("CPU seconds of the chsm-checks process", "cpu", lambda v: f"{v:.1f} s"),
            ("CPU seconds of the sandbox", "sandbox-cpu", lambda v: f"{v:.1f} s"),
            ("judging: first read to last verdict (summary.json `fleet.judging_seconds`)", "judging", ms),
            ("the rest: start-up, discovery, each cluster's test after its reads, reports", "rest", ms),
        ):
            rows.append([what, *(fmt(self.median(reader, value)) for reader in READERS)])
        return rows

    def met(self) -> bool:
        return all(row[-1] in ("met", "—") for row in self.verdicts())

    def text(self) -> str:
        lines = [f"{'figure':<44} {'arm':>14} {'resource-graph':>16}"]
        lines += [f"{row[0]:<44} {row[1]:>14} {row[2]:>16}" for row in self.figures()]
        lines.append("")
        lines += [f"{row[0]}: {row[2]} (target {row[1]}) — {row[3]}" for row in self.verdicts()]
        for reader in READERS:
            lines.append(Samples(reader, [run.audit.run.wall for run in self.runs[reader]]).line())
        return "\n".join(lines)

    def markdown(self, where: str, repeat: int) -> str:
        return "\n".join(
            [
                "## Readers under a tenant's limits (`bench/resource_graph.py`)",
                "",
                f"Machine: {where}. Load average before and after: {self.loads[0]} → {self.loads[-1]}.",
                f"{CLUSTERS:,} clusters over {SUBSCRIPTIONS} subscriptions, {LATENCY_MS} ms per answer, "
                f"concurrency {CONCURRENCY}; ARM's read bucket {READ_BUDGET} per subscription refilled "
                f"at {READ_REFILL:g}/s, Resource Graph's quota {GRAPH_QUOTA} per {GRAPH_WINDOW:g} s; "
                f"one untimed warm-up run, then {repeat} interleaved runs of each reader (medians).",
                "",
                table(["figure", "`arm`", "`resource-graph`"], self.figures()),
                "",
                table(["measure", "target", "measured", "verdict"], self.verdicts()),
            ]
        )


def _value(run: Read, value: str) -> float:
    if value == "ideal":
        return run.ideal
    if value == "arm-reads":
        return run.arm_reads
    if value == "reads-per-cluster":
        return run.arm_reads / max(run.audit.evaluated, 1)
    if value == "queries":
        return run.queries
    if value == "refused":
        return run.refused
    if value == "busiest":
        return max(run.gets_by_subscription().values(), default=0)
    if value == "rss":
        return run.audit.run.max_rss_bytes
    if value == "cpu":
        return run.audit.run.cpu_seconds
    if value == "sandbox-cpu":
        return run.audit.sandbox_cpu
    judging = run.audit.fleet_summary.get("judging_seconds")
    if value == "judging":
        return float("nan") if judging is None else float(judging)
    if value == "rest":
        return float("nan") if judging is None else run.audit.run.wall - float(judging)
    return run.audit.run.wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2, help="timed runs of each reader (2)")
    parser.add_argument("--no-write", action="store_true", help="do not refresh bench/RESULTS.md")
    args = parser.parse_args()
    where = machine()
    print(f"machine: {where}")
    report = Report()
    limits: tuple[str, ...] = ("--read-budget", str(READ_BUDGET), "--read-refill", f"{READ_REFILL:g}")
    limits += ("--graph-quota", str(GRAPH_QUOTA), "--graph-window", f"{GRAPH_WINDOW:g}")
    with tempfile.TemporaryDirectory(prefix="chsm-bench-") as tmp, cached_bytecode() as cached:
        env = {**cached, "PYTHONUNBUFFERED": "1"}
        options = (*fleet_options(CLUSTERS, LATENCY_MS, SUBSCRIPTIONS), *limits)
        with sandbox(Path(tmp) / "sandbox", options, cached, who="resource-graph") as served:
            fleet = Fleet.read(served.url)
            workdir = Path(tmp) / "run"
            workdir.mkdir()
            report.loads.append(load_average())
            print(f"{CLUSTERS} clusters over {SUBSCRIPTIONS} subscriptions; load average {report.loads[0]}")

            def audit(reader: str) -> Read:
                # The bucket and the quota window outlive a reset of the sandbox: let both fill, so
                # every run starts as a fresh tenant would.
                time.sleep(max(READ_BUDGET / READ_REFILL, GRAPH_WINDOW))
                return Read(reader, run_audit(served, LATENCY_MS, CONCURRENCY, workdir, env, fleet, reader))

            audit("resource-graph")  # warm-up: the file and bytecode caches
            for reader in rotations(list(READERS), args.repeat):
                done = audit(reader)
                report.runs[reader].append(done)
                floors = ", ".join(f"{k} {ms(v)}" for k, v in done.floors().items())
                print(
                    f"  {reader}: {ms(done.audit.run.wall)} wall, ideal {ms(done.ideal)} ({floors}), "
                    f"{done.arm_reads} ARM reads, {done.queries} queries, {done.refused} 429s, "
                    f"peak RSS {mb(done.audit.run.max_rss_bytes)}"
                    + (f"; PROBLEMS: {'; '.join(done.audit.problems)}" if done.audit.problems else ""),
                    flush=True,
                )
            report.loads.append(load_average())
    print()
    print(report.text())
    if not args.no_write:
        write_section("resource-graph", report.markdown(where, args.repeat))
        print("written to bench/RESULTS.md")
    return 0 if report.met() else 1


if __name__ == "__main__":
    raise SystemExit(main())
