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


def _worker_running(root: int, fragment: str) -> int | None:
    """The pid of the xdist worker (a descendant of ``root``) whose child's command line holds
    ``fragment``: the worker replaying that scenario's utility session right now."""
    parents: dict[int, int] = {}
    commands: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            commands[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    for pid, command in commands.items():
        if fragment not in command:
            continue
        worker, ancestor = parents.get(pid), parents.get(pid)
        while ancestor and ancestor != root:
            worker, ancestor = ancestor, parents.get(ancestor)
        if ancestor == root and worker is not None:
            return worker if parents.get(worker) == root else _child_of(root, pid, parents)
    return None


def _child_of(root: int, pid: int, parents: dict[int, int]) -> int:
    """The ancestor of ``pid`` whose parent is ``root``."""
    while parents[pid] != root:
        pid = parents[pid]
    return pid


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


def test_a_crashed_worker_is_reported_and_the_rest_accounted_for(tmp_path: Path) -> None:
    project = project_copy(tmp_path)
    # A replay run over two workers; the worker replaying the hang scenario is killed under it.
    proc = subprocess.Popen(
        [sys.executable, "-m", "chsm_checks", "run", "-n", "2", "--reports", "reports", "--no-html"],
        cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    hang = "a_utility_that_stops_answering"
    _wait_for(lambda: _worker_running(proc.pid, hang) is not None, "the worker running the hang")
    worker = _worker_running(proc.pid, hang)
    assert worker is not None
    os.kill(worker, signal.SIGKILL)
    stdout, stderr = proc.communicate(timeout=120)

    assert proc.returncode == 3, stdout + stderr
    summary = _summary(project)
    assert summary["complete"] is False
    assert "worker crashed" in summary["interrupted"]
    crashed = [e for e in summary["scenarios"] if "crashed while running" in e["message"]]
    assert crashed
    assert all(e["outcome"] == "error" for e in crashed)
    assert len(summary["scenarios"]) == 44
    verified = run_cli("verify", str(project / "reports" / "latest"))
    assert verified.returncode == 1, verified.output
    assert "INCOMPLETE" in verified.output.upper()
