"""Which controls a run's evidence claims, and each control's verdict: one rule for every report.

A finding claims the controls its check maps to; a mapping that names one of the check's conditions
(``public-network-access-disabled``) is claimed only if the finding judged that condition, and the
evidence it gives that control is the condition's truth, not the finding's verdict. A scenario
without findings claims the controls it is tagged with. A scenario that tests the harness itself
(tagged ``self-check``: injected faults, refusals the harness provokes) claims none.

A control is *satisfied* only when every piece of evidence for it passed (or was waived, on the
record); one error, failure or scenario that did not run makes it *not satisfied*; one that was not
applicable leaves it *not assessed*, with the reason.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from ..checks.catalogue import Catalogue, ControlRef
from ..lifecycle.summary import FindingRecord, RunSummary, ScenarioEntry, WaiverRecord

SELF_CHECK = "self-check"
_NOT_EVALUATED = ("error", "not_run")


@dataclass(frozen=True)
class Claim:
    """Evidence one observation gives one control: the status it shows for that control."""

    ref: ControlRef
    status: str


@dataclass(frozen=True)
class Evidence:
    """One observation as a control's verdict reads it."""

    label: str  # "check on resource", or the scenario's name
    status: str  # passed, failed, error, not_applicable, waived, not_run
    message: str
    waiver: WaiverRecord | None = None


@dataclass(frozen=True)
class Verdict:
    """``state`` is ``satisfied``, ``not-satisfied`` or ``not-assessed``; ``reason`` is OSCAL's."""

    state: str
    reason: str
    remarks: str

    @property
    def oscal_state(self) -> str:
        """OSCAL knows only satisfied and not-satisfied: not assessed is the latter, said in the remarks."""
        return "satisfied" if self.state == "satisfied" else "not-satisfied"


def is_self_check(scenario: ScenarioEntry) -> bool:
    return SELF_CHECK in scenario.tags


def tagged_controls(scenario: ScenarioEntry, catalogue: Catalogue) -> tuple[ControlRef, ...]:
    return tuple(catalogue.controls[t] for t in scenario.tags if t in catalogue.controls)


def finding_claims(
    scenario: ScenarioEntry, finding: FindingRecord, catalogue: Catalogue
) -> tuple[Claim, ...]:
    """The controls ``finding`` gives evidence for, each with the status it shows for that control."""
    if is_self_check(scenario):
        return ()
    check, status = finding.check, str(finding.status)
    refs = catalogue[check].controls if check in catalogue else tagged_controls(scenario, catalogue)
    holds = finding.holds or {}
    claims = []
    for ref in refs:
        if ref.condition is None:
            claims.append(Claim(ref, status))
        elif ref.condition in holds and status in ("passed", "failed", "waived"):
            held = bool(holds[ref.condition])
            claims.append(Claim(ref, "passed" if held else ("waived" if status == "waived" else "failed")))
        elif ref.condition in holds:
            claims.append(Claim(ref, status))  # not evaluated, so the condition's value says nothing
        # a condition the finding did not judge: the finding claims nothing of that control
    return tuple(claims)


def scenario_claims(scenario: ScenarioEntry, catalogue: Catalogue) -> tuple[Claim, ...]:
    """The controls a scenario's own outcome gives evidence for (by its tags)."""
    if is_self_check(scenario):
        return ()
    return tuple(Claim(ref, str(scenario.outcome)) for ref in tagged_controls(scenario, catalogue))


@dataclass
class ControlEvidence:
    """What a control's verdict and its reports need of its evidence, gathered a piece at a time:
    how many showed each status, and the pieces that did not pass (a pass is only counted, so a
    fleet's hundreds of thousands of passing observations are not held). ``observations`` names each
    piece's observation, when the caller gives one (OSCAL's related observations)."""

    counts: Counter[str] = field(default_factory=Counter)
    unpassed: list[Evidence] = field(default_factory=list)
    observations: list[str] = field(default_factory=list)

    def add(self, evidence: Evidence, observation: str | None = None) -> None:
        self.counts[evidence.status] += 1
        if evidence.status != "passed":
            self.unpassed.append(evidence)
        if observation is not None:
            self.observations.append(observation)

    def __len__(self) -> int:
        return sum(self.counts.values())

    def verdict(self) -> Verdict:
        return verdict(self.unpassed, passed=self.counts["passed"])

    def tally(self) -> str:
        """``3 failed, 97 passed``: how many pieces showed each status, in the statuses' order."""
        return ", ".join(f"{n} {status.replace('_', ' ')}" for status, n in sorted(self.counts.items()))


def verdict(evidence: Iterable[Evidence], *, passed: int = 0) -> Verdict:
    """A control's verdict from every piece of evidence for it; ``passed`` more pieces that passed
    may be counted rather than given (a pass is never named in a verdict's remarks)."""
    pieces = list(evidence)

    def listing(*statuses: str) -> list[str]:
        return [
            f"{e.label} ({e.status.replace('_', ' ')}{': ' + e.message if e.message else ''})"
            for e in pieces
            if e.status in statuses
        ]

    unevaluated, failed = listing(*_NOT_EVALUATED), listing("failed")
    if unevaluated or failed:
        lines = []
        if unevaluated:
            lines.append("Could not evaluate: " + "; ".join(unevaluated) + ".")
        if failed:
            lines.append("Failed: " + "; ".join(failed) + ".")
        return Verdict("not-satisfied", "other" if unevaluated else "fail", " ".join(lines))
    inapplicable = listing("not_applicable")
    if inapplicable or not (pieces or passed):
        return Verdict(
            "not-assessed",
            "other",
            "Not assessed in this run: not every scenario evidencing it ran. "
            + ("; ".join(inapplicable) + "." if inapplicable else "No evidence."),
        )
    waived = [e for e in pieces if e.status == "waived"]
    known = {"passed", "waived"}
    strange = [e for e in pieces if e.status not in known]
    if strange:
        return Verdict(
            "not-satisfied",
            "other",
            "Unknown outcome: " + "; ".join(f"{e.label} ({e.status})" for e in strange),
        )
    if waived:
        unnamed = [e.label for e in waived if not e.waiver]
        if unnamed:
            return Verdict(
                "not-satisfied", "other", "Waived without a waiver on record: " + "; ".join(unnamed) + "."
            )
        return Verdict(
            "satisfied",
            "other",
            "Satisfied under waiver. "
            + " ".join(waiver_sentence(e.label, e.waiver) for e in waived if e.waiver),
        )
    return Verdict("satisfied", "pass", f"Every related observation passed ({len(pieces) + passed}).")


def waiver_sentence(what: str, waiver: WaiverRecord) -> str:
    ticket = f", ticket {waiver.ticket}" if waiver.ticket else ""
    return (
        f"Waiver: {what} waived by {waiver.approver} (approved {waiver.approved_on}, "
        f"expires {waiver.expires}{ticket}): {waiver.justification}"
    )


def _implied_outcome(findings: Sequence[FindingRecord]) -> str:
    statuses = {str(f.status) for f in findings}
    for status in ("error", "failed", "waived"):
        if status in statuses:
            return status
    return "not_applicable" if statuses == {"not_applicable"} else "passed"


def observations(
    scenario: ScenarioEntry, catalogue: Catalogue
) -> list[tuple[FindingRecord | None, Evidence, tuple[Claim, ...]]]:
    """A scenario's observations as reports show them: one per finding (``None`` for the scenario's
    own, when it has no findings or its outcome is not what its findings imply), each with its claims."""
    found: list[tuple[FindingRecord | None, Evidence, tuple[Claim, ...]]] = []
    findings = scenario.findings
    for finding in findings:
        resource = finding.resource.rstrip("/").rsplit("/", 1)[-1]
        evidence = Evidence(
            f"{finding.check} on {resource}", str(finding.status), finding.message, finding.waiver
        )
        found.append((finding, evidence, finding_claims(scenario, finding, catalogue)))
    if not findings or scenario.outcome != _implied_outcome(findings):
        evidence = Evidence(scenario.name, str(scenario.outcome), scenario.message)
        found.append((None, evidence, scenario_claims(scenario, catalogue)))
    return found


def run_verdicts(
    summary: RunSummary, catalogue: Catalogue
) -> list[tuple[ControlRef, Verdict, ControlEvidence]]:
    """Every control the run's evidence claims, in framework then mapping-file order, with its verdict
    (the summary's scenarios gone through once)."""
    linked: dict[tuple[str, str], ControlEvidence] = {}
    for scenario in summary.scenarios:
        for _, evidence, claims in observations(scenario, catalogue):
            for claim in claims:
                linked.setdefault((claim.ref.framework, claim.ref.control_id), ControlEvidence()).add(
                    Evidence(evidence.label, claim.status, evidence.message, evidence.waiver)
                )
    return [
        (ref, gathered.verdict(), gathered) for ref, gathered in in_catalogue_order(linked, catalogue).items()
    ]


def in_catalogue_order(
    linked: Mapping[tuple[str, str], ControlEvidence], catalogue: Catalogue
) -> dict[ControlRef, ControlEvidence]:
    """``linked`` (by framework and control id) by control, in framework then mapping-file order."""
    return {
        framework.ref(control_id): linked[(name, control_id)]
        for name, framework in catalogue.frameworks.items()
        for control_id in framework.controls
        if (name, control_id) in linked
    }
