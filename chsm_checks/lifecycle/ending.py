"""What a scenario leaves when it ends: its summary entry, with where its observations came from, and
the traceback of an exception nobody foresaw."""

from __future__ import annotations

import traceback

import pytest

from .. import stash
from ..checks.model import Finding
from ..errors import ChsmError
from ..evidence.store import ScenarioEvidence
from ..outcomes import Verdict
from ..services.run import RunServices
from .plan import scenario_entry
from .summary import ScenarioEntry


def evidence_of(item: pytest.Item, run: RunServices) -> ScenarioEvidence:
    """The scenario's evidence folder, made when first asked for."""
    if stash.EVIDENCE not in item.stash:
        info = item.stash[stash.SCENARIO]
        item.stash[stash.EVIDENCE] = ScenarioEvidence(run.settings.report_dir, info.feature_file, info.slug)
    return item.stash[stash.EVIDENCE]


def keep_traceback(item: pytest.Item, run: RunServices, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
    """The traceback of an unforeseen exception, as evidence of the scenario it ended (secrets the
    run knows of masked)."""
    text = "".join(traceback.format_exception(excinfo.value))
    for secret in sorted(run.secrets.known(), key=len, reverse=True):
        text = text.replace(secret, "REDACTED")
    evidence_of(item, run).add_text("traceback", text)


def entry_of(item: pytest.Item, run: RunServices, verdict: Verdict, duration: float) -> ScenarioEntry:
    """The scenario's entry in summary.json, its provenance added to its evidence."""
    info = item.stash[stash.SCENARIO]
    mode = run.settings.mode
    transcript = info.transcript if "hsm" in info.tags else None
    try:
        provenance = mode.scenario_provenance(info.cassette, transcript, run.identity.live_facts)
    except ChsmError as exc:  # e.g. the credential could not name its identity
        provenance = {"kind": mode.evidence, "problem": str(exc)}
    evidence = item.stash.get(stash.EVIDENCE, None)
    if evidence is not None:
        evidence.add_json("provenance", provenance, attach=False)
    findings: list[Finding] = item.stash.get(stash.FINDINGS, [])
    return scenario_entry(
        info,
        item.nodeid,
        verdict,
        duration,
        findings=findings,
        evidence=evidence.files if evidence is not None else (),
        provenance=provenance,
    )
