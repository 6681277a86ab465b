"""The run's ledger: what it planned, how each scenario ended, what a crash or an interruption cost.

One ledger per process, registered as a pytest plugin. In a pytest-xdist run the controller's ledger
is the account; each worker's sends what only it knows through xdist's own channels: its plan and
each scenario's entry travel on test reports, and a refusal, the plan and what ``-k``/``-m`` left out
travel in the worker's output when it finishes. Nothing passes between processes through files.

The entries are kept on disk as they arrive (:class:`EntrySpool`), not in memory: a fleet's run has
an entry a cluster, each with tens of findings, and summary.json is written from them a scenario at
a time.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

import pytest

from ..outcomes import Outcome
from ..scenarios import is_scenario
from .summary import ScenarioEntry, Selection

# Attribute names on test reports, and keys of a worker's output.
ENTRY = "chsm_entry"
WAIVER_NOTES = "chsm_waiver_notes"
PLAN = "chsm_plan"
REFUSAL = "chsm_refusal"
DESELECTED = "chsm_deselected"
FLEET_SUMMARY = "chsm_fleet_summary"


class EntrySpool:
    """Scenario entries in an unnamed temporary file, one JSON line each, in the order they came;
    in memory only each one's node id and place. The file goes when the spool is closed (or the
    process ends)."""

    def __init__(self) -> None:
        self._file: IO[bytes] | None = None
        self._places: list[tuple[str, int, int]] = []  # node id, offset, length

    def add(self, entry: ScenarioEntry) -> None:
        if self._file is None:
            self._file = tempfile.TemporaryFile(prefix="chsm-entries-")  # noqa: SIM115 (closed by close)
        line = json.dumps(entry.to_json()).encode()
        offset = self._file.seek(0, 2)
        self._file.write(line)
        self._places.append((entry.nodeid, offset, len(line)))

    def __len__(self) -> int:
        return len(self._places)

    def nodeids(self) -> set[str]:
        return {nodeid for nodeid, _, _ in self._places}

    def read(self, order: dict[str, int]) -> Iterator[ScenarioEntry]:
        """The entries, by their node ids' places in ``order`` (the rest last, as they came)."""
        last = len(order)
        places = sorted(self._places, key=lambda place: order.get(place[0], last))
        for _, offset, length in places:
            assert self._file is not None  # a place was only kept with the file written
            self._file.seek(offset)
            yield ScenarioEntry.model_validate_json(self._file.read(length))

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
        self._file = None
        self._places = []


class Replayable(Iterable[ScenarioEntry]):
    """Entries that can be gone through again: each time, ``make`` gives them afresh."""

    def __init__(self, make: Callable[[], Iterator[ScenarioEntry]]) -> None:
        self._make = make

    def __iter__(self) -> Iterator[ScenarioEntry]:
        return self._make()


class RunLedger:
    """Gathers every scenario's entry from the reports (this process's, or its xdist workers')."""

    def __init__(self) -> None:
        self.entries = EntrySpool()  # (controller, or a serial run) each scenario's entry as it ended
        self.waiver_notes: dict[str, None] = {}
        self.plan: list[dict[str, Any]] | None = None  # every selected scenario, as if it did not run
        self.refusal: str | None = None  # why the run refused to start, if it did
        self.order: dict[str, int] = {}  # under xdist: the collection order, which reports follow
        self.collection_errors: list[str] = []
        self.crashed: dict[str, str] = {}  # node id -> what pytest-xdist said when its worker died
        self.started: set[str] = set()
        self.interrupted: str | None = None
        self.deselected = 0  # scenarios -k/-m left out (under xdist: as the workers report it)
        self.fleet: dict[str, Any] | None = None  # (worker) what its part of a fleet audit did
        self.worker_fleets: list[dict[str, Any]] = []  # (controller) each worker's part
        self._plan_sent = False
        self._worker = False

    def pytest_configure(self, config: pytest.Config) -> None:
        self._worker = hasattr(config, "workerinput")

    # -- what this process saw ---------------------------------------------------------------------

    def refuse(self, problem: str) -> None:
        """Record why the run will not start (the first reason stands)."""
        if self.refusal is None:
            self.refusal = problem

    def planned(self, entries: list[dict[str, Any]]) -> None:
        """The selected scenarios, each as it would read if it never ran."""
        if self.plan is None:
            self.plan = entries

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        # chsm-checks run turns SIGTERM into KeyboardInterrupt("SIGTERM"); Ctrl-C carries no text.
        self.interrupted = str(excinfo.value) or "interrupted (Ctrl-C)"

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.collection_errors.append(report.nodeid or "(collection)")

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        self.deselected += sum(1 for item in items if is_scenario(item))

    def pytest_runtest_logstart(self, nodeid: str, location: object) -> None:
        self.started.add(nodeid)

    # Last, because it takes the entry off the report: the scenario's terminal lines read it first.
    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if str(report.when) == "???":  # pytest-xdist's report for a test whose worker died under it
            self.crashed[report.nodeid] = str(report.longrepr)
        if (plan := getattr(report, PLAN, None)) is not None:
            self.planned(plan)
        entry = getattr(report, ENTRY, None)
        if entry is not None and not self._worker:  # a worker's entries are its controller's to keep
            self.entries.add(ScenarioEntry.from_json(entry))
            self.waiver_notes.update(dict.fromkeys(getattr(report, WAIVER_NOTES, ())))
            delattr(report, ENTRY)  # pytest keeps every report to the end: the spool has the entry now

    # -- a worker's side of the channel -----------------------------------------------------------

    def send_plan_with(self, report: pytest.TestReport) -> None:
        """(worker) The plan rides on the first report this worker sends, so that the controller has
        it even if the run is stopped before any worker finishes."""
        if not self._plan_sent and self.plan is not None:
            setattr(report, PLAN, self.plan)
            self._plan_sent = True

    def worker_output(self, output: dict[str, Any]) -> None:
        """(worker) What the controller reads when this worker finishes."""
        output[DESELECTED] = self.deselected
        if self.refusal is not None:
            output[REFUSAL] = self.refusal
        if self.plan is not None:
            output[PLAN] = self.plan
        if self.fleet is not None:
            output[FLEET_SUMMARY] = self.fleet

    # -- the controller's side ----------------------------------------------------------------------

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        if not self.order:
            self.order = {nodeid: i for i, nodeid in enumerate(ids)}

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        output = getattr(node, "workeroutput", None) or {}
        # Every worker collects and deselects the same items: each reports the same count.
        self.deselected = max(self.deselected, int(output.get(DESELECTED, 0)))
        if (refusal := output.get(REFUSAL)) is not None:
            self.refuse(refusal)
        if (plan := output.get(PLAN)) is not None:
            self.planned(plan)
        if isinstance(fleet := output.get(FLEET_SUMMARY), dict):
            self.worker_fleets.append(fleet)

    # -- the account -----------------------------------------------------------------------------------

    def selection(self, config: pytest.Config) -> Selection:
        """What chose the scenarios: the -k and -m expressions, and how many they left out."""
        return Selection(
            keyword=config.getoption("keyword", "") or None,
            markers=config.getoption("markexpr", "") or None,
            deselected=self.deselected,
        )

    def every_planned_entry(self) -> Iterable[ScenarioEntry]:
        """Every scenario the run planned, in order: as it ended, or as not run, or as lost with its
        worker. Read back from the spool each time they are gone through."""
        return Replayable(self._planned_entries)

    def accounted(self) -> int:
        """How many scenarios :meth:`every_planned_entry` gives."""
        seen = self.entries.nodeids()
        return len(self.entries) + sum(1 for data in self.plan or [] if data["nodeid"] not in seen)

    def _planned_entries(self) -> Iterator[ScenarioEntry]:
        for e in self.entries.read(self.order):
            # pytest-xdist runs a crashed worker's test again on its replacement, in a process that has
            # not seen the rest of its story (the drill's restore, its inventory): the crash is what the
            # run observed, so the scenario is an error, and its message says both.
            if e.nodeid in self.crashed:
                message = f"{e.message}; before that, {self.crashed[e.nodeid]}".lstrip("; ")
                e = e.model_copy(update={"outcome": Outcome.ERROR, "message": message})
            yield e
        seen = self.entries.nodeids()
        for data in self.plan or []:
            if data["nodeid"] in seen:
                continue
            crash = self.crashed.get(data["nodeid"])
            if crash is not None:
                outcome, message = Outcome.ERROR, crash
            elif data["nodeid"] in self.started:  # it was running when the run was stopped
                outcome, message = (
                    Outcome.ERROR,
                    f"stopped while running: {self.interrupted or 'interrupted'}",
                )
            else:
                outcome, message = Outcome.NOT_RUN, "did not run"
            yield ScenarioEntry.from_json({**data, "outcome": outcome.value, "message": message})

    def interruption(self, exitstatus: int) -> str | None:
        """Why the run stopped before its end, if it did."""
        if self.crashed:
            return f"a pytest-xdist worker crashed while running {len(self.crashed)} scenario(s)"
        if self.interrupted is not None or exitstatus == pytest.ExitCode.INTERRUPTED:
            return self.interrupted or "interrupted"
        return None
