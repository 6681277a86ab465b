"""A fleet audit's progress on the terminal: the listing, then a live count of the clusters read and
judged out of the total, with the time left at the rate so far.

``chsm-checks run`` registers :class:`FleetProgress` in the run's controlling process for a fleet
target. A thread looks at the counts a few times a second: this process's
:class:`~chsm_checks.fleet.run.FleetRun` in a serial run, the files pytest-xdist's workers write
(:class:`~chsm_checks.fleet.progress.WorkerProgress`) under ``-n``. It writes to a duplicate of
stderr taken before pytest captures anything, so nothing of it reaches a report, a log pytest keeps,
or the evidence. At a terminal it is one status line redrawn in place, cleared before any scenario
line is written; anywhere else it is plain lines at each tenth of the fleet (:class:`Cadence`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

import pytest

from ..errors import ChsmError
from ..fleet.progress import Cadence, Discovery, discovery_line, judging_line, worker_counts
from ..fleet.run import FleetRun
from ..services.run import FLEET_PROGRESS, made_services

_CLEAR = "\x1b[K"


class FleetProgress:
    """A pytest plugin for the run's controlling process: says how a fleet audit is getting on."""

    def __init__(self, stream: TextIO, *, at_terminal: bool) -> None:
        self.stream = stream
        self.at_terminal = at_terminal
        self.interval = 0.2 if at_terminal else 0.5
        self._config: pytest.Config | None = None
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._workers: Path | None = None  # where pytest-xdist's workers write their counts
        self._total: int | None = None
        self._since: float | None = None  # when judging began
        self._cadence: Cadence | None = None
        self._drawn = ""  # the status line on the terminal now, if any
        self._listing: Cadence | None = None  # while the fleet is listed: when to say so again
        self._said_discovered = self._said_done = False

    # -- pytest's side -------------------------------------------------------------------------

    def pytest_configure(self, config: pytest.Config) -> None:
        self._config = config

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        # Before pytest-xdist starts its workers, which is when a distributed run discovers the fleet.
        self._thread = threading.Thread(target=self._watch, name="chsm-fleet-progress", daemon=True)
        self._thread.start()

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        if self._workers is None:
            self._workers = Path(tempfile.mkdtemp(prefix="chsm-fleet-progress-"))
        node.workerinput[FLEET_PROGRESS] = str(self._workers)

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_collection_finish(self, session: pytest.Session) -> Generator[None, None, None]:
        with self._lock:
            self._tick()  # a serial run discovered the fleet while collecting: that is said first
        with self._interrupting():
            yield
        fleet = self._fleet()
        if fleet is not None and fleet.planned is not None:
            self._judging(fleet.planned)

    @pytest.hookimpl(optionalhook=True, wrapper=True, tryfirst=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> Generator[None, None, None]:
        with self._interrupting():
            yield
        fleet = self._fleet()
        if fleet is None or self._total is not None:
            return
        try:
            clusters = set(fleet.by_test_id())
        except ChsmError:  # discovery failed: the error scenario says why
            return
        self._judging(sum(1 for nodeid in ids if nodeid.rpartition("[")[2].rstrip("]") in clusters))

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_collectreport(self, report: pytest.CollectReport) -> Generator[None, None, None]:
        with self._interrupting():
            yield

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> Generator[None, None, None]:
        with self._interrupting():
            yield

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with self._lock:
            self._tick(final=True)
            self._clear()
        if self._workers is not None:
            shutil.rmtree(self._workers, ignore_errors=True)

    # -- the terminal's side -------------------------------------------------------------------

    def _fleet(self) -> FleetRun | None:
        services = made_services(self._config) if self._config is not None else None
        return services.fleet_if_made if services is not None else None

    def _judging(self, total: int) -> None:
        with self._lock:
            self._total = total
            self._since = time.monotonic()
            self._cadence = Cadence(total)

    def _watch(self) -> None:
        while not self._stop.wait(self.interval):
            with self._lock:
                self._tick()

    def _tick(self, *, final: bool = False) -> None:
        fleet = self._fleet()
        discovery = fleet.discovery if fleet is not None else None
        if fleet is None or discovery is None or self._said_done:
            return
        now = time.monotonic()
        if self._listing is None:
            self._listing = Cadence(0)
            if not self.at_terminal:
                wanted = fleet.target.fleet.subscriptions
                named = None if wanted == "all" else len(wanted)
                self._say(discovery_line(Discovery(named, discovery.started, graph=discovery.graph)))
            self._listing.due(0, now)
        if discovery.finished is None:
            if self.at_terminal:
                self._draw(discovery_line(discovery))
            elif self._listing.due(0, now):  # a long listing is still said, every half minute
                self._say(discovery_line(discovery))
            return
        if not self._said_discovered:
            self._said_discovered = True
            self._say(discovery_line(discovery))
        if self._total is None or self._since is None or self._total == 0:
            return
        counts = worker_counts(self._workers) if self._workers is not None else fleet.counts()
        if final or counts.judged >= self._total:
            self._said_done = True
            self._say(judging_line(counts, self._total, now - self._since, final=True))
        elif self.at_terminal:
            self._draw(judging_line(counts, self._total, now - self._since))
        elif self._cadence is not None and self._cadence.due(counts.judged, now):
            self._say(judging_line(counts, self._total, now - self._since))

    @contextmanager
    def _interrupting(self) -> Iterator[None]:
        """Holds the status line off while pytest's hooks write to the terminal, and clears it first."""
        with self._lock:
            self._clear()
            try:
                yield
            finally:
                reporter = self._config.pluginmanager.get_plugin("terminalreporter") if self._config else None
                if reporter is not None:
                    reporter.flush()

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # the terminal went away: the audit goes on
            pass

    def _width(self) -> int:
        try:
            columns = os.get_terminal_size(self.stream.fileno()).columns
        except (OSError, ValueError):
            columns = 0
        return columns or shutil.get_terminal_size().columns  # a terminal of no size: COLUMNS, else 80

    def _draw(self, line: str) -> None:
        width = max(self._width() - 1, 20)  # the last column would wrap the line on some terminals
        if len(line) > width:
            line = line[: width - 1] + "…"
        if line != self._drawn:
            self._write(f"\r{line}{_CLEAR}")
            self._drawn = line

    def _clear(self) -> None:
        if self._drawn:
            self._write(f"\r{_CLEAR}")
            self._drawn = ""

    def _say(self, line: str) -> None:
        self._clear()
        self._write(line + "\n")


def progress_stream(choice: str) -> tuple[TextIO, bool] | None:
    """Where a fleet audit's progress goes for ``--progress choice`` (auto, plain or off): a duplicate
    of stderr that pytest's capture does not reach, and whether it is drawn in place."""
    if choice == "off":
        return None
    try:
        fd = os.dup(2)
    except OSError:
        return None
    stream = os.fdopen(fd, "w", encoding="utf-8", errors="replace")
    at_terminal = choice == "auto" and os.isatty(fd) and os.environ.get("TERM", "") != "dumb"
    return stream, at_terminal
