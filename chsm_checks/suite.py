"""The shipped suite's layout: which glue modules a run binds, and which of them hold one story.

The only room in the library that names the suite's files. A scenario run binds the catalogue and
the restore drill, a fleet target binds the fleet audit. A *story* module's tests depend on each
other (the drill inventories the source, backs it up, restores it, validates the restore), so under
pytest-xdist it runs whole, in order, in one worker; every other test is independent.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Suite:
    """Where a suite's glue modules are, relative to the directory a run starts in."""

    scenario_modules: tuple[Path, ...]
    fleet_modules: tuple[Path, ...]
    story_modules: tuple[Path, ...]

    def modules(self, *, fleet: bool) -> tuple[Path, ...]:
        """The glue modules a run of a fleet target (or of a single target) binds."""
        return self.fleet_modules if fleet else self.scenario_modules

    def story_of(self, nodeid: str) -> str | None:
        """The story module a test belongs to (its path as the node id spells it), or None."""
        module = nodeid.partition("::")[0]
        return next((module for story in self.story_modules if story.as_posix() == module), None)


SHIPPED = Suite(
    scenario_modules=(Path("steps/test_scenarios.py"), Path("steps/test_drill.py")),
    fleet_modules=(Path("steps/test_fleet.py"),),
    story_modules=(Path("steps/test_drill.py"),),
)
