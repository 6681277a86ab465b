"""``chsm-checks run --help`` says what every option does and what it is when not given."""

from __future__ import annotations

import argparse

from chsm_checks.cli import _parser
from tests.support.processes import run_cli


def _run_parser() -> argparse.ArgumentParser:
    [commands] = [a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return commands.choices["run"]


def test_every_run_option_says_its_default() -> None:
    options = [a for a in _run_parser()._actions if not isinstance(a, argparse._HelpAction)]

    assert len(options) >= 15
    assert [a.dest for a in options if not a.help or "default" not in a.help] == []


def test_the_help_a_person_reads_shows_them() -> None:
    result = run_cli("run", "--help")

    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    for said in (
        "--target FILE target file (default: the suite's targets/reference.toml",
        "--reports DIR where <run-id>/ goes (default: ./reports)",
        "(default: off; the run only reads)",
        "--arm-endpoint URL",
        "--features DIR",
    ):
        assert said in text
