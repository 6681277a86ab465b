"""A fleet audit's progress, for the person watching: discovery, then a live count of the clusters read
and judged out of the total with an estimate of the time left.

The progress goes to the terminal only (stderr), never into the evidence: no file of the run
directory holds it. At a terminal it is one status line redrawn in place and cleared before each
scenario's line; anywhere else it is plain lines, one per tenth of the fleet (or half a minute) and
a last one when every cluster is judged.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest

from chsm_checks.fleet.progress import (
    Cadence,
    Counts,
    Discovery,
    WorkerProgress,
    discovery_line,
    duration,
    judging_line,
    worker_counts,
)
from tests.support.processes import ROOT, Sandbox, child_environment, run_cli, sandbox_process
from tests.test_fleet_audit import fleet_target

CLUSTERS, SUBSCRIPTIONS = 40, 3
COUNT = re.compile(r"^fleet: (\d+)/(\d+) clusters read and judged")
DISCOVERED = re.compile(
    r"^fleet: (\d+) clusters discovered in (\d+) subscriptions?( through Resource Graph \(\d+ pages?\))? in "
)


@pytest.fixture(scope="module")
def slow_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """A fleet whose reads take long enough (20 ms each, two readers) for progress to be seen."""
    state = tmp_path_factory.mktemp("progress") / "state"
    args = ("--fleet-clusters", str(CLUSTERS), "--fleet-subscriptions", str(SUBSCRIPTIONS))
    with sandbox_process(state, *args, "--fleet-misconfigured", "0.25", "--latency-ms", "20") as sandbox:
        yield sandbox


def _audit(
    tmp_path: Path, sandbox: Sandbox, *extra: str, reader: str = "resource-graph"
) -> tuple[str, str, Path]:
    target = fleet_target(tmp_path, concurrency="2", reader=f'"{reader}"')
    reports = tmp_path / "reports"
    result = run_cli(
        "run", "--mode", "live", "--target", str(target), *sandbox.addressed,
        "--reports", str(reports), "--no-html", *extra,
    )  # fmt: skip
    assert result.returncode == 1, result.output  # the sandbox's misconfigured clusters fail
    return result.stdout, result.stderr, (reports / "latest").resolve()


def _counts(stderr: str) -> list[tuple[int, int]]:
    return [(int(m[1]), int(m[2])) for line in stderr.splitlines() if (m := COUNT.match(line))]


def _assert_nowhere_in(run_dir: Path, *texts: str) -> None:
    files = [path for path in run_dir.rglob("*") if path.is_file()]
    assert len(files) > CLUSTERS  # the evidence of every cluster is there to be searched
    for path in files:
        data = path.read_bytes()
        for text in texts:
            assert text.encode() not in data, f"{path}: holds the progress text {text!r}"


def _assert_counts_up_to_the_total(stderr: str) -> int:
    discovered = [DISCOVERED.match(line) for line in stderr.splitlines()]
    found = [m for m in discovered if m]
    assert len(found) == 1, stderr
    total = int(found[0][1])
    assert total == CLUSTERS + 2, stderr  # the fleet and the sandbox's two seeded clusters
    counts = _counts(stderr)
    assert counts, stderr
    assert all(of == total for _, of in counts), stderr
    judged = [done for done, _ in counts]
    assert judged == sorted(judged), stderr
    assert judged[-1] == total, stderr
    last = rf"^fleet: {total}/{total} clusters read and judged in [\d.]+ s · \d+ ARM reads"
    assert re.search(last, stderr, re.M), stderr
    return total


@pytest.mark.parametrize("reader", ["arm", "resource-graph"])
def test_a_fleet_audit_says_its_discovery_and_counts_the_clusters_judged_with_an_estimate(
    tmp_path: Path, slow_fleet: Sandbox, reader: str
) -> None:
    stdout, stderr, run_dir = _audit(tmp_path, slow_fleet, reader=reader)

    listing = r"^fleet: listing Cloud HSM clusters in every subscription the identity lists$"
    assert re.search(listing, stderr, re.M), stderr
    (found,) = [m for line in stderr.splitlines() if (m := DISCOVERED.match(line))]
    assert bool(found[3]) == (reader == "resource-graph"), stderr  # one query, its pages said
    total = _assert_counts_up_to_the_total(stderr)
    before_the_end = [line for line in stderr.splitlines() if COUNT.match(line) and f" {total}/" not in line]
    assert before_the_end, stderr  # the count moved while the clusters were read
    assert any(re.search(r"about [\d.]+ (s|min)", line) and line.endswith("left") for line in before_the_end)
    # The progress is the terminal's: not the scenario lines' stream, and nowhere in the evidence.
    assert "clusters read and judged" not in stdout
    _assert_nowhere_in(run_dir, "clusters read and judged", "clusters discovered", "s left")


def test_under_two_workers_the_count_adds_up_both_workers_clusters(
    tmp_path: Path, slow_fleet: Sandbox
) -> None:
    _, stderr, run_dir = _audit(tmp_path, slow_fleet, "-n", "2")

    total = _assert_counts_up_to_the_total(stderr)
    assert [done for done, _ in _counts(stderr)][:-1], stderr  # counted while the workers read
    assert len(json.loads((run_dir / "summary.json").read_text())["scenarios"]) == total
    _assert_nowhere_in(run_dir, "clusters read and judged")


def test_at_a_terminal_the_count_is_one_line_redrawn_and_cleared_before_each_scenario_line(
    tmp_path: Path, slow_fleet: Sandbox
) -> None:
    target = fleet_target(tmp_path, concurrency="2")
    run = pexpect.spawn(
        sys.executable,
        ["-m", "chsm_checks", "run", "--mode", "live", "--target", str(target), *slow_fleet.addressed,
         "--reports", str(tmp_path / "reports"), "--no-html"],
        cwd=str(ROOT),
        env=child_environment() | {"COLUMNS": "120", "TERM": "xterm"},
        encoding="utf-8",
        timeout=240,
        dimensions=(40, 120),
    )  # fmt: skip
    run.expect(pexpect.EOF)
    run.close()
    said = (run.before or "").replace("\r\n", "\n")

    assert run.exitstatus == 1, said
    redrawn = re.findall(r"\rfleet: (\d+)/\d+ clusters read and judged[^\r\n]*\x1b\[K", said)
    assert len(redrawn) >= 2, said  # drawn in place, more than once
    # What a person sees of each line: what follows its last carriage return. A scenario's line
    # never shares its row with the status line, which never wraps past the terminal's width.
    seen = [line.rsplit("\r", 1)[-1].replace("\x1b[K", "") for line in said.split("\n")]
    assert not [line for line in seen if "clusters read and judged" in line and "] " in line], said
    for status in re.findall(r"\r(fleet: [^\r\n]*?)\x1b\[K", said):
        assert len(status) <= 119, status
    last = f"fleet: {CLUSTERS + 2}/{CLUSTERS + 2} clusters read and judged in "
    assert [line for line in seen if line.startswith(last)], said


def test_an_audit_stopped_while_judging_says_where_it_stopped(tmp_path: Path, slow_fleet: Sandbox) -> None:
    target = fleet_target(tmp_path, concurrency="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "chsm_checks", "run", "--mode", "live", "--target", str(target),
         *slow_fleet.addressed, "--reports", str(tmp_path / "reports"), "--no-html"],
        cwd=ROOT,
        env=child_environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert proc.stderr is not None
    said = []
    for line in proc.stderr:  # the first count, then the run is stopped as a scheduler stops it
        said.append(line)
        if COUNT.match(line):
            proc.send_signal(signal.SIGTERM)
            break
    _, rest = proc.communicate(timeout=120)
    said.append(rest)
    stderr = "".join(said)

    stopped = re.findall(
        r"^fleet: stopped at (\d+)/(\d+) clusters read and judged after .+ ARM reads$", stderr, re.M
    )
    assert len(stopped) == 1, stderr
    assert int(stopped[0][0]) < int(stopped[0][1]) == CLUSTERS + 2, stderr


def test_progress_off_says_none_of_it(tmp_path: Path, slow_fleet: Sandbox) -> None:
    _, stderr, _ = _audit(tmp_path, slow_fleet, "--progress", "off")

    assert "fleet: " not in stderr, stderr


# -- the lines, without a fleet --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "said"),
    [
        (0.4, "0.4 s"),
        (9.96, "10 s"),
        (42, "42 s"),
        (61, "1 min 1 s"),
        (3599, "59 min 59 s"),
        (3660, "1 h 1 min"),
    ],
)
def test_a_duration_reads_as_a_person_says_it(seconds: float, said: str) -> None:
    assert duration(seconds) == said


def test_the_judging_line_counts_reads_and_throttling_and_estimates_from_the_rate_so_far() -> None:
    line = judging_line(Counts(judged=250, reads=1_500, throttled=3), total=1_000, elapsed=10.0)

    assert line == (
        "fleet: 250/1,000 clusters read and judged · 1,500 ARM reads · throttled 3× · 10 s · about 30 s left"
    )


def test_the_judging_line_estimates_nothing_before_a_cluster_is_judged() -> None:
    line = judging_line(Counts(judged=0, reads=12), total=1_000, elapsed=3.0)

    assert line == "fleet: 0/1,000 clusters read and judged · 12 ARM reads · 3 s · estimating"


def test_the_last_judging_line_says_how_long_it_took() -> None:
    line = judging_line(Counts(judged=42, reads=300), total=42, elapsed=8.25, final=True)

    assert line == "fleet: 42/42 clusters read and judged in 8.2 s · 300 ARM reads"


def test_a_run_stopped_early_says_where_it_stopped() -> None:
    line = judging_line(Counts(judged=7, reads=30), total=42, elapsed=2.0, final=True)

    assert line == "fleet: stopped at 7/42 clusters read and judged after 2 s · 30 ARM reads"


def test_the_discovery_lines_say_what_is_listed_then_what_was_found() -> None:
    assert discovery_line(Discovery(subscriptions=None, started=0.0)) == (
        "fleet: listing Cloud HSM clusters in every subscription the identity lists"
    )
    assert discovery_line(Discovery(subscriptions=3, started=0.0)) == (
        "fleet: listing Cloud HSM clusters in 3 subscriptions"
    )
    assert discovery_line(Discovery(subscriptions=50, listed=12, found=340, started=0.0)) == (
        "fleet: listing Cloud HSM clusters: 12/50 subscriptions, 340 clusters so far"
    )
    done = Discovery(subscriptions=3, listed=3, found=1, started=0.0, finished=1.25)
    assert discovery_line(done) == "fleet: 1 cluster discovered in 3 subscriptions in 1.2 s"


def test_a_resource_graph_discovery_says_its_pages_not_subscriptions_one_by_one() -> None:
    asking = Discovery(subscriptions=50, started=0.0, graph=True)
    assert (
        discovery_line(asking)
        == "fleet: asking Resource Graph for the Cloud HSM clusters in 50 subscriptions"
    )
    paged = Discovery(subscriptions=50, started=0.0, graph=True, pages=3, found=3000)
    assert discovery_line(paged) == (
        "fleet: asking Resource Graph for the Cloud HSM clusters in 50 subscriptions: "
        "3 pages, 3,000 clusters so far"
    )
    done = Discovery(subscriptions=50, started=0.0, graph=True, pages=11, found=10_000, finished=4.0)
    assert discovery_line(done) == (
        "fleet: 10,000 clusters discovered in 50 subscriptions through Resource Graph (11 pages) in 4 s"
    )


def test_plain_lines_come_at_each_tenth_of_the_fleet_or_every_half_minute() -> None:
    cadence = Cadence(total=100)
    seen = [(3, 1), (9, 2), (10, 3), (11, 4), (19, 5), (25, 6), (26, 40), (26, 41)]
    said = [(done, now) for done, now in seen if cadence.due(done, now)]

    assert said == [(10, 3), (25, 6), (26, 40)]


def test_a_worker_writes_its_counts_for_the_controller_to_add_up(tmp_path: Path) -> None:
    clock = iter([0.0, 0.05, 0.5])
    first = WorkerProgress(tmp_path / "gw0.json", clock=lambda: next(clock))
    first.update(Counts(judged=1, reads=5))
    first.update(Counts(judged=2, reads=9))  # within a fifth of a second of the last write: held back
    assert worker_counts(tmp_path) == Counts(judged=1, reads=5)
    first.update(Counts(judged=2, reads=9), force=True)
    WorkerProgress(tmp_path / "gw1.json").update(Counts(judged=3, reads=4, throttled=1), force=True)
    (tmp_path / "gw2.json.tmp").write_text("{half", encoding="utf-8")  # a write in flight is not read

    assert worker_counts(tmp_path) == Counts(judged=5, reads=13, throttled=1)
