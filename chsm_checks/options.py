"""The options of a run, declared once: ``chsm-checks run`` offers them and passes them to pytest, and
the pytest plugin declares the same ones (a person may run ``pytest steps/`` with them too)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from .modes import DEFAULT_MODE, MODE_NAMES
from .suite import from_here


@dataclass(frozen=True)
class RunOption:
    flag: str
    help: str
    default: Any = None
    choices: Sequence[str] | None = None
    switch: bool = False  # a flag without a value
    # The default is a file of the suite (:mod:`.suite`): ``chsm-checks run`` finds it in the suite it
    # binds, wherever it starts; plain pytest, run in a checkout, finds it there.
    in_suite: bool = False
    repeatable: bool = False  # given once per value; the values in order, or None
    metavar: str | None = None

    @property
    def dest(self) -> str:
        return self.flag.removeprefix("--").replace("-", "_")

    def declaration(self) -> dict[str, Any]:
        """The keyword arguments argparse and pytest's parser both take."""
        if self.switch:
            return {"action": "store_true", "default": False, "help": self.help}
        if self.repeatable:
            return {"action": "append", "default": None, "metavar": self.metavar, "help": self.help}
        return {"default": self.default, "choices": self.choices, "metavar": self.metavar, "help": self.help}

    def as_pytest_argument(self, value: Any) -> list[str]:
        """``value`` (as the CLI parsed it) passed on to pytest."""
        if self.switch:
            return [self.flag] if value else []
        if self.repeatable:
            return [f"{self.flag}={each}" for each in value or ()]
        return [] if value is None else [f"{self.flag}={value}"]


RUN_OPTIONS: tuple[RunOption, ...] = (
    RunOption(
        "--mode", "replay, record or live (default: replay, from the recordings)", DEFAULT_MODE, MODE_NAMES
    ),
    RunOption(
        "--target",
        "target file (default: the suite's targets/reference.toml, which its recordings replay against)",
        "targets/reference.toml",
        in_suite=True,
        metavar="FILE",
    ),
    RunOption(
        "--cassettes",
        "cassette directory (default: the suite's cassettes/)",
        "cassettes",
        in_suite=True,
        metavar="DIR",
    ),
    RunOption(
        "--arm-endpoint",
        "ARM endpoint to address instead of the target's cloud or arm_endpoint: a loopback origin, such as "
        "the sandbox's URL (default: the target's)",
        metavar="URL",
    ),
    RunOption(
        "--features",
        "a directory of the organisation's own .feature files, run after the catalogue with the shipped "
        "steps (chsm-checks steps lists them); its controls.toml declares the controls they are tagged "
        "with (repeatable; default: the suite's features only)",
        repeatable=True,
        metavar="DIR",
    ),
    RunOption(
        "--allow-mutations",
        "let live and record runs send backup and restore requests (default: off; the run only reads)",
        switch=True,
    ),
    RunOption("--waivers", "waiver file (default: the target's 'waivers')", metavar="FILE"),
)


class _Adds(Protocol):
    def addoption(self, *flags: str, **kwargs: Any) -> None: ...


def add_to_pytest(group: _Adds) -> None:
    for option in RUN_OPTIONS:
        # Its own destination: pytest-bdd's --feature already takes "features".
        group.addoption(option.flag, dest=f"chsm_{option.dest}", **option.declaration())


def add_to_argparse(parser: argparse.ArgumentParser) -> None:
    for option in RUN_OPTIONS:
        # A suite file's default is left unset, for the command to find in the suite it binds.
        unset = {"default": None} if option.in_suite else {}
        parser.add_argument(option.flag, **(option.declaration() | unset))


def fill_suite_defaults(args: argparse.Namespace, root: Path) -> None:
    """Each suite file option the command line left unset, as the file of the suite at ``root``: given
    relative to the working directory when it is below it, as a checkout's are."""
    for option in RUN_OPTIONS:
        if option.in_suite and getattr(args, option.dest) is None:
            setattr(args, option.dest, str(from_here(root / option.default)))


def pytest_arguments(args: argparse.Namespace) -> list[str]:
    """The run options as the CLI parsed them, for pytest."""
    return [arg for option in RUN_OPTIONS for arg in option.as_pytest_argument(getattr(args, option.dest))]
