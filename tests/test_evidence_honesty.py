"""Evidence that cannot mislead: a live run that restores nothing validates nothing, and claims no
control it did not assess."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.processes import SharedRun


@pytest.fixture(scope="module")
def unmutated(unmutated_live: SharedRun) -> tuple[dict[str, Any], Path]:
    """The whole suite, live against the sandbox, without --allow-mutations."""
    assert unmutated_live.result.returncode == 0, unmutated_live.result.output
    return unmutated_live.summary, unmutated_live.run_dir


def test_without_a_restore_the_restored_destination_is_not_validated(
    unmutated: tuple[dict[str, Any], Path],
) -> None:
    report, _ = unmutated
    validation = [
        e
        for e in report["scenarios"]
        if e["feature_file"] == "restore_validation.feature" and "self-check" not in e["tags"]
    ]
    assert len(validation) == 6  # the five validations and their timing, restore.rto
    for entry in validation:
        assert entry["outcome"] == "not_applicable", entry
        assert "no restore into the destination succeeded earlier in this run" in entry["message"]
    assert report["allow_mutations"] is False


def _control_states(run_dir: Path) -> dict[str, str]:
    document = json.loads((run_dir / "oscal" / "assessment-results.json").read_text())
    [result] = document["assessment-results"]["results"]
    return {f["target"]["target-id"]: f["target"]["status"]["state"] for f in result["findings"]} | {
        f["target"]["target-id"] + ":verdict": next(p["value"] for p in f["props"] if p["name"] == "verdict")
        for f in result["findings"]
    }


@pytest.mark.parametrize("control", ["cp-9", "cp-9.1", "sc-12", "cp-10", "cp-4"])
def test_a_control_whose_scenarios_did_not_all_run_is_not_satisfied(
    unmutated: tuple[dict[str, Any], Path], control: str
) -> None:
    _, run_dir = unmutated
    states = _control_states(run_dir)
    assert states[control] == "not-satisfied"
    assert states[f"{control}:verdict"] == "not-assessed"
    matrix = (run_dir / "matrix.md").read_text()
    line = next(
        line
        for line in matrix.splitlines()
        if line.startswith(f"| NIST {control.upper().replace('.1', '(1)')} |")
    )
    assert "**not assessed**" in line


def test_self_checks_feed_no_control(unmutated: tuple[dict[str, Any], Path]) -> None:
    """The harness's own refusals passed, and its fault scenarios ran: neither is a verdict on a control."""
    report, run_dir = unmutated
    self_checks = [e for e in report["scenarios"] if "self-check" in e["tags"]]
    assert len(self_checks) == 6
    states = _control_states(run_dir)
    assert "ca-7" not in states
    assert "ia-5.1" not in states
