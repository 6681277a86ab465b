"""The shipped suite's layout: where it is, which glue modules a run binds, and which of them hold one
story.

The only room in the library that names the suite's files. A scenario run binds the catalogue and
the restore drill, a fleet target binds the fleet audit. A *story* module's tests depend on each
other (the drill inventories the source, backs it up, restores it, validates the restore), so under
pytest-xdist it runs whole, in order, in one worker; every other test is independent.

Where the suite is (:func:`suite_root`): the directory a run starts in, when it holds one (a checkout
of chsm-checks, or a copy of its suite to change); else the one installed with chsm-checks. A built
wheel carries the features, steps, targets, reference recordings and the pytest configuration they
run under in ``chsm_checks/_shipped/`` (``setup.py`` puts them there); a source tree or an editable
install has them at the top of its checkout.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

# The files that make a directory a suite a run can bind: the catalogue's glue module and its features.
_MARKS: Final = (Path("steps/test_scenarios.py"), Path("features"))
# In a wheel: the suite, carried as package data.
PACKAGED: Final = Path(__file__).resolve().parent / "_shipped"
# In a source tree or an editable install: the checkout this package sits in.
CHECKOUT: Final = Path(__file__).resolve().parent.parent
# The pytest configuration a suite runs under: a checkout's pyproject.toml, a wheel's pytest.ini
# (generated from it at build time).
CONFIG_FILES: Final = ("pytest.ini", "pyproject.toml")


def holds_suite(directory: Path) -> bool:
    """Whether ``directory`` holds a suite: its glue modules and features, and its pytest configuration."""
    return all((directory / mark).exists() for mark in _MARKS) and config_file(directory) is not None


def config_file(root: Path) -> Path | None:
    """The pytest configuration of the suite at ``root``, if it has one."""
    return next((root / name for name in CONFIG_FILES if (root / name).is_file()), None)


def from_here(path: Path) -> Path:
    """``path`` as a person at the run's working directory names it: relative to it when below it,
    else as it is."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return path


def is_packaged(path: Path) -> bool:
    """Whether ``path`` is a file of the suite installed with chsm-checks (a wheel's)."""
    return path.resolve().is_relative_to(PACKAGED)


def evidence_path(path: Path) -> str:
    """How evidence names a suite file: a packaged one by its place in the installed package
    (``chsm_checks/_shipped/...``, the same in every installation of a version, naming no one's home
    directory), any other as given."""
    if is_packaged(path):
        return path.resolve().relative_to(PACKAGED.parent.parent).as_posix()
    return path.as_posix()


def suite_root(start: Path) -> Path | None:
    """The suite a run started in ``start`` binds: ``start``'s own, else the installed one (None: none)."""
    for candidate in (start, PACKAGED, CHECKOUT):
        if holds_suite(candidate):
            return candidate
    return None


@dataclass(frozen=True)
class Suite:
    """Where a suite's glue modules are, relative to the directory a run starts in."""

    scenario_modules: tuple[Path, ...]
    fleet_modules: tuple[Path, ...]
    story_modules: tuple[Path, ...]
    # Binds the organisation's features (``--features``), after the first scenario module (the
    # read-only catalogue) and before the rest (the drill, which activates the destination).
    organisation_module: Path

    def modules(self, *, fleet: bool, organisation: bool = False) -> tuple[Path, ...]:
        """The glue modules a run of a fleet target (or of a single target, with or without the
        organisation's features) binds."""
        if fleet:
            return self.fleet_modules
        if not organisation:
            return self.scenario_modules
        first, *rest = self.scenario_modules
        return (first, self.organisation_module, *rest)

    def story_of(self, nodeid: str) -> str | None:
        """The story module a test belongs to (its path as the node id spells it), or None."""
        module = nodeid.partition("::")[0]
        return next((module for story in self.story_modules if story.as_posix() == module), None)


SHIPPED = Suite(
    scenario_modules=(Path("steps/test_scenarios.py"), Path("steps/test_drill.py")),
    fleet_modules=(Path("steps/test_fleet.py"),),
    story_modules=(Path("steps/test_drill.py"),),
    organisation_module=Path("steps/test_organisation.py"),
)
