"""cucumber.json, made to say of every scenario what summary.json says.

pytest-bdd writes cucumber.json from each test's call phase alone, so on its own it misleads: a step
that raised ``pytest.skip`` (a scenario *not applicable*) reads ``passed``; a teardown error, or a
step with no definition, leaves every listed step ``passed``; a scenario whose setup failed is not
listed at all; and under pytest-xdist the controller lists nothing, because pytest-bdd keeps what it
knows of each scenario beside the worker's report instead of on it. Here the steps pytest-bdd saw
are kept, and the scenario's outcome from ``summary.json`` is written where Cucumber tools read
status: the step that skipped, or a ``before``/``after`` hook result carrying the outcome's message.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from pytest_bdd.cucumber_json import LogBDDCucumberJSON

from ..lifecycle.summary import SUMMARY_FILE, RunSummary, ScenarioEntry

# Cucumber has no "error", "not applicable" or "waived": the nearest status that is not a pass.
CUCUMBER_STATUS = {
    "passed": "passed",
    "waived": "passed",
    "failed": "failed",
    "error": "failed",
    "not_applicable": "skipped",
    "not_run": "skipped",
}
# Marks the hook results written here, so that writing them again changes nothing.
OUTCOME_HOOK = "chsm-checks: the scenario's outcome in summary.json"


def scenario_status(element: Mapping[str, Any]) -> str:
    """A scenario's status as Cucumber tools derive it from its steps and hooks."""
    results = [
        part["result"]["status"] for key in ("before", "steps", "after") for part in element.get(key) or []
    ]
    if "failed" in results:
        return "failed"
    if any(status != "passed" for status in results):
        return "skipped"
    return "passed"


def _hook(status: str, message: str) -> dict[str, Any]:
    result: dict[str, Any] = {"status": status, "duration": 0}
    if status != "passed":
        result["error_message"] = message
    hook: dict[str, Any] = {"match": {"location": OUTCOME_HOOK}, "result": result}
    if status == "passed":
        hook["output"] = [message]
    return hook


def _has_outcome_hook(element: Mapping[str, Any]) -> bool:
    return any(
        hook.get("match", {}).get("location") == OUTCOME_HOOK
        for key in ("before", "after")
        for hook in element.get(key) or []
    )


def _agree(element: dict[str, Any], outcome: str, message: str) -> None:
    wanted = CUCUMBER_STATUS[outcome]
    if outcome == "waived" and message and not _has_outcome_hook(element):
        element.setdefault("after", []).append(_hook("passed", f"waived: {message}"))
    if scenario_status(element) == wanted:
        return
    steps = element.get("steps") or []
    if wanted == "skipped" and steps and steps[-1]["result"]["status"] == "passed":
        # pytest-bdd lists the steps up to the one that skipped, and writes that one as passed.
        steps[-1]["result"] = {**steps[-1]["result"], "status": "skipped", "error_message": message}
    elif wanted in ("failed", "skipped"):
        key = "after" if steps else "before"  # after the steps that ran; before when none did
        element.setdefault(key, []).append(_hook(wanted, f"{outcome.replace('_', ' ')}: {message}"))
    else:  # summary.json says passed, the steps say otherwise: the steps stand, the report says so
        element.setdefault("after", []).append(_hook("failed", f"summary.json says {outcome}"))


def _element_for(entry: ScenarioEntry, test_name: str) -> dict[str, Any]:
    """A scenario pytest-bdd did not list (its setup failed, or it never ran)."""
    return {
        "keyword": "Scenario",
        "id": test_name,
        "name": entry.name,
        "description": "",
        "tags": [{"name": tag} for tag in entry.tags],
        "type": "scenario",
        "steps": [],
    }


def agree_with_summary(cucumber: list[dict[str, Any]], summary: RunSummary) -> list[dict[str, Any]]:
    """``cucumber`` (cucumber.json's content) with every scenario of ``summary`` in it, in the
    summary's order, each with the status its outcome gives. Applying it twice changes nothing."""
    return _agreeing(copy.deepcopy(cucumber), summary)


def _agreeing(features: list[dict[str, Any]], summary: RunSummary) -> list[dict[str, Any]]:
    """:func:`agree_with_summary`, changing ``features`` itself."""
    elements = {  # each feature's scenarios by id: a fleet's feature has one per cluster
        id(feature): {element["id"]: element for element in reversed(feature["elements"])}
        for feature in features
    }
    by_file = {feature["uri"].rsplit("/", 1)[-1]: feature for feature in features}
    base = next((f["uri"].rsplit("/", 1)[0] + "/" for f in features if "/" in f["uri"]), "features/")
    placed: dict[str, list[dict[str, Any]]] = {}
    for entry in summary.scenarios:
        feature_file = entry.feature_file
        feature = by_file.get(feature_file.rsplit("/", 1)[-1])
        if feature is None:
            uri = base + feature_file
            feature = {
                "keyword": "Feature",
                "uri": uri,
                "name": entry.feature,
                "id": uri.lower().replace(" ", "-"),
                "description": "",
                "language": "en",
                "tags": [],
                "elements": [],
            }
            by_file[feature_file.rsplit("/", 1)[-1]] = feature
            features.append(feature)
            elements[id(feature)] = {}
        test_name = entry.nodeid.split("::")[-1]
        element = elements[id(feature)].get(test_name)
        if element is None:
            element = elements[id(feature)][test_name] = _element_for(entry, test_name)
            feature["elements"].append(element)
        _agree(element, entry.outcome, entry.message)
        placed.setdefault(feature["uri"], []).append(element)
    order = list(placed)
    for feature in features:  # the summary's order; anything the summary does not name stays, last
        named = placed.get(feature["uri"], [])
        ids = {id(element) for element in named}
        feature["elements"] = named + [e for e in feature["elements"] if id(e) not in ids]
    features.sort(key=lambda f: order.index(f["uri"]) if f["uri"] in order else len(order))
    return features


def write_agreeing(run_dir: Path, summary: RunSummary | None = None) -> bool:
    """Rewrite ``run_dir/cucumber.json`` to agree with ``summary.json`` (``summary``, when it has been
    read); False if there is none."""
    path = run_dir / "cucumber.json"
    if not path.is_file():
        return False
    summary = summary or RunSummary.read(run_dir / SUMMARY_FILE)
    # Read fresh, so changed in place; the tags every scenario of a feature shares are one object.
    fixed = _agreeing(json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=_Shared()), summary)
    path.write_text(json.dumps(fixed), encoding="utf-8")
    return True


class _Shared:
    """A JSON object hook giving one dict for each tag (``{"name": ..., "line": ...}``) however many
    scenarios carry it: a fleet's ten thousand scenarios carry the same tags. Nothing changes tags."""

    def __init__(self) -> None:
        self._tags: dict[tuple[tuple[str, Any], ...], dict[str, Any]] = {}

    def __call__(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        if len(pairs) == 2 and pairs[0][0] == "name" and pairs[1][0] == "line":
            key = tuple(pairs)
            if key not in self._tags:
                self._tags[key] = dict(pairs)
            return self._tags[key]
        return dict(pairs)


class ScenarioReportsAcrossWorkers:
    """Carries pytest-bdd's record of a scenario on its test report, so that under pytest-xdist the
    controller, which writes cucumber.json, has it too (pytest-bdd keeps it in a registry of the
    process that ran the test)."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        from pytest_bdd.reporting import ReportContext, test_report_context_registry

        context = test_report_context_registry.get(report)
        if context is not None:  # where the test ran: carry it (xdist sends the report after this)
            report.chsm_bdd_scenario = {"scenario": context.scenario, "name": context.name}  # type: ignore[attr-defined]
            return
        carried = getattr(report, "chsm_bdd_scenario", None)
        if isinstance(carried, dict):  # the controller: give pytest-bdd back what its worker knew
            test_report_context_registry[report] = ReportContext(**carried)

    @pytest.hookimpl(trylast=True, specname="pytest_runtest_logreport")
    def pytest_runtest_logreport_forget(self, report: pytest.TestReport) -> None:
        """Once every plugin has read the report (cucumber.json's writer, pytest-xdist sending it on):
        pytest keeps every report to the end of the session, three a test, and each would keep its
        scenario's record and its keywords (every tag, mark and name of its item: selection reads
        the item's, never a report's)."""
        from pytest_bdd.reporting import test_report_context_registry

        test_report_context_registry.pop(report, None)
        if hasattr(report, "chsm_bdd_scenario"):
            del report.chsm_bdd_scenario
        report.keywords = {}


class CucumberJson(LogBDDCucumberJSON):
    """pytest-bdd's cucumber.json writer, registered by ``chsm-checks run`` in its controlling process
    (as pytest-bdd's ``--cucumberjson`` would), without its notice on the terminal: the run's last
    lines name its reports."""

    def __init__(self, logfile: str) -> None:
        super().__init__(logfile)
        self._tags: dict[tuple[int, tuple[str, ...]], list[Any]] = {}

    def _serialize_tags(self, item: Any) -> list[Any]:
        """The tags of a scenario or feature: one list for every scenario that has the same tags on
        the same line, as a fleet's thousands of clusters do (each a scenario of its own)."""
        key = (item["line_number"], tuple(item["tags"]))
        if key not in self._tags:
            self._tags[key] = super()._serialize_tags(item)
        return self._tags[key]

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        return None
