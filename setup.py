"""Build hook: a wheel carries the suite it runs (see chsm_checks/suite.py).

The repository keeps the suite at its top (features/, steps/, targets/, cassettes/, conftest.py) and
runs it from there. A wheel gets a copy of it in chsm_checks/_shipped/, with the pytest configuration
it runs under, so that ``chsm-checks run`` replays it from any directory. The recordings the
harness's own tests use (cassettes/profiles, cassettes/imported) stay out of it. An editable install
needs no copy: it runs the checkout's suite.
"""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
SUITE = {
    "features": ("*.feature",),
    "steps": ("*.py",),
    "targets": ("*.toml",),
    "cassettes": ("*.yaml",),
}
NOT_SHIPPED = ("cassettes/profiles", "cassettes/imported")


def pytest_ini(pyproject: Path) -> str:
    """The project's ``[tool.pytest.ini_options]`` as a pytest.ini, without the project's own test paths."""
    options = tomllib.loads(pyproject.read_text(encoding="utf-8"))["tool"]["pytest"]["ini_options"]
    lines = ["# The pytest configuration the shipped suite runs under, from chsm-checks' pyproject.toml."]
    lines.append("[pytest]")
    for key, value in options.items():
        if key == "testpaths":
            continue
        if isinstance(value, list):
            lines += [f"{key} =", *(f"    {item}" for item in value)]
        else:
            lines.append(f"{key} = {str(value).lower() if isinstance(value, bool) else value}")
    return "\n".join(lines) + "\n"


def copy_suite(source: Path, shipped: Path) -> None:
    """The suite at ``source`` copied into ``shipped``."""
    if shipped.exists():
        shutil.rmtree(shipped)
    for directory, patterns in SUITE.items():
        for pattern in patterns:
            for path in sorted((source / directory).rglob(pattern)):
                relative = path.relative_to(source)
                if "__pycache__" in relative.parts or any(
                    relative.as_posix().startswith(f"{skipped}/") for skipped in NOT_SHIPPED
                ):
                    continue
                (shipped / relative).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, shipped / relative)
    shutil.copyfile(source / "conftest.py", shipped / "conftest.py")
    (shipped / "pytest.ini").write_text(pytest_ini(source / "pyproject.toml"), encoding="utf-8")


class BuildWithSuite(build_py):
    """build_py, then the suite into the built package (not for an editable install)."""

    def run(self) -> None:
        super().run()
        if not self.editable_mode:
            copy_suite(HERE, Path(self.build_lib) / "chsm_checks" / "_shipped")


setup(cmdclass={"build_py": BuildWithSuite})
