"""The sandbox's time: the wall clock, as the live service has, or a recorded clock that passes only
with ARM requests, so that recording a fresh sandbox twice gives the same bytes.

It dates and ends jobs (:mod:`.jobs`): their start and end times, a backup id's last digits, a status
URL's ``t``. What the seeded world carries is dated by the seed instead (:func:`.times.seeded_us`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, Protocol

# When the recorded clock starts: after the seeded world was built (the four weeks before June 2025),
# with a fraction of a second, so that job times and backup ids show their fractions as live ones do.
RECORDED_CLOCK_START: Final = datetime(2025, 6, 16, 9, 0, 0, 250_000, tzinfo=UTC).timestamp()
RECORDED_CLOCK_STEP: Final = 1.0

CLOCK_NAMES: Final = ("wall", "recorded")


class SandboxClock(Protocol):
    """How the sandbox tells the time."""

    def time_after(self, arm_requests: int) -> float:
        """The time (seconds since 1970) once ``arm_requests`` ARM requests have been answered since the
        sandbox started or was reset."""
        ...


class WallClock:
    """Real time, however many requests came: the default, as on the live service."""

    def time_after(self, arm_requests: int) -> float:
        return time.time()


@dataclass(frozen=True)
class RecordedClock:
    """Time that passes only with ARM requests: ``start``, and ``step`` seconds more for each one answered.

    The n-th ARM request (from 1) is answered at ``start + (n - 1) * step``; between requests the clock
    stands still, whatever else reads it. The same requests give the same times, so a re-recording
    against a fresh sandbox is byte-identical. It counts from a start or a reset, so it suits a fresh
    state, and one request at a time, as a record run sends them (concurrent ones may share a time).
    """

    start: float = RECORDED_CLOCK_START
    step: float = RECORDED_CLOCK_STEP

    def __post_init__(self) -> None:
        if self.step < 0:
            raise ValueError(f"the recorded clock's step must be >= 0 seconds, not {self.step}")

    def time_after(self, arm_requests: int) -> float:
        return self.start + self.step * arm_requests


WALL_CLOCK: Final = WallClock()


def clock_named(name: str, recorded_step: float | None = None) -> SandboxClock:
    """The clock ``sandbox serve --clock NAME`` means (one of :data:`CLOCK_NAMES`); a recorded one moves
    ``recorded_step`` seconds per ARM request when given (a profile's pace)."""
    if name == "wall":
        return WALL_CLOCK
    if name == "recorded":
        return RecordedClock() if recorded_step is None else RecordedClock(step=recorded_step)
    raise ValueError(f"clock must be one of {', '.join(CLOCK_NAMES)}, not {name!r}")
