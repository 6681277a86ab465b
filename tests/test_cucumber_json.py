"""cucumber.json says of every scenario what summary.json says: a scenario not applicable is skipped,
one that failed or could not be evaluated is failed, and none is missing or reads passed otherwise."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chsm_checks.lifecycle.summary import RunSummary
from chsm_checks.reports.cucumber import agree_with_summary, scenario_status, write_agreeing
from tests.support.live_runs import live_run, load_json
from tests.support.processes import SharedRun, run_cli
from tests.support.summaries import typed_summary

CUCUMBER_STATUS = {
    "passed": "passed",
    "waived": "passed",
    "failed": "failed",
    "error": "failed",
    "not_applicable": "skipped",
    "not_run": "skipped",
}


def _elements(cucumber: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(f["uri"], e["id"]): e for f in cucumber for e in f["elements"]}


def _agrees(run_dir: Path) -> dict[str, str]:
    """Each scenario's outcome in summary.json against its status in cucumber.json; the outcomes."""
    summary = load_json(run_dir / "summary.json")
    elements = _elements(load_json(run_dir / "cucumber.json"))
    assert len(elements) == len(summary["scenarios"])
    outcomes = {}
    for entry in summary["scenarios"]:
        element = elements[(f"features/{entry['feature_file']}", entry["nodeid"].split("::")[-1])]
        assert scenario_status(element) == CUCUMBER_STATUS[entry["outcome"]], (entry["name"], element)
        outcomes[entry["name"]] = entry["outcome"]
    return outcomes


def test_not_applicable_scenarios_are_skipped_in_a_live_run_without_mutations(
    unmutated_live: SharedRun,
) -> None:
    result, run_dir = unmutated_live.result, unmutated_live.run_dir

    assert result.returncode == 0, result.output
    outcomes = _agrees(run_dir)
    # The four scenarios that need mutations or an activated destination, and the nine of the
    # restore's validation (its timing included), which has no restore to validate.
    assert list(outcomes.values()).count("not_applicable") == 13
    summary = load_json(run_dir / "summary.json")
    skipped_step = next(
        step
        for element in _elements(load_json(run_dir / "cucumber.json")).values()
        for step in element["steps"]
        if step["result"]["status"] == "skipped" and "error_message" in step["result"]
    )
    reasons = {e["message"] for e in summary["scenarios"] if e["outcome"] == "not_applicable"}
    assert skipped_step["result"]["error_message"] in reasons


UNDEFINED_STEP = """
  @nist-ac-2 @severity-low
  Scenario: A scenario with a step nobody defined
    Then a step that no step module defines
"""


def _add_undefined_step(project: Path) -> None:
    feature = project / "features" / "identity.feature"
    feature.write_text(feature.read_text() + UNDEFINED_STEP)


def test_a_step_with_no_definition_is_failed_not_passed(tmp_path: Path) -> None:
    result, run_dir = live_run(tmp_path, "--", "-m", "catalogue", prepare=_add_undefined_step)

    assert result.returncode == 3, result.output
    outcomes = _agrees(run_dir)
    assert outcomes["A scenario with a step nobody defined"] == "error"


def test_scenarios_that_could_not_read_arm_are_failed_not_passed(tmp_path: Path) -> None:
    refuse_reads = {"match": {"request": "read"}, "effect": "status", "status": 403, "times": "always"}

    result, run_dir = live_run(tmp_path, "--", "-m", "catalogue", arm_faults=[refuse_reads])

    assert result.returncode == 3, result.output
    assert set(_agrees(run_dir).values()) == {"error"}


def test_a_distributed_replay_lists_every_scenario_with_its_steps(tmp_path: Path) -> None:
    result = run_cli("run", "--workers", "2", "--reports", str(tmp_path), offline=True)

    assert result.returncode == 0, result.output
    run_dir = (tmp_path / "latest").resolve()
    assert set(_agrees(run_dir).values()) == {"passed"}
    assert all(e["steps"] for e in _elements(load_json(run_dir / "cucumber.json")).values())


def _step(status: str, message: str | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {"status": status, "duration": 1}
    if message is not None:
        result["error_message"] = message
    return {"keyword": "Given", "name": "a step", "line": 3, "match": {"location": ""}, "result": result}


def _pair(outcome: str, steps: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], RunSummary]:
    cucumber = [
        {
            "keyword": "Feature",
            "uri": "features/a.feature",
            "name": "A",
            "id": "features/a.feature",
            "line": 1,
            "description": "",
            "language": "en",
            "tags": [],
            "elements": [
                {
                    "keyword": "Scenario",
                    "id": "test_one",
                    "name": "One",
                    "line": 2,
                    "description": "",
                    "tags": [],
                    "type": "scenario",
                    "steps": steps,
                }
            ],
        }
    ]
    summary = typed_summary(
        {
            "scenarios": [
                {
                    "nodeid": "steps/test_x.py::test_one",
                    "feature_file": "a.feature",
                    "feature": "A",
                    "name": "One",
                    "tags": [],
                    "outcome": outcome,
                    "message": f"why it is {outcome}",
                }
            ]
        }
    )
    return cucumber, summary


@pytest.mark.parametrize(
    ("outcome", "steps", "expected"),
    [
        # pytest-bdd writes a step that raised pytest.skip as passed, and drops the steps after it
        ("not_applicable", [_step("passed"), _step("passed")], "skipped"),
        # a teardown that failed after every step passed
        ("error", [_step("passed"), _step("passed")], "failed"),
        ("failed", [_step("passed"), _step("failed", "assert")], "failed"),
        ("waived", [_step("passed")], "passed"),
        ("passed", [_step("passed")], "passed"),
    ],
)
def test_each_outcome_gives_its_cucumber_status(
    outcome: str, steps: list[dict[str, Any]], expected: str
) -> None:
    cucumber, summary = _pair(outcome, steps)

    fixed = agree_with_summary(cucumber, summary)

    element = fixed[0]["elements"][0]
    assert scenario_status(element) == expected
    assert f"why it is {outcome}" in str(element) or outcome in ("passed", "failed")


@pytest.mark.parametrize("outcome", ["error", "not_applicable", "not_run"])
def test_a_scenario_pytest_bdd_left_out_is_added_with_its_outcome(outcome: str) -> None:
    cucumber, summary = _pair(outcome, [])
    cucumber[0]["elements"].clear()  # e.g. a fixture failed in setup: no call phase, no element

    fixed = agree_with_summary(cucumber, summary)

    [element] = fixed[0]["elements"]
    assert element["name"] == "One"
    assert scenario_status(element) == CUCUMBER_STATUS[outcome]
    assert f"why it is {outcome}" in str(element)


def test_fixing_twice_changes_nothing() -> None:
    cucumber, summary = _pair("error", [_step("passed")])

    once = agree_with_summary(cucumber, summary)

    assert agree_with_summary(once, summary) == once


def test_a_fleets_cucumber_json_is_set_right_in_the_summarys_order_with_its_tags_shared(
    tmp_path: Path,
) -> None:
    """A fleet's feature has one scenario per cluster, all with the same tags: cucumber.json is set right
    from the file as from the data, in summary.json's order, each tag read once for all of them."""
    outcomes = ["passed", "failed", "error", "not_applicable"] * 50
    tags = [{"name": f"@tag-{n}", "line": 4} for n in range(20)]
    elements = [
        {
            "keyword": "Scenario", "id": f"test_one[c{n}]", "name": "One", "line": 5, "description": "",
            "tags": [dict(tag) for tag in tags], "type": "scenario", "steps": [_step("passed")],
        }
        for n in reversed(range(len(outcomes)))
    ]  # fmt: skip
    cucumber, _ = _pair("passed", [])
    cucumber[0]["elements"] = elements
    summary = typed_summary(
        {
            "scenarios": [
                {
                    "nodeid": f"steps/test_x.py::test_one[c{n}]", "feature_file": "a.feature", "feature": "A",
                    "name": "One", "tags": [], "outcome": outcome, "message": f"c{n} is {outcome}",
                }
                for n, outcome in enumerate(outcomes)
            ]
        }
    )  # fmt: skip
    (tmp_path / "cucumber.json").write_text(json.dumps(cucumber))

    assert write_agreeing(tmp_path, summary)

    written = json.loads((tmp_path / "cucumber.json").read_text())
    assert written == agree_with_summary(cucumber, summary)
    fixed = written[0]["elements"]
    assert [e["id"] for e in fixed] == [f"test_one[c{n}]" for n in range(len(outcomes))]
    assert [scenario_status(e) for e in fixed] == [CUCUMBER_STATUS[o] for o in outcomes]
    assert all(e["tags"] == tags for e in fixed)
