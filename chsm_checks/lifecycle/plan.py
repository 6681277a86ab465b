"""What a run plans before anything runs: whether it may start at all, and each scenario's entry."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ..checks.model import Finding
from ..errors import ConfigError
from ..outcomes import Verdict
from ..recording.replayable import require_replayable
from ..scenarios import ScenarioInfo
from ..services.settings import RunSettings
from ..suite import evidence_path
from .summary import FindingRecord, ScenarioEntry


def target_mismatch(settings: RunSettings, info: ScenarioInfo) -> str | None:
    """Why ``info`` cannot run against the run's target (a fleet feature for a single target, or the
    other way round), if it cannot."""
    if ("fleet" in info.tags) == settings.is_fleet:
        return None
    kind = "a fleet target" if settings.is_fleet else "a backup/restore target"
    return (
        f"{settings.target.path}: {kind} cannot run {info.feature_file}; "
        "chsm-checks run picks the features that fit the target"
    )


def recordings_problem(settings: RunSettings, infos: Iterable[ScenarioInfo]) -> str | None:
    """Why the selected scenarios cannot run from recordings, if the run's mode needs them: one is
    missing, or damaged (a damaged recording stops the run before anything runs)."""
    wanted: list[Path] = []
    for info in infos:
        wanted += settings.mode.required_recordings(
            info.cassette, info.transcript if "hsm" in info.tags else None
        )
    missing = [path for path in wanted if not path.is_file()]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        return f"{missing[0]}: recording not found{more}; record it with --mode record"
    try:
        require_replayable(wanted, settings.cassette_dir)
    except ConfigError as exc:
        return str(exc)
    return None


def drill_refusal(target_path: Path, problems: Sequence[str]) -> str | None:
    """The line that refuses a drill whose prerequisites are missing (nothing has been sent)."""
    if not problems:
        return None
    return (
        f"{target_path}: the drill cannot start, and nothing was sent: "
        + "; ".join(problems)
        + " (a restore activates the destination for good: every prerequisite is checked first; "
        "deselect the drill with -k to run the rest)"
    )


def scenario_entry(
    info: ScenarioInfo,
    nodeid: str,
    verdict: Verdict,
    duration: float,
    *,
    findings: Sequence[Finding] = (),
    evidence: Sequence[str] = (),
    provenance: dict[str, Any] | None = None,
) -> ScenarioEntry:
    """A scenario as summary.json holds it."""
    return ScenarioEntry(
        findings=tuple(FindingRecord.model_validate(f.to_json()) for f in findings),
        feature=info.feature,
        feature_file=info.feature_file,
        name=info.title,
        nodeid=nodeid,
        tags=info.tags,
        outcome=verdict.outcome,
        message=verdict.message,
        cassette=evidence_path(info.cassette),
        duration_seconds=round(duration, 3),
        rule=info.rule,
        expected=info.expected,
        evidence=tuple(evidence),
        provenance=provenance,
    )
