"""``restore.rto`` live: the backup, restore and restore validation run against the real sandbox on its
recorded clock. As seeded, the drill recovers within the target's RTO; once ``PATCH /_sandbox/jobs``
makes restores take longer than it, exactly ``restore.rto`` fails and every other scenario ends as before.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.support.processes import Sandbox, project_copy, run_cli, sandbox_process, summary

DRILL = ("-k", "not refused and not may_not_write", "--", "-m",
         "cloudhsm-backup-restore or cloudhsm-restore-validation")  # fmt: skip
RTO = "The drill recovers the destination within the target's RTO"
# The sandbox target's RTO is 2 minutes; on the recorded clock a restore of 130 s outlasts it.
SLOW_RESTORE_SECONDS = 130


def _as_seeded(sandbox: Sandbox) -> None:
    """The compliant world, unchanged."""


def _slow_restores(sandbox: Sandbox) -> None:
    answered = httpx.patch(f"{sandbox.url}/_sandbox/jobs", json={"restore_seconds": SLOW_RESTORE_SECONDS})
    answered.raise_for_status()


def _drill(tmp_path: Path, change: Callable[[Sandbox], None]) -> tuple[dict[str, str], dict[str, Any]]:
    """Each drill scenario's outcome, and the run's recovery time, live on a sandbox after ``change``."""
    project = project_copy(tmp_path)
    with sandbox_process(project / ".sandbox", "--clock", "recorded") as sandbox:
        target = project / "targets" / "sandbox.toml"
        target.write_text(
            target.read_text(encoding="utf-8").replace(
                "poll_interval_seconds = 1", "poll_interval_seconds = 0.05"
            ),
            encoding="utf-8",
        )
        change(sandbox)
        result = run_cli(
            "run", "--mode", "live", "--allow-mutations", "--target", "targets/sandbox.toml", "--no-html",
            *sandbox.addressed, "--reports", str(tmp_path / "reports"), *DRILL, cwd=project,
        )  # fmt: skip
    ran = summary(tmp_path / "reports")
    assert ran["complete"] is True, result.output
    return {entry["name"]: entry["outcome"] for entry in ran["scenarios"]}, ran["recovery_time"]


def test_restores_slower_than_the_rto_fail_exactly_the_recovery_time_check(tmp_path: Path) -> None:
    compliant, in_time = _drill(tmp_path / "compliant", _as_seeded)
    slow, late = _drill(tmp_path / "slow", _slow_restores)

    assert compliant[RTO] == "passed"
    assert set(compliant.values()) == {"passed"}, compliant
    assert slow == compliant | {RTO: "failed"}
    assert (in_time["measured"], in_time["outcome"], in_time["rto_minutes"]) == ("live", "passed", 2)
    assert in_time["minutes_to_active"] < 2
    # The destination reads Active once the 130 s restore has ended, and is validated after that.
    assert (late["measured"], late["outcome"]) == ("live", "failed")
    assert SLOW_RESTORE_SECONDS / 60 <= late["minutes_to_active"] <= late["minutes_to_validated"]
