"""The options of a run, declared once: ``chsm-checks run`` offers them and passes them to pytest, and
the pytest plugin declares the same ones (a person may run ``pytest steps/`` with them too)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from .modes import DEFAULT_MODE, MODE_NAMES


@dataclass(frozen=True)
class RunOption:
    flag: str
    help: str
    default: Any = None
    choices: Sequence[str] | None = None
    switch: bool = False  # a flag without a value

    @property
    def dest(self) -> str:
        return self.flag.removeprefix("--").replace("-", "_")

    def declaration(self) -> dict[str, Any]:
        """The keyword arguments argparse and pytest's parser both take."""
        if self.switch:
            return {"action": "store_true", "default": False, "help": self.help}
        return {"default": self.default, "choices": self.choices, "help": self.help}

    def as_pytest_argument(self, value: Any) -> list[str]:
        """``value`` (as the CLI parsed it) passed on to pytest."""
        if self.switch:
            return [self.flag] if value else []
        return [] if value is None else [f"{self.flag}={value}"]


RUN_OPTIONS: tuple[RunOption, ...] = (
    RunOption("--mode", "replay (default), record or live", DEFAULT_MODE, MODE_NAMES),
    RunOption("--target", "target file (default: targets/reference.toml)", "targets/reference.toml"),
    RunOption("--cassettes", "cassette directory (default: cassettes)", "cassettes"),
    RunOption("--allow-mutations", "let live and record runs send backup and restore requests", switch=True),
    RunOption("--waivers", "waiver file (default: the target's 'waivers')"),
)


class _Adds(Protocol):
    def addoption(self, *flags: str, **kwargs: Any) -> None: ...


def add_to_pytest(group: _Adds) -> None:
    for option in RUN_OPTIONS:
        group.addoption(option.flag, **option.declaration())


def add_to_argparse(parser: argparse.ArgumentParser) -> None:
    for option in RUN_OPTIONS:
        parser.add_argument(option.flag, **option.declaration())


def pytest_arguments(args: argparse.Namespace) -> list[str]:
    """The run options as the CLI parsed them, for pytest."""
    return [arg for option in RUN_OPTIONS for arg in option.as_pytest_argument(getattr(args, option.dest))]
