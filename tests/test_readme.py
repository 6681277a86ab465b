"""The README says what the code does: its catalogue table is the catalogue."""

from __future__ import annotations

import re

from chsm_checks.checks.catalogue import load_catalogue, markdown_table
from tests.support.processes import ROOT


def test_the_readme_catalogue_table_is_generated_from_the_catalogue() -> None:
    readme = (ROOT / "README.md").read_text()
    match = re.search(r"<!-- catalogue-table:[^>]*-->\n(?P<table>.*?)<!-- /catalogue-table -->", readme, re.S)
    assert match is not None, "the README has no catalogue table"
    assert match["table"] == markdown_table(load_catalogue())


def test_the_readme_names_the_two_commands_ci_runs() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    for command in (
        "python3 -m venv .venv && .venv/bin/pip install -e '.[test]' && .venv/bin/chsm-checks run",
        ".venv/bin/python -m pytest -n 2",
    ):
        assert command in readme
        assert command in ci
