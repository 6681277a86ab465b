"""What ``chsm-checks run`` says on the terminal: one line per scenario in the harness's own outcomes.

The terminal says what the reports say: each scenario's line carries the outcome summary.json gives it
(passed, failed, error, not applicable, waived), never pytest's PASSED/FAILED, and a default run
prints none of pytest's header, plugin banners or file notices. At a terminal the outcome is
coloured; anywhere else the lines are plain.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pexpect
import pytest

from chsm_checks.lifecycle.summary import ScenarioEntry
from chsm_checks.lifecycle.terminal import outcome_word, scenario_lines
from chsm_checks.outcomes import Outcome
from chsm_checks.target import load_target
from tests.support.processes import (
    ROOT,
    SANDBOX_CU_PASSWORD,
    Sandbox,
    child_environment,
    run_cli,
    sandbox_process,
    summary,
)

# [ 3/12] not applicable  Feature › Scenario
LINE = re.compile(r"^\[ *(\d+)/(\d+)\] (passed|failed|error|not applicable|waived) +(.+)$")
# pytest's own words, which a default run never prints.
PYTEST_NOISE = (
    "test session starts",
    "platform linux",
    "rootdir:",
    "configfile:",
    "plugins:",
    "collected ",
    "generated xml file",
    "generated json file",
    "PASSED",
    "FAILED",
    "SKIPPED",
    "ERROR",
    "Feature: ",
    "Scenario: ",
    "short test summary",
    "=====",
    "bringing up nodes",
    "workers [",
)


def _scenario_lines(stdout: str) -> list[tuple[int, int, str, str]]:
    return [(int(m[1]), int(m[2]), m[3], m[4]) for line in stdout.splitlines() if (m := LINE.match(line))]


def _assert_no_pytest_noise(stdout: str) -> None:
    for noise in PYTEST_NOISE:
        assert noise not in stdout, f"{noise!r} in:\n{stdout}"


def _said_as_reported(stdout: str, report: dict[str, Any]) -> None:
    """Each scenario the summary holds has one line, with its outcome, counted up to the total."""
    said = _scenario_lines(stdout)
    entries = report["scenarios"]
    assert sorted(n for n, _, _, _ in said) == list(range(1, len(entries) + 1)), stdout
    assert {total for _, total, _, _ in said} == {len(entries)}, stdout
    by_title = {title: word for _, _, word, title in said}
    assert by_title == {
        " › ".join(filter(None, (e["feature"], e.get("rule"), e["name"]))): e["outcome"].replace("_", " ")
        for e in entries
    }, stdout


def test_a_replay_says_each_scenario_in_the_harness_outcomes_and_nothing_of_pytest(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    result = run_cli("run", "--reports", str(reports), "--no-html", "-k", "identity or provisioned")

    assert result.returncode == 0, result.output
    report = summary(reports)
    assert len(report["scenarios"]) >= 3
    _assert_no_pytest_noise(result.stdout)
    _said_as_reported(result.stdout, report)
    assert "\x1b[" not in result.output  # not at a terminal: plain lines
    lines = result.stdout.splitlines()
    assert lines[0].startswith("chsm-checks: replay run of reference: ")  # what is about to run
    assert lines[-1].startswith("chsm-checks: sealed ")


def test_under_two_workers_the_lines_still_count_up_to_the_total(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    result = run_cli(
        "run", "--reports", str(reports), "--no-html", "--workers", "2", "-k", "identity or provisioned"
    )

    assert result.returncode == 0, result.output
    _assert_no_pytest_noise(result.stdout)
    _said_as_reported(result.stdout, summary(reports))


ORGANISATION = """\
Feature: Acme's rules
  Scenario: The storage account is private
    Given the target's environment as ARM reports it
    Then the "storage.public-network" check holds for the storage account

  Scenario: The storage account asks for TLS 1.2
    Given the target's environment as ARM reports it
    Then the "storage.minimum-tls" check holds for the storage account

  Scenario: A step nobody defined
    Given the target's environment as ARM reports it
    Then the vault is made of cheese

  Scenario: An activated destination is refused
    Given the target's source and destination clusters
    And the destination cluster has already been activated
    When a backup is restored into the destination cluster
    Then the restore is refused as "destination-not-notactivated"
"""


@pytest.fixture
def sandbox(tmp_path: Path) -> Any:
    with sandbox_process(tmp_path / "state") as running:
        yield running


def test_a_finding_an_error_and_a_scenario_not_applicable_are_said_as_the_reports_say(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    sandbox.arm(
        "PATCH",
        load_target(ROOT / "targets" / "sandbox.toml").storage_account_id,
        {"properties": {"minimumTlsVersion": "TLS1_0"}},
    )
    rules = tmp_path / "acme"
    rules.mkdir()
    (rules / "rules.feature").write_text(ORGANISATION, encoding="utf-8")
    reports = tmp_path / "reports"

    result = run_cli(
        "run", "--mode", "live", "--target", "targets/sandbox.toml", *sandbox.addressed,
        "--features", str(rules), "--reports", str(reports), "--no-html", "-k", "test_organisation",
    )  # fmt: skip

    assert result.returncode == 3, result.output  # an error: not evaluated
    report = summary(reports)
    outcomes = {e["name"]: e["outcome"] for e in report["scenarios"]}
    assert outcomes == {
        "The storage account is private": "passed",
        "The storage account asks for TLS 1.2": "failed",
        "A step nobody defined": "error",
        "An activated destination is refused": "not_applicable",
    }
    _assert_no_pytest_noise(result.stdout)
    _said_as_reported(result.stdout, report)
    lines = result.stdout.splitlines()
    for entry in report["scenarios"]:
        if entry["outcome"] == "passed":
            continue
        [at] = [i for i, line in enumerate(lines) if line.endswith(f"› {entry['name']}")]
        # The reason follows its scenario's line, indented, as the reports give it.
        assert re.match(r"^ {6}\S", lines[at + 1]), lines[at : at + 2]
        assert lines[at + 1].strip().startswith(entry["message"].splitlines()[0]), lines[at : at + 2]
    assert 'undefined step: Then "the vault is made of cheese"' in result.stdout


def test_at_a_terminal_the_outcome_is_coloured(tmp_path: Path) -> None:
    env = child_environment() | {"CHSM_SANDBOX_CU_PASSWORD": SANDBOX_CU_PASSWORD, "COLUMNS": "200"}
    env.pop("NO_COLOR", None)
    run = pexpect.spawn(
        sys.executable,
        ["-m", "chsm_checks", "run", "--reports", str(tmp_path / "reports"), "--no-html", "-k", "provision"],
        cwd=str(ROOT),
        env=env,
        encoding="utf-8",
        timeout=120,
        dimensions=(40, 200),
    )
    run.expect(pexpect.EOF)
    run.close()
    said = run.before or ""

    assert run.exitstatus == 0, said
    assert re.search(r"\] \x1b\[[0-9;]*32m(\x1b\[1m)?passed\x1b\[0m", said), said
    _assert_no_pytest_noise(said)


def _entry(outcome: Outcome, message: str = "", rule: str | None = None) -> ScenarioEntry:
    return ScenarioEntry(
        feature="The storage account",
        feature_file="storage.feature",
        name="It is private",
        nodeid="steps/test_scenarios.py::test_it_is_private",
        tags=(),
        outcome=outcome,
        message=message,
        cassette="",
        duration_seconds=0.5,
        rule=rule,
    )


@pytest.mark.parametrize(
    ("outcome", "word"),
    [
        (Outcome.PASSED, "passed"),
        (Outcome.FAILED, "failed"),
        (Outcome.ERROR, "error"),
        (Outcome.NOT_APPLICABLE, "not applicable"),
        (Outcome.WAIVED, "waived"),
        (Outcome.NOT_RUN, "not run"),
    ],
)
def test_each_outcome_has_the_reports_word(outcome: Outcome, word: str) -> None:
    assert outcome_word(outcome) == word


def test_a_line_names_the_feature_its_rule_and_the_scenario_and_gives_the_first_line_of_why() -> None:
    entry = _entry(Outcome.WAIVED, "storage.minimum-tls: waived until 2027-01-31 (CHG-1)\nmore", rule="TLS")

    assert scenario_lines(entry, 3, 12) == [
        ("[ 3/12] ", "waived", "         The storage account › TLS › It is private"),
        (
            "        ",
            "",
            "storage.minimum-tls: waived until 2027-01-31 (CHG-1) (and 1 more line in the reports)",
        ),
    ]
    assert scenario_lines(_entry(Outcome.PASSED, "all held"), 12, 12) == [
        ("[12/12] ", "passed", "         The storage account › It is private"),
    ]
