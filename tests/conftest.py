import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from tests.support.processes import Sandbox, SharedRun, project_copy, run_cli, sandbox_process

pytest_plugins = ["pytester"]

# Property tests are derandomized: CI and every developer see the same examples, and a failure is
# reproduced by running the test again. HYPOTHESIS_PROFILE=explore searches afresh (locally).
settings.register_profile("ci", derandomize=True, database=None, deadline=None, print_blob=True)
settings.register_profile("explore", deadline=None, max_examples=5_000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


# -- runs many tests read -------------------------------------------------------------------------
# A `chsm-checks run` costs seconds; tests that only read what a run left share one per session
# (one per pytest-xdist worker). A test that changes a run directory makes its own.


@pytest.fixture(scope="session")
def shipped_replay(tmp_path_factory: pytest.TempPathFactory) -> SharedRun:
    """The README's first command: the shipped suite replayed offline, HTML report included when the
    Allure 3 command line is installed. Read it; never change it."""
    reports = tmp_path_factory.mktemp("shipped-replay")
    result = run_cli("run", "--reports", str(reports), offline=True)
    return SharedRun(result, reports)


@pytest.fixture(scope="session")
def unmutated_live(tmp_path_factory: pytest.TempPathFactory) -> SharedRun:
    """The whole suite live against a fresh sandbox, without --allow-mutations. Read it; never change it."""
    tmp_path = tmp_path_factory.mktemp("unmutated-live")
    project = project_copy(tmp_path)
    with sandbox_process(project / ".sandbox") as sandbox:
        result = run_cli(
            "run", "--mode", "live", "--target", "targets/sandbox.toml", *sandbox.addressed, "--no-html",
            "--reports", str(tmp_path / "reports"), cwd=project,
        )  # fmt: skip
    return SharedRun(result, tmp_path / "reports")


# -- sandboxes tests talk to -----------------------------------------------------------------------


@pytest.fixture
def tls_sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    """A fresh sandbox serving HTTPS (``sandbox serve --tls``): ``.url`` is its https base URL,
    ``.ca_file`` the CA it printed. An Azure SDK client takes ``base_url=tls_sandbox.url`` and
    ``connection_verify=str(tls_sandbox.ca_file)``; httpx takes ``verify=tls_sandbox.ssl_context()``."""
    with sandbox_process(tmp_path / "tls-sandbox", tls=True) as sandbox:
        yield sandbox
