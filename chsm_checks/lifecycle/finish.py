"""The end of a run, after pytest: refused or not, the summary said on the terminal, the reports
built, the bundle sealed, and ``reports/latest`` pointed at it."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ..errors import ChsmError
from ..outcomes import EXIT_NOT_EVALUATED, EXIT_USAGE, exit_code, fail
from .ledger import RunLedger
from .summary import RunSummary, Signing

if TYPE_CHECKING:
    from ..evidence.bundle import SigningKey

_USAGE_ERROR, _NO_TESTS_COLLECTED = pytest.ExitCode.USAGE_ERROR, pytest.ExitCode.NO_TESTS_COLLECTED
_INTERRUPTED = pytest.ExitCode.INTERRUPTED


def new_run_dir(reports: Path, mode: str) -> Path:
    """A new run directory: when, in what mode, and a random part, so that runs started in the same
    second on different machines (shards to be merged) never share a name."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    while True:
        candidate = reports / f"{stamp}-{mode}-{secrets.token_hex(3)}"
        if not candidate.exists():
            candidate.mkdir(parents=True)
            return candidate


def point_latest(reports: Path, run_dir: Path) -> None:
    """``reports/latest`` names the newest *sealed* run: a run refused for bad input leaves no
    directory, and one stopped before sealing keeps its own, so ``latest`` always has a seal to check."""
    latest = reports / "latest"
    tmp = reports / f".latest.{os.getpid()}"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(run_dir.name, target_is_directory=True)
    os.replace(tmp, latest)


def record_signing(summary_path: Path, key: SigningKey) -> None:
    """Say in summary.json (and so in the reports built from it) how the bundle will be sealed."""
    RunSummary.amend(summary_path, signing=Signing(trusted=key.trusted, statement=key.statement))


def trust_note(key: SigningKey) -> str:
    advice = "" if key.trusted else "; pass --signing-key or --signing-key-env to sign with a trusted key"
    return key.statement + advice


def seal(run_dir: Path, key: SigningKey) -> None:
    """Write the run's manifest and sign it: the last write to a run directory."""
    from ..evidence.bundle import sign

    sign(run_dir, key)
    print(f"chsm-checks: sealed {run_dir}: {trust_note(key)}")


def say_notes(notes: list[str]) -> None:
    for note in notes:
        print(f"chsm-checks: {note}")


@contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """SIGTERM (a CI job cancelled, a container stopped) ends the run as Ctrl-C does: the scenario in
    flight stops, the rest are recorded as not run, and the reports and seal are still written."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt("SIGTERM")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def finish_run(
    run_dir: Path,
    status: int,
    ledger: RunLedger,
    *,
    key: SigningKey,
    mode: str,
    target_name: str,
    build: Callable[[Path], list[str]],
) -> int:
    """Turn what pytest left in ``run_dir`` into a sealed bundle, and give the run's exit code.

    A run that refused to start, or whose features could not be collected, leaves no run directory
    (and ``reports/latest`` stays where it was). ``build`` writes the reports from summary.json.
    """
    if status in (_USAGE_ERROR, _NO_TESTS_COLLECTED) or ledger.refusal is not None:
        shutil.rmtree(run_dir)
        return fail(ledger.refusal) if ledger.refusal else EXIT_USAGE
    summary_path = run_dir / "summary.json"
    try:
        summary = RunSummary.read_header(summary_path) if summary_path.is_file() else None
    except ChsmError as exc:
        return fail(str(exc), EXIT_NOT_EVALUATED)
    if (summary and summary.collection_errors) or (
        status == _INTERRUPTED and not (summary and sum(summary.counts.values()))
    ):
        shutil.rmtree(run_dir)
        return fail("the features could not be collected (see the errors above)")
    if summary is None:
        return fail(f"{summary_path}: the run wrote no summary (pytest exit {status})", EXIT_NOT_EVALUATED)
    counts = summary.counts
    shown = ", ".join(
        f"{n} {k.replace('_', ' ')}" for k, n in counts.items() if n or k in ("passed", "failed")
    )
    print(f"chsm-checks: {summary.evidence} {mode} run of {target_name}: {shown}; reports in {run_dir}")
    if summary.interrupted:
        print(
            f"chsm-checks: the run stopped early ({summary.interrupted}); {counts['not_run']} "
            "scenario(s) did not run. The reports say which, and the bundle is marked incomplete"
        )
    try:
        with sigterm_interrupts():
            record_signing(summary_path, key)
            say_notes(build(run_dir))
            seal(run_dir, key)
    except ChsmError as exc:
        return fail(str(exc), EXIT_NOT_EVALUATED)
    except KeyboardInterrupt as exc:
        return fail(
            f"{run_dir}: interrupted ({exc or 'Ctrl-C'}) while building the reports; summary.json is "
            f"complete; finish them with: chsm-checks report {run_dir}",
            EXIT_NOT_EVALUATED,
        )
    point_latest(run_dir.parent, run_dir)
    if status == _INTERRUPTED or summary.interrupted:
        return EXIT_NOT_EVALUATED
    return exit_code(counts)
