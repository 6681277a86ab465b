"""Replay overhead: the recorded suite through ``chsm-checks run`` versus bare pytest-bdd running the same
feature files with steps that do nothing. Target: ``chsm-checks run --no-html`` at most 4× the bare
run; the Allure HTML build is measured apart, as the time it adds after the verdict.

Run by hand from the checkout: ``.venv/bin/python bench/replay_overhead.py [--repeat N]``. Reports go
to a temporary directory; nothing is written to the checkout except ``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import json
import pstats
import re
import runpy
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from measure import (
    REPO,
    Samples,
    cached_bytecode,
    machine,
    ms,
    rotations,
    table,
    timed,
    write_section,
)

TARGET = 4.0
SCENARIOS = REPO / "steps" / "features.py"
# The bare run's last line, pytest's, e.g. "44 passed in 0.08s".
SUMMARY = re.compile(r"(\d+) passed.* in ([\d.]+)s")
# chsm-checks run's own lines (pytest's landmarks are not printed): the plan once collected, each
# scenario's line, the verdict once pytest is done; the reports and the seal follow.
LANDMARKS = (
    ("planned", re.compile(r"^chsm-checks: .* run of .*: \d+ scenarios?$")),
    ("first", re.compile(r"^\[\s*1/\d+\] ")),
    ("last", re.compile(r"^\[(\d+)/\1\] ")),
    ("verdict", re.compile(r"^chsm-checks: (?:REPLAY|LIVE) .*: (\d+) passed")),
)
POINTS = ["spawn", "planned", "first", "last", "verdict", "exit"]

BARE_CONFTEST = '''"""Catch-all steps: every Given, When and Then matches and does nothing."""

from pytest_bdd import given, parsers, then, when

ANY_STEP = parsers.re(r".*")


@given(ANY_STEP)
def any_given():
    pass


@when(ANY_STEP)
def any_when():
    pass


@then(ANY_STEP)
def any_then():
    pass
'''
BARE_TESTS = '''"""The feature files of steps/features.py, bound in the same order, one call each."""

from pytest_bdd import scenarios

for _feature in {features!r}:
    scenarios(_feature)
'''


@dataclass
class Run:
    """One timed run: its wall time, when its landmark lines appeared, the scenarios that passed."""

    wall: float
    marks: dict[str, float]
    passed: int


@dataclass
class Side:
    """One command under comparison and its runs."""

    label: str
    argv: list[str]
    cwd: Path
    env: dict[str, str]
    runs: list[Run] = field(default_factory=list)

    def samples(self, measure: str = "wall") -> Samples:
        values = [_phase(run, measure) for run in self.runs]
        return Samples(self.label, [v for v in values if v is not None])


def _phase(run: Run, measure: str) -> float | None:
    """A run's wall time, or the time from one landmark line to a later one."""
    if measure == "wall":
        return run.wall
    begin, end = measure.split("..")
    times = {"spawn": 0.0, "exit": run.wall, **run.marks}
    if begin in times and end in times and POINTS.index(begin) < POINTS.index(end):
        return times[end] - times[begin]
    return None


def features_in_order() -> list[str]:
    """The feature files in the order steps/features.py gives them (a module of plain tuples)."""
    return list(runpy.run_path(str(SCENARIOS))["FEATURES_IN_ORDER"])


def build_bare(directory: Path, features: list[str]) -> None:
    """A pytest-bdd project with the checkout's features, no-op steps and the tags as markers."""
    shutil.copytree(REPO / "features", directory / "features")
    tags = sorted(
        {
            word[1:]
            for path in (directory / "features").glob("*.feature")
            for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip().startswith("@")
            for word in line.split()
        }
    )
    ini = "[pytest]\nbdd_features_base_dir = features\nmarkers =\n" + "".join(f"    {t}\n" for t in tags)
    (directory / "pytest.ini").write_text(ini, encoding="utf-8")
    (directory / "conftest.py").write_text(BARE_CONFTEST, encoding="utf-8")
    (directory / "test_features.py").write_text(BARE_TESTS.format(features=features), encoding="utf-8")


def run_marked(side: Side) -> Run:
    """Run a side once, noting when its landmark lines came (chsm-checks run's own, or none for the
    bare run, which prints only pytest's last line)."""
    marks: dict[str, float] = {}
    lines: list[str] = []
    start = time.perf_counter()
    with subprocess.Popen(
        side.argv,
        cwd=side.cwd,
        env=side.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            now = time.perf_counter() - start
            lines.append(line)
            for name, pattern in LANDMARKS:
                if name not in marks and pattern.search(line.rstrip("\n")):
                    marks[name] = now
        code = process.wait()
    wall = time.perf_counter() - start
    tallies = (p.search(line) for line in reversed(lines) for p in (SUMMARY, LANDMARKS[3][1]))
    passed = next((int(m[1]) for m in tallies if m), None)
    if passed is None or code != 0:
        tail = "".join(lines[-20:])
        raise SystemExit(f"replay_overhead: {side.label} exited {code}:\n{tail}")
    return Run(wall, marks, passed)


def slowest_scenarios(reports: Path, count: int = 5) -> list[tuple[float, str]]:
    """The slowest scenarios of the last chsm-checks run, by summary.json's own durations."""
    entries = json.loads((reports / "latest" / "summary.json").read_text(encoding="utf-8"))["scenarios"]
    timed_entries = [(float(e.get("duration_seconds") or 0.0), str(e["name"])) for e in entries]
    return sorted(timed_entries, reverse=True)[:count]


# What one profiled run spends in, by function: (label, file the function is in, function, "ct"
# for its cumulative time or "tt" for its own). A function the code no longer has shows as "—".
PROFILE_BUCKETS = (
    ("imports (every `import`, cumulative)", "importlib._bootstrap>", "_find_and_load", "ct"),
    ("pytest collection", "_pytest/main.py", "perform_collect", "ct"),
    ("pytest run loop (every scenario)", "_pytest/main.py", "pytest_runtestloop", "ct"),
    ("  waiting on the replayed HSM sessions (select)", "~", "<built-in method select.select>", "tt"),
    ("  forking the replayed HSM sessions", "chsm_checks/hsm/forked.py", "_fork", "ct"),
    (
        "  the scenario whose recorded utility hung (replayed on the virtual clock)",
        "chsm_checks/hsm/drill.py",
        "find_keys_within",
        "ct",
    ),
    ("  sleeping in ptyprocess close (delayafterclose)", "ptyprocess/ptyprocess.py", "close", "ct"),
    ("  YAML parsing (yaml.safe_load)", "yaml/__init__.py", "safe_load", "ct"),
    ("reports: matrix, OSCAL, Allure HTML", "chsm_checks/reports/build.py", "build_reports", "ct"),
    ("  of which OSCAL schema validation", "chsm_checks/reports/oscal_schema.py", "validate_file", "ct"),
    ("seal: manifest and signature", "chsm_checks/evidence/bundle.py", "sign", "ct"),
)


def profile(side: Side, out: Path) -> dict[str, float | None]:
    """One extra run under cProfile: seconds per PROFILE_BUCKETS entry, and the profiled total."""
    argv = [side.argv[0], "-m", "cProfile", "-o", str(out), *side.argv[1:]]
    timed(argv, cwd=side.cwd, env=side.env)
    stats = pstats.Stats(str(out))
    found: dict[str, float | None] = {"total (profiled)": stats.total_tt}
    entries = stats.stats
    for label, file, function, column in PROFILE_BUCKETS:
        times = [
            (tt if column == "tt" else ct)
            for (path, _, name), (_, _, tt, ct, _) in entries.items()
            if path.endswith(file) and name == function
        ]
        found[label] = sum(times) if times else None
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of each side (5)")
    parser.add_argument("--no-write", action="store_true", help="do not refresh bench/RESULTS.md")
    args = parser.parse_args()
    where = machine()
    print(f"machine: {where}")
    features = features_in_order()

    with tempfile.TemporaryDirectory(prefix="chsm-bench-") as tmp, cached_bytecode() as cached:
        bare_dir, reports = Path(tmp) / "bare", Path(tmp) / "reports"
        bare_dir.mkdir()
        build_bare(bare_dir, features)
        # Unbuffered, so the landmark lines arrive when printed; the same for every side.
        env = {**cached, "PYTHONUNBUFFERED": "1"}
        chsm = [sys.executable, "-m", "chsm_checks", "run", "--reports", str(reports)]
        sides = {
            "bare": Side(
                "bare pytest-bdd, no-op steps",
                [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "pytest_bdd.plugin"],
                bare_dir,
                # Only pytest-bdd: not the chsm-checks or allure plugins this environment also holds.
                {**env, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
            ),
            "chsm": Side("chsm-checks run --no-html", [*chsm, "--no-html"], REPO, env),
        }
        if shutil.which("allure"):
            sides["html"] = Side("chsm-checks run (Allure HTML)", chsm, REPO, env)
        else:
            print("allure is not on PATH: the run with the HTML report is not measured")

        for side in sides.values():  # fill the file cache and the bytecode cache, untimed
            run_marked(side)
        for name in rotations(list(sides), args.repeat):
            run = run_marked(sides[name])
            sides[name].runs.append(run)
            print(f"  {sides[name].label}: {ms(run.wall)} ({run.passed} passed)", flush=True)
        counts = {side.runs[0].passed for side in sides.values()}
        if len(counts) != 1:
            raise SystemExit(f"replay_overhead: the sides ran different numbers of scenarios: {counts}")

        bare = sides["bare"].samples()
        results = []
        print(f"\nwall time, {args.repeat} interleaved runs each ({counts.pop()} scenarios):")
        print(f"  {bare.line()}")
        measured = sides["chsm"].samples()
        ratio = measured.median / bare.median
        results.append((measured, ratio))
        print(f"  {measured.line()}")
        print(f"  ratio {measured.label} / bare: {ratio:.2f}× (target ≤ {TARGET}×): {_verdict(ratio)}")
        if "html" in sides:
            print(f"  {sides['html'].samples().line()} (the Allure HTML build measured apart: no target)")

        phases = _phases(sides)
        print("\nwhere the time goes (medians):")
        for row in phases:
            print("  " + " | ".join(row))
        run_marked(sides["chsm"])  # its summary.json names the slowest scenarios
        slowest = slowest_scenarios(reports)
        notes = ["slowest scenarios of chsm-checks run: " + ", ".join(f"`{n}` {ms(t)}" for t, n in slowest)]
        profiles = {name: profile(sides[name], Path(tmp) / f"{name}.prof") for name in ("bare", "chsm")}
        profiled = [
            [label, *(ms(v) if v is not None else "—" for v in (profiles[n][label] for n in profiles))]
            for label in profiles["chsm"]
        ]
        notes.append(_why(sides, profiles["chsm"]))
        print("\none run of each under cProfile:")
        for row in profiled:
            print("  " + " | ".join(row))
        for note in notes:
            print(f"  {note}")

    if not args.no_write:
        rows = [
            [
                f"`{m.label}` / bare pytest-bdd",
                f"≤ {TARGET}×",
                f"**{r:.2f}×** ({ms(m.median)} / {ms(bare.median)})",
                _verdict(r),
            ]
            for m, r in results
        ]
        timing = [bare.line()] + [side.samples().line() for name, side in sides.items() if name != "bare"]
        write_section(
            "replay",
            "## Replay overhead (`bench/replay_overhead.py`)\n\n"
            + f"{where}\n\n"
            + table(["measure", "target", "measured", "verdict"], rows)
            + "\n\n"
            + "\n".join(f"- {line}" for line in timing)
            + "\n\nWhere the time goes (medians of the timed runs):\n\n"
            + table(["phase", *(s.label for s in sides.values())], phases[1:])
            + "\n\nOne run of each under cProfile (profiling slows Python code several-fold: read "
            + "these as shares; time blocked in select and sleep is real):\n\n"
            # Markdown drops leading spaces: mark the nested rows instead.
            + table(
                ["function", sides["bare"].label, sides["chsm"].label],
                [[re.sub(r"^  ", "↳ ", label), *cells] for label, *cells in profiled],
            )
            + "\n\n"
            + "\n".join(f"- {note}" for note in notes),
        )
        print("written to bench/RESULTS.md")
    return 0 if all(r <= TARGET for _, r in results) else 1


def _verdict(ratio: float) -> str:
    if ratio <= TARGET:
        return "met"
    return f"missed by {ratio - TARGET:.2f}× ({ratio / TARGET - 1:.0%} over)"


def _phases(sides: dict[str, Side]) -> list[list[str]]:
    """Median time per phase, one column per side; '—' where a side prints no landmark for it."""
    labels = [
        ("spawn..planned", "start-up and collection: interpreter, CLI, pytest, plugins, feature files"),
        ("planned..first", "the first scenario"),
        ("first..last", "the other scenarios"),
        ("last..verdict", "pytest's session end: JUnit, Cucumber, summary.json"),
        ("verdict..exit", "after the verdict: matrix, OSCAL (validated), Allure HTML if built, seal"),
        ("wall", "wall"),
    ]
    rows = [["phase", *(s.label for s in sides.values())]]
    for measure, label in labels:
        cells = []
        for side in sides.values():
            samples = side.samples(measure)
            cells.append(ms(samples.median) if len(samples.seconds) == len(side.runs) else "—")
        rows.append([label, *cells])
    return rows


def _why(sides: dict[str, Side], profiled: dict[str, float | None]) -> str:
    """Where chsm-checks run's extra time over the bare run goes: real medians per phase, then the
    profile's attribution."""
    chsm, bare = sides["chsm"], sides["bare"]

    def median(side: Side, measure: str) -> float:
        return side.samples(measure).median

    def seconds(label: str) -> float:
        return next((v for k, v in profiled.items() if k.strip().startswith(label) and v), 0.0)

    extra = median(chsm, "wall") - median(bare, "wall")
    text = (
        f"why: chsm-checks run --no-html takes {ms(extra)} more than the bare run "
        f"({ms(median(bare, 'wall'))}, all of it start-up, collection and pytest). "
        f"Start-up and collection take {ms(median(chsm, 'spawn..planned'))} "
        f"({ms(seconds('imports'))} of imports over the whole profiled run); "
        f"the scenarios {ms(median(chsm, 'planned..last'))}, of which the profile puts "
        f"{ms(seconds('waiting'))} blocked on the replayed HSM sessions and "
        f"{ms(seconds('forking'))} forking them "
        f"(the scenario whose recorded utility hung: {ms(seconds('the scenario'))}); "
        f"the session's end {ms(median(chsm, 'last..verdict'))}; "
        f"after the verdict {ms(median(chsm, 'verdict..exit'))} "
        f"(reports {ms(seconds('reports'))} profiled, of which OSCAL schema validation "
        f"{ms(seconds('of which OSCAL'))}; the seal {ms(seconds('seal'))})."
    )
    if "html" in sides:
        html = median(sides["html"], "verdict..exit") - median(chsm, "verdict..exit")
        text += (
            f" The Allure HTML report, measured apart, adds {ms(html)} after the verdict "
            "(the Allure 3 command line)."
        )
    return text


if __name__ == "__main__":
    sys.exit(main())
