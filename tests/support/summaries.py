"""Synthetic summaries for the report tests: a test states the fields it is about, the rest are filled in.

What comes back is the typed :class:`RunSummary` the reports read, validated as ``summary.json`` is: a
test cannot hand a report a summary the run could not have written.
"""

from __future__ import annotations

from typing import Any

from chsm_checks.lifecycle.summary import RunSummary

_SUMMARY: dict[str, Any] = {
    "tool": "chsm-checks",
    "tool_version": "0.1.0",
    "run_id": "20261129T000000Z-replay",
    "mode": "replay",
    "evidence": "REPLAY",
    "allow_mutations": False,
    "api_versions": {},
    "started": "2026-11-29T00:00:00Z",
    "finished": "2026-11-29T00:00:05Z",
    "pytest_exit_status": 0,
    "complete": True,
    "interrupted": None,
    "partial": False,
    "selection": {"keyword": None, "markers": None, "deselected": 0},
    "collection_errors": [],
    "counts": {},
    "waiver_notes": [],
    "scenarios": [],
}
_TARGET = {"name": "reference", "path": "targets/reference.toml", "kind": "sandbox", "cloud": "Sandbox"}
_SCENARIO: dict[str, Any] = {
    "feature": "Synthetic",
    "feature_file": "synthetic.feature",
    "tags": [],
    "outcome": "passed",
    "message": "",
    "cassette": "cassettes/synthetic/scenario.yaml",
    "duration_seconds": 0.0,
}


def scenario_entry(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with what a scenario entry needs and it does not say (its node id from its name)."""
    name = data.get("name", "scenario")
    return {**_SCENARIO, "name": name, "nodeid": f"steps/test_synthetic.py::test_{name}", **data}


def typed_summary(data: dict[str, Any]) -> RunSummary:
    """``data`` (a partial summary.json) completed and validated."""
    filled = {**_SUMMARY, **data}
    filled["target"] = {**_TARGET, **data.get("target", {})}
    filled["scenarios"] = [scenario_entry(s) for s in filled["scenarios"]]
    return RunSummary.model_validate(filled)
