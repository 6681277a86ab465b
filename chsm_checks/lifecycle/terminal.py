"""What a run says on the terminal while it runs: one line per scenario as it ends, in the harness's
outcomes (the words summary.json and every report use), counted against the scenarios selected.

``chsm-checks run`` quiets pytest's own terminal (no header, no plugin banners, no PASSED/FAILED, no
file notices) and registers :class:`ScenarioLines` in the controlling process, which under
pytest-xdist receives every worker's reports. The lines go to the terminal only: nothing here reaches
the evidence. pytest's terminal writer colours the outcome at a terminal and writes plain text
anywhere else (and honours ``NO_COLOR`` and ``--color``).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from ..outcomes import Outcome
from .ledger import ENTRY
from .summary import ScenarioEntry

_WIDTH = max(len(outcome.value) for outcome in Outcome)  # "not applicable", "not run": one column
_MARKUP: dict[Outcome, dict[str, bool]] = {
    Outcome.PASSED: {"green": True},
    Outcome.FAILED: {"red": True, "bold": True},
    Outcome.ERROR: {"purple": True, "bold": True},
    Outcome.NOT_APPLICABLE: {"yellow": True},
    Outcome.WAIVED: {"cyan": True},
    Outcome.NOT_RUN: {"yellow": True},
}


def outcome_word(outcome: Outcome) -> str:
    """The outcome as the reports write it for a person."""
    return outcome.value.replace("_", " ")


def scenario_title(entry: ScenarioEntry) -> str:
    return " › ".join(part for part in (entry.feature, entry.rule, entry.name) if part)


def scenario_lines(entry: ScenarioEntry, done: int, total: int) -> list[tuple[str, str, str]]:
    """The lines that say ``entry`` ended, the ``done``-th of ``total``: each as (lead, outcome word,
    rest), the word the only part coloured. A scenario that did not pass says why, on the next line,
    in the first line of its message (the reports hold the rest)."""
    lead = f"[{done:>{len(str(total))}}/{total}] "
    word = outcome_word(entry.outcome)
    lines = [(lead, word, " " * (_WIDTH - len(word) + 1) + scenario_title(entry))]
    if entry.outcome is not Outcome.PASSED and (message := entry.message.strip()):
        first, *more = message.splitlines()
        if more:
            first += f" (and {len(more)} more line{'' if len(more) == 1 else 's'} in the reports)"
        lines.append((" " * len(lead), "", first))
    return lines


class ScenarioLines:
    """A pytest plugin for the run's controlling process: says each scenario as its entry arrives."""

    def __init__(self, title: str) -> None:
        self.title = title  # e.g. "replay run of reference"
        self.total: int | None = None
        self.done = 0
        self._reporter: Any = None

    @pytest.hookimpl(trylast=True)
    def pytest_configure(self, config: pytest.Config) -> None:
        self._reporter = config.pluginmanager.get_plugin("terminalreporter")

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        # pytest-xdist's controller says how its workers come up ("bringing up nodes...", "2 workers
        # [44 items]") even when quiet, and nothing of the run: before it starts them, it is silenced
        # (its session writes only while it holds the terminal reporter). A worker that dies is still
        # said, below, and the reports record it.
        manager = session.config.pluginmanager
        if (workers_status := manager.get_plugin("terminaldistreporter")) is not None:
            manager.unregister(workers_status)
        if (distributed := manager.get_plugin("dsession")) is not None:
            distributed.terminal = None

    @pytest.hookimpl(wrapper=True)
    def pytest_report_teststatus(self, report: pytest.TestReport) -> Generator[None, Any, Any]:
        # pytest keeps counting by its categories; it writes no letter or word of its own.
        category, _letter, _word = yield
        return category, "", ""

    def _planned(self, total: int) -> None:
        if self.total is None:
            self.total = total
            self._say(f"chsm-checks: {self.title}: {total} scenario{'' if total == 1 else 's'}")

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        if not hasattr(session.config, "workerinput") and session.items:
            self._planned(len(session.items))

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        self._planned(len(ids))  # every worker collects the same selection

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            crash = getattr(report.longrepr, "reprcrash", None)
            why = (crash.message if crash is not None else str(report.longrepr)).strip().splitlines()
            where = report.nodeid or "the suite"
            self._say(f"chsm-checks: could not collect {where}: {why[0] if why else '(no message)'}")

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if str(report.when) == "???":  # pytest-xdist: the worker running this scenario died
            self._say(f"chsm-checks: a worker died while running {report.nodeid}")
            return
        data = getattr(report, ENTRY, None)
        if data is None:
            return
        entry = ScenarioEntry.from_json(data)
        self.done += 1
        for lead, word, rest in scenario_lines(entry, self.done, max(self.total or 0, self.done)):
            if self._reporter is None:
                continue
            self._reporter.ensure_newline()
            self._reporter.write(lead)
            if word:
                self._reporter.write(word, **_MARKUP[entry.outcome])
            self._reporter.line(rest)

    def _say(self, line: str) -> None:
        if self._reporter is not None:
            self._reporter.write_line(line)
