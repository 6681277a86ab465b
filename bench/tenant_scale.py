"""A tenant's scale: fleet audits of 1,000 and 10,000 sandbox clusters over 50 subscriptions, under ARM's read
throttling and Resource Graph's quota (as ``bench/resource_graph.py``), 25 ms per answer, with the default
reader (``"resource-graph"``); the sandbox's two seeded clusters are among them. Targets at 10,000: peak RSS
under 1 GB, the whole command within 2× its reader's ideal, and per-cluster time and memory growing linearly
from 1,000 (within ±25%).

Run by hand from the checkout: ``.venv/bin/python bench/tenant_scale.py [--sizes 1000,10000]``. Starts one
sandbox per size on a free loopback port, with its state, the target file and the reports in a temporary
directory; nothing is written to the checkout except ``bench/RESULTS.md``. One run per size (a 10,000-cluster
run takes a quarter of an hour here), after a warm-up of the smallest.

Resident memory is sampled every 20 ms and split at the run's own landmarks: when the reads end (the
verdict of the last cluster, summary.json's judging span), when pytest is done (the verdict line) and at
the end (the reports and the seal).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from fleet import CONCURRENCY, SEEDED, Fleet, fleet_options, outcomes_verdict, run_audit
from measure import cached_bytecode, load_average, machine, mb, ms, sandbox, table, write_section
from resource_graph import GRAPH_QUOTA, GRAPH_WINDOW, LATENCY_MS, READ_BUDGET, READ_REFILL, Read

SIZES = (1000, 10000)
SUBSCRIPTIONS = 50
READER = "resource-graph"
PEAK_RSS_BYTES = 1e9
WITHIN_IDEAL = 2.0
LINEAR_BAND = 0.25


@dataclass
class Scale:
    """One size's run and its figures."""

    clusters: int  # the fleet's and the two seeded ones, as evaluated
    read: Read

    @property
    def wall(self) -> float:
        return self.read.audit.run.wall

    @property
    def peak(self) -> float:
        return float(self.read.audit.run.max_rss_bytes)

    def rss_until(self, seconds: float | None) -> float:
        """The highest resident memory sampled up to ``seconds`` after the command started."""
        samples = self.read.audit.run.rss
        if seconds is None or not samples:
            return float("nan")
        return float(max((b for t, b in samples if t <= seconds), default=0))

    @property
    def judging_end(self) -> float | None:
        """When the last cluster's reads and verdict were done, in seconds from the start."""
        audit = self.read.audit
        judging, planned = audit.fleet_summary.get("judging_seconds"), audit.at("collected")
        return None if judging is None or planned is None else planned + float(judging)

    def figures(self) -> list[str]:
        audit = self.read.audit
        return [
            f"{self.clusters:,}",
            ms(self.wall),
            f"{self.wall / self.clusters * 1000:.1f} ms",
            f"{ms(self.read.ideal)} ({self.wall / self.read.ideal:.2f}×)",
            ms(float(audit.fleet_summary.get("judging_seconds") or float("nan"))),
            f"{self.read.arm_reads:,} / {self.read.queries:,}",
            mb(self.rss_until(audit.at("collected"))),
            mb(self.rss_until(self.judging_end)),
            mb(self.rss_until(audit.at("summary"))),
            mb(self.peak),
            f"{(self.peak / self.clusters) / 1e3:.0f} kB",
            f"{audit.run.cpu_seconds:.0f} s / {audit.sandbox_cpu:.0f} s",
        ]


HEADER = [
    "clusters",
    "whole command",
    "per cluster",
    "ideal (whole / ideal)",
    "judging",
    "ARM reads / queries",
    "RSS after discovery",
    "RSS when the reads end",
    "RSS when pytest is done",
    "peak RSS (reports, seal)",
    "peak per cluster",
    "CPU: chsm-checks / sandbox",
]


def verdicts(scales: list[Scale]) -> list[list[str]]:
    largest, smallest = scales[-1], scales[0]
    rows = [outcomes_verdict("every size", {f"{s.clusters:,}": [s.read.audit] for s in scales})]
    rows.append(
        [
            f"peak RSS at {largest.clusters:,} clusters",
            f"< {mb(PEAK_RSS_BYTES)}",
            f"**{mb(largest.peak)}**",
            "met" if largest.peak < PEAK_RSS_BYTES else "missed",
        ]
    )
    ratio = largest.wall / largest.read.ideal
    rows.append(
        [
            f"whole command / ideal at {largest.clusters:,} clusters",
            f"≤ {WITHIN_IDEAL:g}×",
            f"**{ratio:.2f}×** ({ms(largest.wall)} / {ms(largest.read.ideal)})",
            "met" if ratio <= WITHIN_IDEAL else "missed",
        ]
    )
    for what, per in (
        ("time per cluster", lambda s: s.wall / s.clusters),
        ("peak RSS per cluster", lambda s: s.peak / s.clusters),
    ):
        growth = per(largest) / per(smallest)
        rows.append(
            [
                f"{what}, {largest.clusters:,} against {smallest.clusters:,} (linear)",
                f"within ±{LINEAR_BAND:.0%}",
                f"**{growth:.2f}×**",
                "met" if abs(growth - 1) <= LINEAR_BAND else "missed",
            ]
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="fleet sizes (1000,10000)")
    parser.add_argument("--no-write", action="store_true", help="do not refresh bench/RESULTS.md")
    args = parser.parse_args()
    sizes = [int(n) for n in args.sizes.split(",")]
    where = machine()
    print(f"machine: {where}")
    loads = [load_average()]
    limits: tuple[str, ...] = ("--read-budget", str(READ_BUDGET), "--read-refill", f"{READ_REFILL:g}")
    limits += ("--graph-quota", str(GRAPH_QUOTA), "--graph-window", f"{GRAPH_WINDOW:g}")
    scales: list[Scale] = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="chsm-bench-") as tmp, cached_bytecode() as cached:
        env = {**cached, "PYTHONUNBUFFERED": "1"}
        for number, size in enumerate(sizes):
            # The sandbox's two seeded clusters are among the ``size``: it generates at most 9,999.
            options = (*fleet_options(size - len(SEEDED), LATENCY_MS, SUBSCRIPTIONS), *limits)
            with sandbox(Path(tmp) / f"sandbox-{size}", options, cached, who="tenant-scale") as served:
                fleet = Fleet.read(served.url)
                workdir = Path(tmp) / f"run-{size}"
                workdir.mkdir()
                if number == 0:  # warm-up: the file and bytecode caches
                    run_audit(served, LATENCY_MS, CONCURRENCY, workdir, env, fleet, READER)
                time.sleep(max(READ_BUDGET / READ_REFILL, GRAPH_WINDOW))  # a fresh tenant's bucket
                read = Read(READER, run_audit(served, LATENCY_MS, CONCURRENCY, workdir, env, fleet, READER))
                scale = Scale(read.audit.evaluated, read)
                scales.append(scale)
                print("  " + " · ".join(f"{h}: {v}" for h, v in zip(HEADER, scale.figures(), strict=True)))
                if read.audit.problems:
                    print(f"  PROBLEMS: {'; '.join(read.audit.problems)}")
    loads.append(load_average())
    rows = verdicts(scales)
    for row in rows:
        print(f"{row[0]}: {row[2]} (target {row[1]}) — {row[3]}")
    if not args.no_write:
        write_section(
            "tenant-scale",
            "\n".join(
                [
                    "## A tenant's scale (`bench/tenant_scale.py`)",
                    "",
                    f"Machine: {where}. Load average before and after: {loads[0]} → {loads[-1]}. "
                    f"The benchmark took {(time.monotonic() - started) / 60:.0f} min.",
                    f"Sandbox fleets over {SUBSCRIPTIONS} subscriptions, {LATENCY_MS} ms per answer, "
                    f"concurrency {CONCURRENCY}, reader `{READER}`; ARM's read bucket {READ_BUDGET} per "
                    f"subscription refilled at {READ_REFILL:g}/s, Resource Graph's quota {GRAPH_QUOTA} "
                    f"per {GRAPH_WINDOW:g} s; one run per size after a warm-up. The ideal is the reader's "
                    "(`bench/resource_graph.py`): the longest of its latency, throttling and quota floors.",
                    "",
                    table(HEADER, [s.figures() for s in scales]),
                    "",
                    table(["measure", "target", "measured", "verdict"], rows),
                ]
            ),
        )
        print("written to bench/RESULTS.md")
    return 0 if all(row[-1] == "met" for row in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
