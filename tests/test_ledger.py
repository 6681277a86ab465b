"""The run ledger keeps each scenario's entry on disk as it arrives, not in memory, and gives every
planned scenario back in collection order, as often as it is asked."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from chsm_checks.lifecycle.ledger import ENTRY, PLAN, RunLedger
from chsm_checks.lifecycle.summary import ScenarioEntry
from chsm_checks.outcomes import Outcome
from tests.support.summaries import scenario_entry


def _report(name: str, **fields: Any) -> Any:
    return SimpleNamespace(nodeid=f"steps/test_synthetic.py::test_{name}", when="teardown", **fields)


def _entry(name: str, outcome: str = "passed") -> dict[str, Any]:
    return scenario_entry({"name": name, "outcome": outcome, "message": f"{name} ended"})


def _ledger(*, worker: bool = False) -> RunLedger:
    ledger = RunLedger()
    ledger.pytest_configure(SimpleNamespace(workerinput={}) if worker else SimpleNamespace())  # type: ignore[arg-type]
    return ledger


def test_entries_are_kept_on_disk_and_let_go_of_by_the_reports() -> None:
    ledger = _ledger()
    reports = [_report(name, chsm_entry=_entry(name)) for name in ("a", "b")]

    for report in reports:
        ledger.pytest_runtest_logreport(report)

    assert len(ledger.entries) == 2
    assert not any(hasattr(report, ENTRY) for report in reports)  # pytest keeps its reports to the end
    assert list(ledger.every_planned_entry()) == [ScenarioEntry.from_json(_entry(n)) for n in "ab"]


def test_every_planned_entry_is_in_collection_order_and_can_be_gone_through_again() -> None:
    ledger = _ledger()
    names = ("first", "second", "third", "fourth")
    ledger.order = {f"steps/test_synthetic.py::test_{name}": i for i, name in enumerate(names)}
    plan = [{k: v for k, v in _entry(name).items() if k not in ("outcome", "message")} for name in names]
    ledger.pytest_runtest_logreport(_report("third", chsm_entry=_entry("third", "failed"), **{PLAN: plan}))
    ledger.pytest_runtest_logreport(_report("first", chsm_entry=_entry("first")))
    ledger.started.add("steps/test_synthetic.py::test_second")
    ledger.crashed["steps/test_synthetic.py::test_first"] = "worker 'gw0' crashed"
    ledger.interrupted = "SIGTERM"

    entries = ledger.every_planned_entry()
    ended = [(e.name, e.outcome, e.message) for e in entries]

    assert ended == [
        ("first", Outcome.ERROR, "first ended; before that, worker 'gw0' crashed"),
        ("third", Outcome.FAILED, "third ended"),
        ("second", Outcome.ERROR, "stopped while running: SIGTERM"),
        ("fourth", Outcome.NOT_RUN, "did not run"),
    ]
    assert [(e.name, e.outcome, e.message) for e in entries] == ended  # read back again from disk
    assert ledger.accounted() == 4


def test_a_worker_leaves_its_entries_on_its_reports_for_the_controller() -> None:
    ledger = _ledger(worker=True)
    report = _report("a", chsm_entry=_entry("a"))

    ledger.pytest_runtest_logreport(report)

    assert getattr(report, ENTRY) == _entry("a")
    assert len(ledger.entries) == 0


def test_a_closed_spool_holds_nothing() -> None:
    ledger = _ledger()
    ledger.pytest_runtest_logreport(_report("a", chsm_entry=_entry("a")))

    ledger.entries.close()

    assert len(ledger.entries) == 0
    assert list(ledger.every_planned_entry()) == []


def test_the_ledger_takes_the_entry_off_a_report_only_after_every_other_reader() -> None:
    """The scenario's terminal lines (:class:`chsm_checks.lifecycle.terminal.ScenarioLines`) read the
    entry from the same report: whatever order the plugins are registered in, they must see it."""
    from chsm_checks.lifecycle.terminal import ScenarioLines

    manager = pytest.PytestPluginManager()
    lines = ScenarioLines("replay run of reference")
    manager.register(lines, "lines")
    manager.register(RunLedger(), "ledger")  # registered last: called first, unless it waits
    report = _report("a", chsm_entry=_entry("a"))

    manager.hook.pytest_runtest_logreport(report=report)

    assert lines.done == 1
    assert not hasattr(report, ENTRY)
