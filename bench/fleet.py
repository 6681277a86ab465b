"""Fleet scaling: a fleet audit of 50, 200 and 1,000 sandbox clusters over 4 subscriptions, 25 ms per ARM
answer, at the default concurrency; against the latency-bound ideal, against concurrency 1, and across N.

Run by hand from the checkout: ``.venv/bin/python bench/fleet.py [--repeat N]``. Starts one sandbox per
fleet size and latency on a free loopback port, with its state, the target files and the reports in a
temporary directory; nothing is written to the checkout except ``bench/RESULTS.md``.

Each run is the whole ``chsm-checks run --mode live --target <fleet target> --reports <tmp> --no-html``
command. The ideal is ``requests × latency ÷ concurrency``: the ARM requests the sandbox served for the
run, each answered after the latency, ``concurrency`` at a time, with nothing else costing anything.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import pstats
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from measure import (
    REPO,
    Samples,
    Sandbox,
    Streamed,
    cached_bytecode,
    load_average,
    machine,
    mb,
    ms,
    rotations,
    run_streamed,
    sandbox,
    table,
    write_section,
)

from chsm_checks.target import FleetSettings

FLEET_TARGET = REPO / "targets" / "sandbox-fleet.toml"
SIZES = (50, 200, 1000)
SUBSCRIPTIONS = 4
MISCONFIGURED = 0.1
LATENCY_MS = 25
CONCURRENCY = int(FleetSettings.model_fields["concurrency"].default)  # the library's default (16)
# Concurrency 1 at 1,000 clusters is left out: about 5,000 requests one after another at 25 ms is over
# two minutes a run, before pytest and the reports.
SERIAL_SIZES = (50, 200)
# The sandbox's seeded world (chsm-source, chsm-dest) sits beside the fleet; the target maps their
# backup resources, and both are compliant.
SEEDED = frozenset({"chsm-source", "chsm-dest"})

WITHIN_IDEAL = 2.0  # wall time at most this many times the ideal
SERIAL_SPEEDUP = 10.0  # concurrency 1 at least this many times slower, at SERIAL_TARGET_SIZE clusters
SERIAL_TARGET_SIZE = 200
LINEAR_BAND = 0.25  # per-cluster figures within ±25% of their mean over the sizes
PEAK_RSS_BYTES = 400e6  # at the largest size

# chsm-checks run's own lines (pytest's landmarks are not printed): discovery begins, the plan once
# collected, the verdict once pytest is done; the reports and the seal follow.
MARKERS = {
    "collecting": re.compile(r"(?m)^fleet: listing "),
    "collected": re.compile(r"(?m)^chsm-checks: .* run of .*: \d+ scenarios?$"),
    "summary": re.compile(r"(?m)^chsm-checks: (?:LIVE|REPLAY) .*: \d+ passed"),
}
# (label, from landmark, to landmark) in the command's output; "spawn" and "exit" are its start and end.
PHASES = (
    ("start-up: interpreter, CLI, pytest, plugins", "spawn", "collecting"),
    ("collection, with discovery (every subscription listed)", "collecting", "collected"),
    ("the tests: judging, steps, evidence, Allure results", "collected", "summary"),
    ("after pytest: summary, matrix, OSCAL, seal", "summary", "exit"),
)

# What the profiled run spends in: (label, file, function, "ct" cumulative or "tt" own time).
_AUDIT, _RUN, _STORE, _REPORTS = (
    "chsm_checks/fleet/audit.py",
    "chsm_checks/fleet/run.py",
    "chsm_checks/evidence/store.py",
    "chsm_checks/reports/",
)
PROFILE_BUCKETS = (
    ("discovery (`FleetAudit.discover`)", _AUDIT, "discover", "ct"),
    ("the tests waiting for their clusters' reads (`FleetRun.result`)", _RUN, "result", "ct"),
    ("each cluster's evidence (`FleetRun.evidence`)", _RUN, "evidence", "ct"),
    ("  of which scrubbing exchanges (`exchange_record`)", _STORE, "exchange_record", "ct"),
    ("writing evidence JSON (`add_json`)", _STORE, "add_json", "ct"),
    (
        "pytest-bdd data tables (`render_datatable`: deepcopy)",
        "pytest_bdd/parser.py",
        "render_datatable",
        "ct",
    ),
    ("pytest-bdd step lookup (`get_step_function`)", "pytest_bdd/scenario.py", "get_step_function", "ct"),
    ("Allure results (`write_test_case`)", "allure_commons/lifecycle.py", "write_test_case", "ct"),
    ("reports (`build_reports`)", _REPORTS + "build.py", "build_reports", "ct"),
    ("  OSCAL (`write_assessment_results`)", _REPORTS + "oscal.py", "write_assessment_results", "ct"),
    ("  OSCAL schema validation (`validate_file`)", _REPORTS + "oscal_schema.py", "validate_file", "ct"),
    ("  summary.json (`write_summary`)", "chsm_checks/lifecycle/summary.py", "write_summary", "ct"),
    (
        "summary.json signing amended, its scenarios copied (`record_signing`)",
        "chsm_checks/lifecycle/finish.py",
        "record_signing",
        "ct",
    ),
    ("seal: manifest and signature (`sign`)", "chsm_checks/evidence/bundle.py", "sign", "ct"),
    (
        "JSON encoding with `indent` (pure-Python encoder; all callers)",
        "json/encoder.py",
        "_iterencode",
        "ct",
    ),
)


@dataclass(frozen=True)
class Config:
    """One way of running the audit: fleet size, concurrency, sandbox latency."""

    clusters: int
    concurrency: int
    latency_ms: int

    @property
    def label(self) -> str:
        return f"{self.clusters} clusters, concurrency {self.concurrency}, {self.latency_ms} ms"


@dataclass(frozen=True)
class Fleet:
    """The truth about a sandbox's fleet (``/_sandbox/fleet``): its clusters, those given a fault."""

    clusters: frozenset[str]  # names, lower case; the fleet's own, without the seeded two
    faulty: frozenset[str]
    subscriptions: tuple[str, ...] = ()  # the fleet's, without the seeded one

    @classmethod
    def read(cls, url: str, verify: str | bool = True) -> Fleet:
        view = httpx.get(f"{url}/_sandbox/fleet", timeout=60, verify=verify).raise_for_status().json()
        return cls(
            frozenset(_name(cluster_id) for cluster_id in view["clusters"]),
            frozenset(_name(cluster_id) for cluster_id in view["faults"]),
            tuple(view["subscriptions"]),
        )


def _name(resource_id: str) -> str:
    return resource_id.rstrip("/").rsplit("/", 1)[-1].lower()


def judge_outcomes(scenarios: Sequence[dict[str, Any]], fleet: Fleet) -> list[str]:
    """What is wrong with a run's outcomes: a cluster not evaluated (or twice), a misconfigured cluster
    that did not fail, a compliant one that did not pass. Empty when all is right."""
    expected = fleet.clusters | SEEDED
    seen = Counter(_name(s["nodeid"].removesuffix("]")) for s in scenarios)
    problems = []
    if missing := expected - seen.keys():
        problems.append(f"{len(missing)} cluster(s) not evaluated, e.g. {_some(missing)}")
    if extra := seen.keys() - expected:
        problems.append(f"{len(extra)} unexpected test(s), e.g. {_some(extra)}")
    if twice := {name for name, count in seen.items() if count > 1}:
        problems.append(f"{len(twice)} cluster(s) evaluated more than once, e.g. {_some(twice)}")
    wrong: Counter[str] = Counter()
    example: dict[str, str] = {}
    for scenario in scenarios:
        name = _name(scenario["nodeid"].removesuffix("]"))
        want = "failed" if name in fleet.faulty else "passed"
        if name in expected and scenario["outcome"] != want:
            key = f"{'misconfigured' if want == 'failed' else 'compliant'} cluster(s) {scenario['outcome']}"
            wrong[key] += 1
            example.setdefault(key, f"{name}: {scenario.get('message', '')[:120]}")
    problems += [f"{count} {key}, e.g. {example[key]}" for key, count in wrong.items()]
    return problems


def outcomes_verdict(what: str, audits: dict[str, list[Audit]]) -> list[str]:
    """The verdict row on every run's outcomes, ``audits`` by the label of their configuration: each
    cluster evaluated once, the misconfigured ones failed, the others passed, none an error."""
    problems = [
        f"{label}, run {number}: {problem}"
        for label, runs in audits.items()
        for number, audit in enumerate(runs, start=1)
        for problem in audit.problems
    ]
    errors = sum(audit.outcomes.get("error", 0) for runs in audits.values() for audit in runs)
    return [
        f"{what}: every cluster evaluated once, misconfigured ones failed, the others passed, none an error",
        "no exception",
        "; ".join(problems) or f"as expected in all {sum(map(len, audits.values()))} runs",
        "met" if not problems and not errors else "missed",
    ]


def _some(names: Iterable[str]) -> str:
    return ", ".join(sorted(names)[:3])


def fleet_target_file(
    path: Path, url: str, concurrency: int, reader: str = "arm", ca_file: str | None = None
) -> Path:
    """``targets/sandbox-fleet.toml`` with its ``arm_endpoint`` on ``url`` (trusting ``ca_file`` over
    HTTPS), ``concurrency`` and ``reader`` set (this benchmark's targets are the ARM reader's)."""
    text = FLEET_TARGET.read_text(encoding="utf-8")
    endpoint = f'arm_endpoint = "{url}"' + (f'\narm_ca_file = "{ca_file}"' if ca_file else "")
    text, endpoints = re.subn(r'(?m)^arm_endpoint = "[^"]*"$', endpoint, text)
    text, concurrencies = re.subn(
        r"(?m)^concurrency = \d+$", f'concurrency = {concurrency}\nreader = "{reader}"', text
    )
    if endpoints != 1 or concurrencies != 1:
        raise SystemExit(f"{FLEET_TARGET}: expected one 'arm_endpoint = ' and one 'concurrency = ' line")
    path.write_text(text, encoding="utf-8")
    return path


@dataclass
class Audit:
    """One fleet audit as measured: the command, what the sandbox served, what the summary says."""

    run: Streamed
    latency: float  # seconds the sandbox waits before each answer
    sandbox_cpu: float  # CPU seconds the sandbox spent during the run
    requests: list[dict[str, Any]]  # the sandbox's request log of the run
    outcomes: Counter[str]
    evaluated: int
    problems: list[str]
    fleet_summary: dict[str, Any]  # summary.json's "fleet" section, when the harness writes one

    def at(self, landmark: str) -> float | None:
        return {"spawn": 0.0, "exit": self.run.wall, **self.run.marks}.get(landmark)

    def phase(self, begin: str, end: str) -> float | None:
        start, stop = self.at(begin), self.at(end)
        return None if start is None or stop is None else stop - start

    @property
    def arm_window(self) -> tuple[float, float]:
        """When the run read ARM, in seconds from the command's start: from the first request's arrival
        at the sandbox to the moment the last one's answer could leave (its arrival plus the latency)."""
        if any("at" not in r for r in self.requests):
            raise SystemExit("fleet: the sandbox's request log gives no arrival time (`at`) per request")
        times = [float(r["at"]) for r in self.requests]
        start = self.run.started_epoch
        return min(times) - start, max(times) + self.latency - start

    @property
    def arm(self) -> float:
        """How long the run read ARM: discovery and judging, from the sandbox's request log."""
        begin, end = self.arm_window
        return end - begin

    @property
    def statuses(self) -> Counter[int]:
        return Counter(int(r["status"]) for r in self.requests)


def run_audit(
    sandbox: Sandbox,
    latency_ms: float,
    concurrency: int,
    workdir: Path,
    env: dict[str, str],
    fleet: Fleet,
    reader: str = "arm",
) -> Audit:
    """Reset the sandbox (its request log with it), run the whole audit command once, read what the
    sandbox served and what the run's summary says; the run's reports are deleted afterwards."""
    httpx.post(f"{sandbox.url}/_sandbox/reset", timeout=60, verify=sandbox.verify).raise_for_status()
    target = fleet_target_file(workdir / "target.toml", sandbox.url, concurrency, reader, sandbox.ca_file)
    reports = workdir / "reports"
    argv = [sys.executable, "-m", "chsm_checks", "run", "--mode", "live", "--target", str(target)]
    argv += ["--reports", str(reports), "--no-html"]
    try:
        cpu = sandbox.cpu_seconds()
        run = run_streamed(argv, cwd=REPO, env=env, markers=MARKERS)
        cpu = sandbox.cpu_seconds() - cpu
        # 1: findings (the misconfigured clusters); 3: something could not be evaluated (judged below).
        if run.code not in (0, 1, 3):
            raise SystemExit(f"fleet: chsm-checks run exited {run.code}:\n{run.output[-3000:]}")
        log = httpx.get(f"{sandbox.url}/_sandbox/requests", timeout=60, verify=sandbox.verify)
        requests = log.raise_for_status().json()
        (run_dir,) = (p for p in reports.iterdir() if p.is_dir() and not p.is_symlink())
        summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    finally:
        shutil.rmtree(reports, ignore_errors=True)
    scenarios = summary["scenarios"]
    return Audit(
        run,
        latency_ms / 1000,
        cpu,
        requests,
        Counter(s["outcome"] for s in scenarios),
        len(scenarios),
        judge_outcomes(scenarios, fleet),
        summary.get("fleet") or {},
    )


@dataclass
class Runs:
    """Every timed run of one configuration."""

    config: Config
    audits: list[Audit] = field(default_factory=list)

    def median(self, value: str) -> float:
        return statistics.median(_value(a, value) for a in self.audits)

    def samples(self, value: str = "wall") -> Samples:
        return Samples(self.config.label, [_value(a, value) for a in self.audits])

    @property
    def ideal(self) -> float:
        return self.median("requests") * self.config.latency_ms / 1000 / self.config.concurrency

    @property
    def clusters(self) -> int:
        """Clusters evaluated: the fleet and the two seeded ones."""
        return self.config.clusters + len(SEEDED)

    def problems(self) -> list[str]:
        found = []
        for number, audit in enumerate(self.audits, start=1):
            found += [f"{self.config.label}, run {number}: {p}" for p in audit.problems]
            if bad := {s: n for s, n in audit.statuses.items() if s != 200}:
                found.append(f"{self.config.label}, run {number}: statuses other than 200: {bad}")
        return found


def _value(audit: Audit, value: str) -> float:
    if value == "wall":
        return audit.run.wall
    if value == "arm":
        return audit.arm
    if value == "requests":
        return len(audit.requests)
    if value == "rss":
        return audit.run.max_rss_bytes
    if value == "cpu":
        return audit.run.cpu_seconds
    if value == "sandbox-cpu":
        return audit.sandbox_cpu
    if value == "arm-start":
        return audit.arm_window[0]
    if value == "arm-end":
        return audit.arm_window[1]
    if value == "judging":  # the harness's own figure, when summary.json has it
        seconds = audit.fleet_summary.get("judging_seconds")
        return float("nan") if seconds is None else float(seconds)
    begin, end = value.split("..")
    phase = audit.phase(begin, end)
    return float("nan") if phase is None else phase


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each configuration (3)")
    parser.add_argument("--no-profile", action="store_true", help="skip the profiled run at the largest size")
    parser.add_argument("--no-write", action="store_true", help="do not refresh bench/RESULTS.md")
    args = parser.parse_args()
    where = machine()
    print(f"machine: {where}")
    began = time.monotonic()
    configs = [
        *(Config(n, CONCURRENCY, LATENCY_MS) for n in SIZES),
        *(Config(n, CONCURRENCY, 0) for n in SIZES),
        *(Config(n, 1, LATENCY_MS) for n in SERIAL_SIZES),
    ]
    runs = {c: Runs(c) for c in configs}
    profile: dict[str, float | None] = {}

    with (
        tempfile.TemporaryDirectory(prefix="chsm-bench-") as tmp,
        cached_bytecode() as cached,
        ExitStack() as sandboxes,
    ):
        env = {**cached, "PYTHONUNBUFFERED": "1"}  # landmark lines arrive when printed
        served: dict[tuple[int, int], Sandbox] = {}
        for clusters, latency in sorted({(c.clusters, c.latency_ms) for c in configs}):
            state = Path(tmp) / f"sandbox-{clusters}-{latency}ms"
            options = fleet_options(clusters, latency)
            served[clusters, latency] = sandboxes.enter_context(sandbox(state, options, cached, who="fleet"))
        fleets = {key: Fleet.read(s.url) for key, s in served.items()}
        workdir = Path(tmp) / "run"
        workdir.mkdir()

        def audit(config: Config) -> Audit:
            key = (config.clusters, config.latency_ms)
            return run_audit(served[key], config.latency_ms, config.concurrency, workdir, env, fleets[key])

        loads = [load_average()]
        print(f"default concurrency {CONCURRENCY}; load average {loads[0]}")
        print(f"one untimed warm-up run, then {args.repeat} interleaved runs of each configuration")
        audit(configs[0])  # fills the file and bytecode caches
        for config in rotations(configs, args.repeat):
            done = audit(config)
            runs[config].audits.append(done)
            print(f"  {config.label}: {_line(done)}", flush=True)
        if not args.no_profile:
            largest = Config(SIZES[-1], CONCURRENCY, LATENCY_MS)
            print(f"\none more run of {largest.label} under cProfile ...", flush=True)
            profile = profiled(served[largest.clusters, largest.latency_ms].url, workdir, env)
        loads.append(load_average())

    report = Report(runs, profile, loads, (time.monotonic() - began) / 60)
    print()
    print(report.text())
    if not args.no_write:
        write_section("fleet", report.markdown(where, args.repeat))
        print("written to bench/RESULTS.md")
    return 0 if report.met() else 1


def profiled(url: str, workdir: Path, env: dict[str, str]) -> dict[str, float | None]:
    """One extra run under cProfile: seconds per PROFILE_BUCKETS entry, and the profiled total."""
    httpx.post(f"{url}/_sandbox/reset", timeout=60).raise_for_status()
    target = fleet_target_file(workdir / "target.toml", url, CONCURRENCY)
    out, reports = workdir / "fleet.prof", workdir / "reports"
    argv = [sys.executable, "-m", "cProfile", "-o", str(out), "-m", "chsm_checks", "run", "--mode", "live"]
    try:
        done = run_streamed(
            [*argv, "--target", str(target), "--reports", str(reports), "--no-html"],
            cwd=REPO,
            env=env,
            markers={},
        )
    finally:
        shutil.rmtree(reports, ignore_errors=True)
    if done.code not in (0, 1, 3) or not out.exists():
        raise SystemExit(f"fleet: the profiled run exited {done.code}:\n{done.output[-3000:]}")
    stats = pstats.Stats(str(out))
    found: dict[str, float | None] = {"total (profiled)": stats.total_tt}
    for label, file, function, column in PROFILE_BUCKETS:
        times = [
            (tt if column == "tt" else ct)
            for (path, _, name), (_, _, tt, ct, _) in stats.stats.items()
            if path.endswith(file) and name == function
        ]
        found[label] = sum(times) if times else None
    return found


def _line(audit: Audit) -> str:
    outcomes = ", ".join(f"{n} {o}" for o, n in sorted(audit.outcomes.items()))
    return (
        f"{ms(audit.run.wall)} wall, ARM reading {ms(audit.arm)}, {len(audit.requests)} requests, "
        f"peak RSS {mb(audit.run.max_rss_bytes)}; {audit.evaluated} clusters: {outcomes}"
        + (f"; PROBLEMS: {'; '.join(audit.problems)}" if audit.problems else "")
    )


def _within(values: Sequence[float], band: float) -> tuple[bool, float]:
    """Whether every value is within ±band of their mean, and the largest deviation found."""
    mean = statistics.fmean(values)
    worst = max(abs(v / mean - 1) for v in values)
    return worst <= band, worst


def fleet_options(clusters: int, latency_ms: int, subscriptions: int = SUBSCRIPTIONS) -> tuple[str, ...]:
    """``sandbox serve`` options for a fleet of ``clusters`` over ``subscriptions``, MISCONFIGURED of
    them with a fault, each ARM answer ``latency_ms`` late."""
    return (
        *("--fleet-clusters", str(clusters), "--fleet-subscriptions", str(subscriptions)),
        *("--fleet-misconfigured", str(MISCONFIGURED), "--latency-ms", str(latency_ms)),
    )


@dataclass
class Report:
    """The figures, targets and verdicts of one benchmark run."""

    runs: dict[Config, Runs]
    profile: dict[str, float | None]
    loads: list[str]  # the load average before and after
    minutes: float  # how long the whole benchmark took

    def at(self, clusters: int, concurrency: int = CONCURRENCY, latency_ms: int = LATENCY_MS) -> Runs:
        return self.runs[Config(clusters, concurrency, latency_ms)]

    # -- targets ------------------------------------------------------------------------------

    def verdicts(self) -> list[tuple[str, str, str, str]]:
        """(measure, target, measured, verdict) for each target."""
        rows = []
        for n in SIZES:
            r = self.at(n)
            for what, value in (("whole command", r.median("wall")), ("ARM reading phase", r.median("arm"))):
                ratio = value / r.ideal
                rows.append(
                    (
                        f"{n} clusters: {what} / ideal ({ms(r.ideal)})",
                        f"≤ {WITHIN_IDEAL:g}×",
                        f"**{ratio:.2f}×** ({ms(value)})",
                        _at_most(ratio, WITHIN_IDEAL),
                    )
                )
        for n in SERIAL_SIZES:
            serial, concurrent = self.at(n, 1), self.at(n)
            aimed = n == SERIAL_TARGET_SIZE
            for what, value in (("whole command", "wall"), ("ARM reading phase", "arm")):
                ratio = serial.median(value) / concurrent.median(value)
                rows.append(
                    (
                        f"{n} clusters: concurrency 1 / {CONCURRENCY}, {what}",
                        f"≥ {SERIAL_SPEEDUP:g}×" if aimed else "tracked",
                        f"**{ratio:.2f}×** ({ms(serial.median(value))} / {ms(concurrent.median(value))})",
                        _at_least(ratio, SERIAL_SPEEDUP) if aimed else "—",
                    )
                )
        for what, labels, values, unit in self.linearity():
            ok, worst = _within(values, LINEAR_BAND)
            shown = ", ".join(f"{label}: {unit(v)}" for label, v in zip(labels, values, strict=True))
            rows.append(
                (
                    what,
                    f"within ±{LINEAR_BAND:.0%} of their mean",
                    f"{shown} (largest deviation {worst:.0%})",
                    "met" if ok else f"missed by {worst - LINEAR_BAND:.0%} points",
                )
            )
        peak = self.at(SIZES[-1]).median("rss")
        over = f"missed by {mb(peak - PEAK_RSS_BYTES)} ({peak / PEAK_RSS_BYTES - 1:.0%} over)"
        rows.append(
            (
                f"peak RSS of chsm-checks, {SIZES[-1]} clusters",
                f"< {mb(PEAK_RSS_BYTES)}",
                f"**{mb(peak)}**",
                "met" if peak < PEAK_RSS_BYTES else over,
            )
        )
        problems = [p for r in self.runs.values() for p in r.problems()]
        count = sum(len(r.audits) for r in self.runs.values())
        rows.append(
            (
                "every run: each cluster evaluated once, misconfigured ones failed, the others passed",
                "no exception",
                "; ".join(problems) if problems else f"as expected in all {count} runs",
                "missed" if problems else "met",
            )
        )
        return rows

    def linearity(self) -> list[tuple[str, list[str], list[float], Callable[[float], str]]]:
        """(what, labels, values, format): per-cluster figures at each size (clusters evaluated, the
        seeded two included), and the wall time each cluster added from one size to the next, which
        leaves out the fixed cost of starting."""
        sized = [self.at(n) for n in SIZES]
        sizes = [str(n) for n in SIZES]
        steps = [f"{a}→{b}" for a, b in itertools.pairwise(SIZES)]
        marginal = [
            (b.median("wall") - a.median("wall")) / (b.clusters - a.clusters)
            for a, b in itertools.pairwise(sized)
        ]
        return [
            (
                "ARM requests per cluster",
                sizes,
                [r.median("requests") / r.clusters for r in sized],
                "{:.2f}".format,
            ),
            ("wall seconds per cluster", sizes, [r.median("wall") / r.clusters for r in sized], ms),
            ("ARM reading seconds per cluster", sizes, [r.median("arm") / r.clusters for r in sized], ms),
            ("wall seconds per added cluster", steps, marginal, ms),
        ]

    def met(self) -> bool:
        return all(verdict in ("met", "—") for *_, verdict in self.verdicts())

    # -- tables -------------------------------------------------------------------------------

    def figures(self) -> tuple[list[str], list[list[str]]]:
        header = [
            "configuration",
            "ARM requests (statuses)",
            "ideal",
            "wall (median, range)",
            "wall / ideal",
            "ARM reading",
            "ARM reading / ideal",
            "CPU: chsm-checks / sandbox",
            "peak RSS",
        ]
        rows = []
        for r in self.runs.values():
            statuses = Counter[int]()
            for audit in r.audits:
                statuses.update(audit.statuses)
            shown = ", ".join(f"{s}: {n // len(r.audits)}" for s, n in sorted(statuses.items()))
            ideal = r.ideal
            rows.append(
                [
                    r.config.label,
                    f"{r.median('requests'):.0f} ({shown})",
                    ms(ideal) if ideal else "—",
                    f"{ms(r.median('wall'))} ({r.samples().spread()})",
                    f"{r.median('wall') / ideal:.2f}×" if ideal else "—",
                    ms(r.median("arm")),
                    f"{r.median('arm') / ideal:.2f}×" if ideal else "—",
                    f"{r.median('cpu'):.1f} s / {r.median('sandbox-cpu'):.1f} s",
                    mb(r.median("rss")),
                ]
            )
        return header, rows

    def split(self) -> tuple[list[str], list[list[str]]]:
        """Where the whole command's time goes at each size, at 25 ms and at 0 ms."""
        columns = [self.at(n, latency_ms=latency) for n in SIZES for latency in (LATENCY_MS, 0)]
        header = ["phase", *(f"{r.config.clusters} clusters, {r.config.latency_ms} ms" for r in columns)]
        rows = [[label, *(ms(r.median(f"{b}..{e}")) for r in columns)] for label, b, e in PHASES]
        rows.append(["wall", *(ms(r.median("wall")) for r in columns)])
        rows.append(
            [
                "ARM reading, from the sandbox's log: duration (from → to, since the start)",
                *(
                    f"{ms(r.median('arm'))} ({_s(r.median('arm-start'))} → {_s(r.median('arm-end'))})"
                    for r in columns
                ),
            ]
        )
        judging = [r.median("judging") for r in columns]
        if not any(math.isnan(j) for j in judging):
            rows.append(["judging, as summary.json's `fleet.judging_seconds` says", *map(ms, judging)])
        rows.append(["resident memory when pytest ends", *(mb(_rss_until(r, "summary")) for r in columns)])
        rows.append(["peak RSS (ru_maxrss)", *(mb(r.median("rss")) for r in columns)])
        return header, rows

    def latency_share(self) -> list[str]:
        """What the latency costs, seen against the same audit at 0 ms."""
        lines = []
        for n in SIZES:
            slow, fast = self.at(n), self.at(n, latency_ms=0)
            lines.append(
                f"{n} clusters, 0 ms → {LATENCY_MS} ms per answer: the whole command "
                f"{_moves(fast.median('wall'), slow.median('wall'))}, the ARM reading "
                f"{_moves(fast.median('arm'), slow.median('arm'))}; the ideal is {ms(slow.ideal)}. At 0 ms "
                f"the ARM reading costs only CPU (chsm-checks and the sandbox share {_cores()}): "
                f"{fast.median('arm') / slow.median('arm'):.0%} of it at {LATENCY_MS} ms."
            )
        return lines

    def profile_rows(self) -> list[list[str]]:
        total = self.profile.get("total (profiled)") or 0.0
        return [
            [label, "—" if s is None else ms(s), "—" if not s or not total else f"{s / total:.0%}"]
            for label, s in self.profile.items()
        ]

    # -- output -------------------------------------------------------------------------------

    def text(self) -> str:
        parts = []
        for header, rows in (self.figures(), self.split()):
            parts.append(" | ".join(header))
            parts += ["  " + " | ".join(row) for row in rows]
            parts.append("")
        parts += self.latency_share()
        if self.profile:
            parts += ["", "under cProfile (shares):"]
            parts += ["  " + " | ".join(row) for row in self.profile_rows()]
        parts += ["", f"load average {self.loads[0]} before, {self.loads[-1]} after; {self.minutes:.1f} min"]
        parts += ["", "targets:"]
        parts += ["  " + " | ".join(cell.replace("**", "") for cell in row) for row in self.verdicts()]
        return "\n".join(parts)

    def markdown(self, where: str, repeat: int) -> str:
        figures, split = self.figures(), self.split()
        text = (
            "## Fleet scaling (`bench/fleet.py`)\n\n"
            f"{where}\n\n"
            f"Sandbox fleets of {', '.join(str(n) for n in SIZES)} clusters (plus the 2 seeded ones) over "
            f"{SUBSCRIPTIONS} subscriptions, {MISCONFIGURED:.0%} misconfigured, `--latency-ms {LATENCY_MS}` "
            f"(and 0 for the split). Each run is the whole `chsm-checks run --mode live --no-html`; "
            f"{repeat} interleaved runs per configuration after one warm-up. Ideal = ARM requests × "
            f"latency ÷ concurrency. The benchmark took {self.minutes:.0f} min. Load average (1, 5, 15 "
            f"min) {self.loads[0]} before, {self.loads[-1]} after: the machine is shared, and the "
            "ranges show how much other work moved single runs.\n\n"
            + table(["measure", "target", "measured", "verdict"], [list(r) for r in self.verdicts()])
            + "\n\n"
            + table(*figures)
            + "\n\nWhere the whole command's time goes (medians; landmarks in its output):\n\n"
            + table(*split)
            + "\n\n"
            + "\n".join(f"- {line}" for line in self.latency_share())
            + f"\n- concurrency 1 at {SIZES[-1]} clusters is not run: about "
            f"{self.at(SIZES[-1]).median('requests'):.0f} requests one after another at {LATENCY_MS} ms "
            "is over two minutes a run."
        )
        if self.profile:
            text += (
                f"\n\nOne more run at {SIZES[-1]} clusters under cProfile (profiling slows Python code "
                "several-fold: read these as shares; time blocked waiting on the readers is real):\n\n"
                + table(["where", "seconds (profiled)", "share"], self.profile_rows())
            )
        return text


def _moves(before: float, after: float) -> str:
    return f"{ms(before)} → {ms(after)} ({(after - before) * 1000:+.0f} ms)"


def _s(seconds: float) -> str:
    return f"{seconds:.1f} s"


def _cores() -> str:
    return f"{os.cpu_count()} cores"


def _rss_until(runs: Runs, landmark: str) -> float:
    """Median of the highest resident memory sampled up to ``landmark`` in each run."""
    values = []
    for audit in runs.audits:
        until = audit.at(landmark)
        if until is not None:
            values.append(audit.run.rss_between(0.0, until))
    return statistics.median(values) if values else 0.0


def _at_most(ratio: float, target: float) -> str:
    return "met" if ratio <= target else f"missed by {ratio - target:.2f}× ({ratio / target - 1:.0%} over)"


def _at_least(ratio: float, target: float) -> str:
    return "met" if ratio >= target else f"missed by {target - ratio:.2f}× ({1 - ratio / target:.0%} short)"


if __name__ == "__main__":
    sys.exit(main())
