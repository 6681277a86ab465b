"""What a fleet audit has done so far, in words for the person watching it.

The counts (clusters judged, ARM reads, throttled answers) and the discovery's state are kept by
:class:`~chsm_checks.fleet.run.FleetRun`; this module words them, decides when a plain line is due,
and carries a pytest-xdist worker's counts to the controller through a small file outside the run
directory (execnet's channel carries only pytest-xdist's own events). None of it is evidence.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

PLAIN_EVERY_SECONDS = 30.0
"""Not at a terminal, a line at least this often while clusters are still being judged."""
WORKER_WRITE_SECONDS = 0.2
"""A worker writes its counts at most this often (and once more when its batch is judged)."""


@dataclass(frozen=True)
class Counts:
    """What judging has done: clusters read and judged, ARM reads, answers that held a subscription."""

    judged: int = 0
    reads: int = 0
    throttled: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.judged + other.judged, self.reads + other.reads, self.throttled + other.throttled)

    def to_json(self) -> dict[str, int]:
        return {"judged": self.judged, "reads": self.reads, "throttled": self.throttled}

    @classmethod
    def from_json(cls, data: object) -> Counts:
        if not isinstance(data, dict):
            raise ValueError("not an object")
        values = [data.get(name) for name in ("judged", "reads", "throttled")]
        if not all(isinstance(value, int) and value >= 0 for value in values):
            raise ValueError("not counts")
        return cls(*values)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Discovery:
    """Where the listing of a fleet's clusters stands. ``subscriptions`` is None while the
    subscriptions themselves are being listed (a target naming ``"all"``); times are monotonic."""

    subscriptions: int | None
    started: float
    listed: int = 0
    found: int = 0
    finished: float | None = None
    pages: int = 0  # Resource Graph answer pages so far (the reader "resource-graph")
    graph: bool = False  # listed by one Resource Graph query, not subscription by subscription


def _grouped(number: int) -> str:
    return f"{number:,}"


def _plural(number: int, word: str) -> str:
    return f"{_grouped(number)} {word}{'' if number == 1 else 's'}"


def duration(seconds: float) -> str:
    """``seconds`` as a person says it: "0.4 s", "42 s", "1 min 1 s", "1 h 1 min"."""
    if seconds < 9.95:
        return f"{seconds:.1f}".removesuffix(".0") + " s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        minutes, rest = divmod(whole, 60)
        return f"{minutes} min" + (f" {rest} s" if rest else "")
    hours, rest = divmod(whole // 60, 60)
    return f"{hours} h" + (f" {rest} min" if rest else "")


def time_left(counts: Counts, total: int, elapsed: float) -> float | None:
    """The time the clusters left would take at the rate so far; None before one is judged."""
    if counts.judged <= 0 or elapsed <= 0:
        return None
    return max(total - counts.judged, 0) * elapsed / counts.judged


def discovery_line(discovery: Discovery) -> str:
    """The listing as it stands: what is being listed, how far it got, or what it found."""
    if discovery.finished is not None:
        took = duration(discovery.finished - discovery.started)
        where = _plural(discovery.subscriptions or 0, "subscription")
        how = f" through Resource Graph ({_plural(discovery.pages, 'page')})" if discovery.graph else ""
        return f"fleet: {_plural(discovery.found, 'cluster')} discovered in {where}{how} in {took}"
    if discovery.subscriptions is None:
        return "fleet: listing Cloud HSM clusters in every subscription the identity lists"
    if discovery.graph:
        where = _plural(discovery.subscriptions, "subscription")
        if discovery.pages == 0:
            return f"fleet: asking Resource Graph for the Cloud HSM clusters in {where}"
        return (
            f"fleet: asking Resource Graph for the Cloud HSM clusters in {where}: "
            f"{_plural(discovery.pages, 'page')}, {_plural(discovery.found, 'cluster')} so far"
        )
    if discovery.listed == 0:
        return f"fleet: listing Cloud HSM clusters in {_plural(discovery.subscriptions, 'subscription')}"
    return (
        f"fleet: listing Cloud HSM clusters: {discovery.listed}/{_grouped(discovery.subscriptions)} "
        f"subscriptions, {_plural(discovery.found, 'cluster')} so far"
    )


def judging_line(counts: Counts, total: int, elapsed: float, *, final: bool = False) -> str:
    """The count of clusters read and judged out of ``total``, with what it took to read them and,
    until the last line, the time so far and the time left at the rate so far."""
    of = f"{_grouped(counts.judged)}/{_grouped(total)} clusters read and judged"
    reads = [_plural(counts.reads, "ARM read")]
    if counts.throttled:
        reads.append(f"throttled {_grouped(counts.throttled)}×")
    if final:
        lead = (
            f"fleet: {of} in {duration(elapsed)}"
            if counts.judged >= total
            else (f"fleet: stopped at {of} after {duration(elapsed)}")
        )
        return " · ".join([lead, *reads])
    left = time_left(counts, total, elapsed)
    estimate = "estimating" if left is None else f"about {duration(max(left, 1.0))} left"
    return " · ".join([f"fleet: {of}", *reads, duration(elapsed), estimate])


class Cadence:
    """When a plain line is due: each time the count passes another tenth of the fleet, and at least
    every :data:`PLAIN_EVERY_SECONDS` while it has not (a fleet held by throttling is still said)."""

    def __init__(self, total: int, every: float = PLAIN_EVERY_SECONDS) -> None:
        self.step = max(1, -(-total // 10))
        self.every = every
        self._tenth = 0
        self._last: float | None = None

    def due(self, done: int, now: float) -> bool:
        if self._last is None:
            self._last = now
        tenth = done // self.step
        if tenth > self._tenth or now - self._last >= self.every:
            self._tenth = max(tenth, self._tenth)
            self._last = now
            return True
        return False


class WorkerProgress:
    """A pytest-xdist worker's counts, written to ``path`` for the controller's progress line: at
    most every :data:`WORKER_WRITE_SECONDS`, unless ``force``; each write whole (a reader never
    sees half of one)."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.monotonic) -> None:
        self.path = path
        self._clock = clock
        self._last: float | None = None
        self._lock = threading.Lock()

    def update(self, counts: Counts, *, force: bool = False) -> None:
        with self._lock:
            now = self._clock()
            if not force and self._last is not None and now - self._last < WORKER_WRITE_SECONDS:
                return
            self._last = now
            partial = self.path.with_name(self.path.name + ".tmp")
            try:
                partial.write_text(json.dumps(counts.to_json()), encoding="utf-8")
                os.replace(partial, self.path)
            except OSError:  # the progress is a courtesy: a full disk must not fail the audit
                return


def worker_counts(directory: Path) -> Counts:
    """Every worker's counts in ``directory``, added up (a file not yet whole is not read)."""
    total = Counts()
    for path in sorted(directory.glob("*.json")):
        try:
            total += Counts.from_json(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue
    return total
