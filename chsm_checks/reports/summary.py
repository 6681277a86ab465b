"""``summary.json``: what ran, against what, and how each scenario ended."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..arm.versions import API_VERSIONS
from ..outcomes import Outcome
from ..services.settings import RunSettings
from ..version import VERSION


@dataclass(frozen=True)
class ScenarioEntry:
    feature: str
    feature_file: str
    name: str
    nodeid: str
    tags: tuple[str, ...]
    outcome: Outcome
    message: str
    cassette: str
    duration_seconds: float
    findings: tuple[dict[str, Any], ...] = ()
    rule: str | None = None
    expected: str = "supported"
    evidence: tuple[str, ...] = ()
    provenance: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """The entry as ``summary.json`` holds it (and as an xdist worker sends it)."""
        data: dict[str, Any] = asdict(self)
        data["tags"] = list(self.tags)
        data["findings"] = list(self.findings)
        data["outcome"] = self.outcome.value
        data["evidence"] = list(self.evidence)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ScenarioEntry:
        return cls(
            **{
                **data,
                "tags": tuple(data["tags"]),
                "findings": tuple(data["findings"]),
                "outcome": Outcome(data["outcome"]),
                "evidence": tuple(data["evidence"]),
            }
        )


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def write_summary(
    path: Path,
    run: RunSettings,
    waiver_notes: list[str],
    fleet: dict[str, Any] | None,
    entries: list[ScenarioEntry],
    exitstatus: int,
    collection_errors: list[str] | None = None,
    *,
    interrupted: str | None = None,
    selection: dict[str, Any] | None = None,
) -> None:
    """Write ``summary.json``; replayed scenarios carry their cassette's provenance.

    ``collection_errors`` names the test modules or features that could not be collected: their
    scenarios are missing from ``scenarios``, so the run is not a complete account. ``complete`` is
    false when anything was not collected, did not run, or the run was ``interrupted`` (and why).
    ``selection`` says what chose the scenarios (-k, -m) and how many it left out: a run that left
    some out is ``partial``, an account of what it selected and nothing more.
    """
    scenarios = [entry.to_json() for entry in entries]
    counts = {o.value: 0 for o in Outcome}
    for entry in entries:
        counts[entry.outcome.value] += 1
    summary = {
        "tool": "chsm-checks",
        "tool_version": VERSION,
        "run_id": path.parent.name,
        "mode": run.mode.name,
        "evidence": run.mode.evidence,
        "target": {
            "name": run.target.name,
            "path": run.target.path.as_posix(),
            "kind": run.target.kind,
            "cloud": run.target.cloud.name,
        },
        # What the person asked for: a replay sends nothing anywhere and replays what was recorded.
        "allow_mutations": run.allow_mutations_flag,
        "api_versions": dict(API_VERSIONS),
        "started": _utc(run.started_at),
        "finished": _utc(datetime.now(UTC)),
        "pytest_exit_status": int(exitstatus),
        "complete": not (collection_errors or interrupted or counts[Outcome.NOT_RUN.value]),
        "interrupted": interrupted,
        "partial": bool(selection and selection.get("deselected")),
        "selection": selection or {"keyword": None, "markers": None, "deselected": 0},
        "collection_errors": list(collection_errors or ()),
        "counts": counts,
        "waiver_notes": list(waiver_notes),
        "scenarios": scenarios,
    }
    if fleet is not None:
        summary["fleet"] = fleet
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
