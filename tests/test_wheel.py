"""chsm-checks installed as a tool: a wheel built from the checkout's files, installed into a fresh
virtual environment, replays the suite it carries from an empty directory, with the network unshared.

The wheel is built offline (no build isolation: this environment's setuptools). The fresh environment
gets the wheel alone (``--no-deps``); its dependencies come from this environment's site-packages
through a ``.pth`` line, which adds the directory without running its ``.pth`` files, so the
checkout's editable install stays out of it: the chsm_checks that runs is the wheel's. The web
servers among those dependencies are made unimportable there, as they are in a base install, so an
audit that reached for one would fail here.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import zipfile
from dataclasses import dataclass
from email.parser import Parser
from pathlib import Path

import pytest
import yaml

from tests.support.processes import ROOT, child_environment

# Web servers (and the frameworks they come with) that an audit does not need.
WEB_SERVERS = {"starlette", "uvicorn", "fastapi", "flask", "gunicorn", "hypercorn", "aiohttp", "django"}
NOT_SHIPPED = ("cassettes/profiles/", "cassettes/imported/")


def _unshare_works() -> bool:
    found = shutil.which("unshare")
    return found is not None and subprocess.run([found, "-rn", "true"], check=False).returncode == 0


@dataclass(frozen=True)
class Installed:
    wheel: Path
    venv: Path

    @property
    def command(self) -> Path:
        return self.venv / "bin" / "chsm-checks"

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    def site_packages(self) -> Path:
        version = f"python{sys.version_info.major}.{sys.version_info.minor}"
        return self.venv / "lib" / version / "site-packages"


def _checkout_files(destination: Path) -> None:
    """The checkout's files as a clone would hold them (tracked, and new ones not ignored)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, check=True, capture_output=True,
    ).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)


def _venv(path: Path, *, with_dependencies: bool, wheel: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    installed = Installed(wheel, path)
    if with_dependencies:
        site = installed.site_packages()
        (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
        # A None in sys.modules makes an import fail, as it does for a module not installed.
        blocked = ", ".join(f"{name!r}: None" for name in sorted(WEB_SERVERS))
        (site / "zz_no_web_server.pth").write_text(f"import sys; sys.modules.update({{{blocked}}})\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(path / "bin" / "python"), "install", "-q",
         "--no-deps", "--no-index", str(wheel)],
        check=True, env=child_environment(),
    )  # fmt: skip
    return path


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tmp_path_factory.mktemp("clone")
    _checkout_files(source)
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index",
         str(source), "-w", str(out)],
        check=True, env=child_environment(), capture_output=True,
    )  # fmt: skip
    [built] = out.glob("chsm_checks-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Installed:
    venv = _venv(tmp_path_factory.mktemp("venv") / "tool", with_dependencies=True, wheel=wheel)
    return Installed(wheel, venv)


def test_the_wheel_carries_the_suite_and_its_pytest_configuration(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        shipped = {
            name.removeprefix("chsm_checks/_shipped/"): archive.read(name)
            for name in archive.namelist()
            if name.startswith("chsm_checks/_shipped/")
        }
    expected = {
        path.relative_to(ROOT).as_posix(): path.read_bytes()
        for pattern in ("features/*.feature", "steps/*.py", "targets/*.toml", "cassettes/**/*.yaml")
        for path in ROOT.glob(pattern)
        if not path.relative_to(ROOT).as_posix().startswith(NOT_SHIPPED)
    } | {"conftest.py": (ROOT / "conftest.py").read_bytes()}
    assert {name: data for name, data in shipped.items() if name != "pytest.ini"} == expected
    ini = shipped["pytest.ini"].decode()
    assert "bdd_features_base_dir = features" in ini
    assert "    nist-cp-9: NIST 800-53 CP-9 System Backup" in ini
    assert "testpaths" not in ini


def test_the_base_install_brings_no_web_server(installed: Installed) -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(installed.python), "show", "chsm-checks"],
        check=True, capture_output=True, text=True, env=child_environment(),
    ).stdout  # fmt: skip
    [requires] = [line for line in shown.splitlines() if line.startswith("Requires:")]
    names = {name.strip().lower() for name in requires.removeprefix("Requires:").split(",")}
    assert "pytest-bdd" in names
    assert names & WEB_SERVERS == set()
    with zipfile.ZipFile(installed.wheel) as archive:
        [metadata] = [name for name in archive.namelist() if name.endswith(".dist-info/METADATA")]
        requirements = Parser().parsestr(archive.read(metadata).decode()).get_all("Requires-Dist") or []
    sandbox = sorted(r.split(">")[0] for r in requirements if r.endswith('extra == "sandbox"'))
    assert sandbox == ["starlette", "uvicorn"]


@pytest.mark.skipif(
    not _unshare_works(), reason="unshare -rn (a namespace without a network) is refused here"
)
def test_from_an_empty_directory_the_installed_tool_replays_its_suite_offline(
    installed: Installed, tmp_path: Path
) -> None:
    empty = tmp_path / "work"
    empty.mkdir()

    done = subprocess.run(
        ["unshare", "-rn", str(installed.command), "run", "--no-html"],
        cwd=empty, capture_output=True, text=True, timeout=300, env=child_environment(),
    )  # fmt: skip

    assert done.returncode == 0, done.stdout + done.stderr
    unimportable = subprocess.run([str(installed.python), "-c", "import uvicorn"], check=False)
    assert unimportable.returncode == 1  # the audit ran without a web server
    assert "REPLAY replay run of reference: 44 passed, 0 failed" in done.stdout
    [run_dir] = [path for path in (empty / "reports").iterdir() if path.name != "latest"]
    assert sorted(path.name for path in empty.iterdir()) == ["reports"]
    provenance = yaml.safe_load(
        next((run_dir / "evidence" / "identity").rglob("*-provenance.json")).read_text(encoding="utf-8")
    )
    assert provenance["kind"] == "REPLAY"
    # The recordings replayed are the wheel's, in the fresh environment.
    # named by their place in the package, not by this machine's paths
    assert provenance["recording"].startswith("chsm_checks/_shipped/cassettes/")
    assert (installed.site_packages() / provenance["recording"]).is_file()
    environment = (run_dir / "allure-results" / "environment.properties").read_text(encoding="utf-8")
    assert "features-commit=shipped with chsm-checks " in environment
    assert str(installed.venv) not in "".join(path.read_text() for path in run_dir.rglob("*.json"))
    verified = subprocess.run(
        [str(installed.command), "verify", str(run_dir)],
        capture_output=True, text=True, env=child_environment(),
    )  # fmt: skip
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_a_cassette_directory_given_is_used_instead_of_the_shipped_one(
    installed: Installed, tmp_path: Path
) -> None:
    done = subprocess.run(
        [str(installed.command), "run", "--no-html", "--cassettes", "nowhere"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, env=child_environment(),
    )  # fmt: skip

    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == "chsm-checks: nowhere: cassette directory not found\n"


def test_without_the_sandbox_extra_the_sandbox_says_how_to_install_it(wheel: Path, tmp_path: Path) -> None:
    bare = _venv(tmp_path / "bare", with_dependencies=False, wheel=wheel)

    done = subprocess.run(
        [str(bare / "bin" / "chsm-checks"), "sandbox", "serve", "--state", "s"],
        cwd=tmp_path, capture_output=True, text=True, env=child_environment(),
    )  # fmt: skip

    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.count("\n") == 1
    assert "the sandbox needs starlette and uvicorn" in done.stderr
    assert "pip install 'chsm-checks[sandbox]'" in done.stderr
    assert not (tmp_path / "s").exists()
