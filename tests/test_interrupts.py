"""Nothing lost: a run stopped by Ctrl-C, SIGTERM or a crashed xdist worker still leaves a report
that says which scenarios ran and which did not, sealed, and marked incomplete."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.processes import (
    SANDBOX_CU_PASSWORD,
    Sandbox,
    child_environment,
    project_copy,
    run_cli,
    sandbox_process,
)


@pytest.fixture
def slow_drill(tmp_path: Path) -> Iterator[tuple[Path, Sandbox]]:
    """A project copy whose sandbox takes 30 s over a backup: long enough to stop a run inside it."""
    project = project_copy(tmp_path)
    with sandbox_process(project / ".sandbox", "--backup-seconds", "30") as sandbox:
        yield project, sandbox


def _start(project: Path, sandbox: Sandbox, *extra: str) -> subprocess.Popen[str]:
    env = child_environment() | {"CHSM_SANDBOX_CU_PASSWORD": SANDBOX_CU_PASSWORD}
    command = [sys.executable, "-m", "chsm_checks", "run", "--mode", "live", "--allow-mutations"]
    command += [
        "--target",
        "targets/sandbox.toml",
        *sandbox.addressed,
        "--reports",
        "reports",
        "--no-html",
        *extra,
    ]
    return subprocess.Popen(
        command, cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _wait_for(condition: Callable[[], bool], what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _backup_posted(sandbox: Sandbox) -> bool:
    return any(r["method"] == "POST" and r["path"].endswith("/backup") for r in sandbox.requests())


def _summary(project: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((project / "reports" / "latest" / "summary.json").read_text())
    return loaded


def _assert_a_complete_account(project: Path, summary: dict[str, Any], reason: str) -> None:
    assert summary["complete"] is False
    assert reason in summary["interrupted"]
    outcomes = {e["name"]: e["outcome"] for e in summary["scenarios"]}
    assert len(outcomes) == 44, "every planned scenario is accounted for"
    assert outcomes["A backup of the activated source cluster completes and yields a backup id"] == "error"
    assert "passed" in outcomes.values()
    assert "not_run" in outcomes.values()
    assert not [p.name for p in (project / "reports" / "latest").iterdir() if p.name.startswith(".")]
    verified = run_cli("verify", str(project / "reports" / "latest"))
    assert "INCOMPLETE" in verified.output.upper(), verified.output
    assert verified.returncode == 1


@pytest.mark.parametrize(("signum", "reason"), [(signal.SIGTERM, "SIGTERM"), (signal.SIGINT, "Ctrl-C")])
def test_a_stopped_run_says_which_scenarios_ran_and_seals_what_it_has(
    slow_drill: tuple[Path, Sandbox], signum: int, reason: str
) -> None:
    project, sandbox = slow_drill
    proc = _start(project, sandbox)
    _wait_for(lambda: _backup_posted(sandbox), "the backup POST")
    proc.send_signal(signum)
    stdout, stderr = proc.communicate(timeout=60)

    assert proc.returncode == 3, stdout + stderr
    assert "Traceback" not in stderr
    assert "stopped early" in stdout
    summary = _summary(project)
    _assert_a_complete_account(project, summary, reason)
    message = next(e["message"] for e in summary["scenarios"] if e["outcome"] == "error")
    assert "stopped while running" in message


_CRASH_ON_HANG = """
import os
import signal


def pytest_runtest_call(item):
    if os.environ.get("PYTEST_XDIST_WORKER") and "stops_answering" in item.nodeid:
        os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_crashed_worker_is_reported_and_the_rest_accounted_for(tmp_path: Path) -> None:
    project = project_copy(tmp_path)
    # A replay run over two workers; the worker that starts the hang scenario dies under it, by
    # SIGKILL, as the kernel's OOM killer would end it. The kill comes from a plugin inside the
    # worker, so it lands on that scenario however fast its replay is.
    (tmp_path / "crash_on_hang.py").write_text(_CRASH_ON_HANG)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen(
        [sys.executable, "-m", "chsm_checks", "run", "-n", "2", "--reports", "reports", "--no-html",
         "--", "-p", "crash_on_hang"],
        cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    stdout, stderr = proc.communicate(timeout=120)

    assert proc.returncode == 3, stdout + stderr
    # Once: the scenario it died on is not handed to the worker that replaces it.
    assert (stdout + stderr).count("a worker died while running") == 1, stdout + stderr
    summary = _summary(project)
    assert summary["complete"] is False
    assert "worker crashed" in summary["interrupted"]
    crashed = [e for e in summary["scenarios"] if "crashed while running" in e["message"]]
    hang = "A utility that stops answering ends as an error after its timeout"
    assert [e["name"] for e in crashed] == [hang]
    assert all(e["outcome"] == "error" for e in crashed)
    assert len(summary["scenarios"]) == 44
    verified = run_cli("verify", str(project / "reports" / "latest"))
    assert verified.returncode == 1, verified.output
    assert "INCOMPLETE" in verified.output.upper()
