"""The public face: what step modules import is ``chsm_checks.__all__``, short and tested."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import chsm_checks
from tests.support.processes import ROOT

STEP_MODULES = sorted((ROOT / "steps").glob("*.py"))


def _chsm_imports(path: Path) -> list[tuple[int, str, list[str]]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "chsm_checks":
            found.append((node.lineno, node.module, [alias.name for alias in node.names]))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name, []) for a in node.names if a.name.split(".")[0] == "chsm_checks"]
    return found


def test_all_is_exactly_the_public_table() -> None:
    assert sorted(chsm_checks.__all__) == sorted(["__version__", *chsm_checks._PUBLIC])


@pytest.mark.parametrize("name", chsm_checks.__all__)
def test_every_public_name_resolves(name: str) -> None:
    assert getattr(chsm_checks, name) is not None


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'RunContext'"):
        chsm_checks.RunContext  # noqa: B018


@pytest.mark.parametrize("path", STEP_MODULES, ids=lambda p: p.name)
def test_shipped_steps_import_only_the_public_face(path: Path) -> None:
    wrong = [
        f"{path.name}:{line}: {module}"
        for line, module, names in _chsm_imports(path)
        if module != "chsm_checks" or not set(names) <= set(chsm_checks.__all__)
    ]
    assert not wrong, f"import from chsm_checks' public face only: {wrong}"


def test_the_shipped_steps_use_the_chsm_checks_package() -> None:
    # The guard above must have something to guard: the glue does import from chsm_checks.
    assert sum(len(_chsm_imports(path)) for path in STEP_MODULES) >= 4


def test_importing_the_package_stays_light() -> None:
    code = (
        "import sys, chsm_checks; "
        "heavy = {'pytest', 'httpx', 'vcr', 'azure', 'pexpect', 'pydantic'} & "
        "{m.split('.')[0] for m in sys.modules}; print(sorted(heavy))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert done.stdout.strip() == "[]"
