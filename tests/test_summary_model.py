"""summary.json's typed model: what every report, the seal, verify and merge read.

A summary read and written again is the same bytes; one that is not what chsm-checks writes is
refused in one line naming the file and the field, by the library and by the commands alike.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from chsm_checks.errors import ConfigError
from chsm_checks.lifecycle.summary import RecoveryPoint, RunSummary, ScenarioEntry, summary_text
from tests.support.processes import SharedRun, run_cli
from tests.support.summaries import scenario_entry


def test_a_run_s_summary_reads_back_to_the_same_bytes(shipped_replay: SharedRun) -> None:
    path = shipped_replay.run_dir / "summary.json"
    summary = RunSummary.read(path)

    assert summary_text(summary.to_json()) == path.read_text(encoding="utf-8")
    assert len(summary.scenarios) == len(shipped_replay.summary["scenarios"])
    assert summary.signing is not None  # the run said how it is sealed
    assert summary.merged_from is None
    assert "merged_from" not in summary.to_json()  # absent, not null, as the run wrote it


def test_summary_json_is_indented_with_each_scenario_on_a_line_of_its_own(shipped_replay: SharedRun) -> None:
    text = (shipped_replay.run_dir / "summary.json").read_text(encoding="utf-8")
    lines = text.splitlines()
    assert lines[:2] == ["{", '  "tool": "chsm-checks",']
    start = lines.index('  "scenarios": [')
    scenarios = lines[start + 1 : start + 1 + len(shipped_replay.summary["scenarios"])]
    assert [json.loads(line.strip().rstrip(",")) for line in scenarios] == shipped_replay.summary["scenarios"]
    assert lines[start + 1 + len(scenarios)] == "  ],"


def _edited(shipped_replay: SharedRun, edit: Any) -> str:
    data = json.loads((shipped_replay.run_dir / "summary.json").read_text(encoding="utf-8"))
    edit(data)
    return json.dumps(data)


def _set_outcome(data: dict[str, Any]) -> None:
    data["scenarios"][2]["outcome"] = "recounted"


def _drop_target_cloud(data: dict[str, Any]) -> None:
    del data["target"]["cloud"]


def _add_field(data: dict[str, Any]) -> None:
    data["verdict"] = "passed"


def _count_as_text(data: dict[str, Any]) -> None:
    data["counts"]["passed"] = "many"


@pytest.mark.parametrize(
    ("edit", "line"),
    [
        (
            _set_outcome,
            "scenarios[2].outcome: Input should be 'passed', 'failed', 'error', 'not_applicable', "
            "'waived' or 'not_run'",
        ),
        (_drop_target_cloud, "target.cloud: Field required"),
        (_add_field, "verdict: Extra inputs are not permitted"),
        (_count_as_text, "counts.passed: Input should be a valid integer"),
    ],
)
def test_a_summary_that_is_not_one_is_refused_naming_the_field(
    shipped_replay: SharedRun, edit: Any, line: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        RunSummary.parse(_edited(shipped_replay, edit), "run/summary.json")

    assert str(refused.value).startswith(f"run/summary.json: {line}")
    assert str(refused.value).endswith("; not a chsm-checks summary")
    assert "\n" not in str(refused.value)


def test_text_that_is_not_json_is_refused_in_one_line() -> None:
    with pytest.raises(ConfigError, match=r"^run/summary.json: not JSON \(Expecting value: line 1 column 1"):
        RunSummary.parse("<html>", "run/summary.json")


def _unsealed_copy(shipped_replay: SharedRun, tmp_path: Path) -> Path:
    """The shipped run copied, its seal removed, so that its summary may be edited."""
    run_dir = tmp_path / "run"
    shutil.copytree(shipped_replay.run_dir, run_dir, symlinks=True)
    for sealed in ("MANIFEST.sha256", "MANIFEST.sha256.sig"):
        (run_dir / sealed).unlink(missing_ok=True)
    return run_dir


def test_the_report_command_refuses_a_bad_summary_in_one_line(
    shipped_replay: SharedRun, tmp_path: Path
) -> None:
    run_dir = _unsealed_copy(shipped_replay, tmp_path)
    (run_dir / "summary.json").write_text(_edited(shipped_replay, _drop_target_cloud), encoding="utf-8")
    matrix_before = (run_dir / "matrix.md").read_bytes()

    result = run_cli("report", str(run_dir), offline=True)

    assert result.returncode != 0
    assert result.output.strip().splitlines()[-1] == (
        f"chsm-checks: {run_dir / 'summary.json'}: target.cloud: Field required; not a chsm-checks summary"
    )
    assert "Traceback" not in result.output
    assert (run_dir / "matrix.md").read_bytes() == matrix_before  # nothing already written is lost


def _rpo_entry(name: str, resource: str, hours: float) -> ScenarioEntry:
    observed = {
        "rpo_hours": 24,
        "achieved_rpo_hours": hours,
        "latest_backup_at": "t",
        "as_of": "2026-01-01T00:00:00Z",
    }
    finding = {
        "check": "backup.rpo",
        "resource": resource,
        "status": "passed",
        "message": "m",
        "observed": observed,
    }
    return ScenarioEntry.model_validate(scenario_entry({"name": name, "findings": [finding]}))


def test_the_recovery_point_is_the_one_rpo_findings_and_says_whose_figures_they_are() -> None:
    entry = _rpo_entry(
        "rpo", "/subscriptions/x/resourceGroups/g/providers/P/cloudHsmClusters/chsm-source", 5.0
    )
    live = RecoveryPoint.of([entry], "LIVE")
    replayed = RecoveryPoint.of([entry], "REPLAY")
    assert live is not None
    assert replayed is not None
    assert (live.cluster, live.achieved_hours, live.measured, replayed.measured) == (
        "chsm-source",
        5.0,
        "live",
        "recording",
    )
    assert live.sentence() == (
        "5 hours since chsm-source's latest successful backup (as of 2026-01-01T00:00:00Z); "
        "target RPO 24 hours: passed"
    )
    # A fleet's many clusters each have their own finding: no one recovery point stands for the run.
    assert RecoveryPoint.of([entry, _rpo_entry("other", "/x/chsm-fleet-0001", 1.0)], "LIVE") is None
    assert RecoveryPoint.of([], "LIVE") is None


def test_a_summary_s_header_is_read_without_its_scenarios(shipped_replay: SharedRun) -> None:
    path = shipped_replay.run_dir / "summary.json"
    whole = RunSummary.read(path)

    header = RunSummary.read_header(path)

    assert header.scenarios == ()
    assert header == whole.model_copy(update={"scenarios": ()})
    assert sum(header.counts.values()) == len(whole.scenarios) > 0


def test_amending_a_summary_copies_its_scenarios_and_gives_the_bytes_a_whole_rewrite_would(
    shipped_replay: SharedRun, tmp_path: Path
) -> None:
    path = tmp_path / "summary.json"
    shutil.copy(shipped_replay.run_dir / "summary.json", path)
    whole = RunSummary.read(path).model_copy(update={"interrupted": "SIGTERM", "complete": False})

    RunSummary.amend(path, interrupted="SIGTERM", complete=False)

    assert path.read_text(encoding="utf-8") == summary_text(whole.to_json())
    assert not list(tmp_path.glob(".*.part"))  # written aside, then put in place


def test_a_summary_laid_out_otherwise_is_read_and_amended_whole(
    shipped_replay: SharedRun, tmp_path: Path
) -> None:
    """A summary indented throughout (as a person's editor or another tool writes it) is still one."""
    path = tmp_path / "summary.json"
    data = json.loads((shipped_replay.run_dir / "summary.json").read_text(encoding="utf-8"))
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    whole = RunSummary.read(path)

    assert RunSummary.read_header(path) == whole.model_copy(update={"scenarios": ()})
    RunSummary.amend(path, partial=True)
    assert RunSummary.read(path) == whole.model_copy(update={"partial": True})
    with pytest.raises(ValueError, match="leaves the scenarios"):
        RunSummary.amend(path, scenarios=())


def test_a_summary_s_header_names_the_file_when_it_is_not_one(tmp_path: Path) -> None:
    path = tmp_path / "summary.json"
    path.write_text('{\n  "tool": "chsm-checks",\n  "scenarios": [\n    {"name": "x"}\n  ]\n}\n')

    with pytest.raises(ConfigError, match=rf"^{re.escape(str(path))}: tool_version: Field required"):
        RunSummary.read_header(path)


def _laid_out_with_a_bad_scenario(shipped_replay: SharedRun, path: Path) -> int:
    """summary.json as the run lays it out, a scenario a line, its third scenario's outcome not one;
    the number of that line."""
    data = json.loads((shipped_replay.run_dir / "summary.json").read_text(encoding="utf-8"))
    _set_outcome(data)
    text = summary_text(data)
    path.write_text(text, encoding="utf-8")
    return next(n for n, line in enumerate(text.splitlines(), 1) if '"recounted"' in line)


def test_a_summary_read_a_scenario_at_a_time_is_refused_naming_the_line_and_field(
    shipped_replay: SharedRun, tmp_path: Path
) -> None:
    path = tmp_path / "summary.json"
    number = _laid_out_with_a_bad_scenario(shipped_replay, path)

    with pytest.raises(ConfigError) as refused:
        RunSummary.read_streamed(path)

    assert str(refused.value) == (
        f"{path}: line {number}: scenarios: outcome: Input should be 'passed', 'failed', 'error', "
        "'not_applicable', 'waived' or 'not_run'; not a chsm-checks summary"
    )


def test_a_summary_read_a_scenario_at_a_time_gives_every_scenario_each_time(
    shipped_replay: SharedRun,
) -> None:
    path = shipped_replay.run_dir / "summary.json"
    whole = RunSummary.read(path)

    streamed = RunSummary.read_streamed(path)

    assert len(streamed.scenarios) == len(whole.scenarios)
    assert list(streamed.scenarios) == list(whole.scenarios)
    assert list(streamed.scenarios) == list(whole.scenarios)  # gone through again, read again
    assert streamed.model_copy(update={"scenarios": whole.scenarios}) == whole


def test_the_report_command_refuses_a_bad_scenario_line_before_it_writes_anything(
    shipped_replay: SharedRun, tmp_path: Path
) -> None:
    run_dir = _unsealed_copy(shipped_replay, tmp_path)
    number = _laid_out_with_a_bad_scenario(shipped_replay, run_dir / "summary.json")
    written = {name: (run_dir / name).read_bytes() for name in ("matrix.md", "junit.xml", "cucumber.json")}

    result = run_cli("report", str(run_dir), offline=True)

    assert result.returncode != 0
    last = result.output.strip().splitlines()[-1]
    assert last.startswith(f"chsm-checks: {run_dir / 'summary.json'}: line {number}: scenarios: outcome: ")
    assert "Traceback" not in result.output
    assert {name: (run_dir / name).read_bytes() for name in written} == written  # nothing written is lost
