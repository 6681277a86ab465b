"""A live ``chsm-checks run`` against a real sandbox process, for tests of what the reports say."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.support.processes import CliResult, project_copy, run_cli, sandbox_process


def live_run(
    tmp_path: Path,
    *run_args: str,
    profile: str | None = None,
    arm_faults: list[dict[str, Any]] | None = None,
    prepare: Callable[[Path], None] | None = None,
) -> tuple[CliResult, Path]:
    """Run a copy of the project's features (changed by ``prepare`` first) live against a fresh
    sandbox (``--profile``, with ``arm_faults`` injected); the result and the sealed run directory."""
    project = project_copy(tmp_path)
    if prepare is not None:
        prepare(project)
    with sandbox_process(project / ".sandbox", *(["--profile", profile] if profile else [])) as sandbox:
        if arm_faults:
            httpx.post(f"{sandbox.url}/_sandbox/arm-faults", json=arm_faults, timeout=30).raise_for_status()
        reports = tmp_path / "reports"
        result = run_cli(
            "run", "--mode", "live", "--target", "targets/sandbox.toml", *sandbox.addressed,
            "--reports", str(reports),
            *run_args, cwd=project,
        )  # fmt: skip
    return result, (reports / "latest").resolve()


def load_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))
