"""Steps for a fleet audit: one discovered cluster, judged on the checks the scenario lists."""

from __future__ import annotations

from pytest_bdd import given, then

from chsm_checks import expect
from chsm_checks.checks.model import Finding
from chsm_checks.errors import CouldNotEvaluate
from chsm_checks.evidence.store import ScenarioEvidence
from chsm_checks.fleet.audit import MemberScope
from chsm_checks.fleet.run import FleetRun, FleetUnavailable, judged_findings
from chsm_checks.recording import Scrubber
from chsm_checks.services.judge import Judge


@given("a cluster discovered in the fleet", target_fixture="cluster")
def cluster(fleet_member: MemberScope | FleetUnavailable) -> MemberScope:
    if isinstance(fleet_member, FleetUnavailable):
        raise CouldNotEvaluate(fleet_member.reason)
    return fleet_member


@then("these checks hold for the cluster:")
def checks_hold(
    cluster: MemberScope,
    fleet: FleetRun,
    judge: Judge,
    scrubber: Scrubber,
    findings: list[Finding],
    evidence: ScenarioEvidence,
    datatable: list[list[str]],
) -> None:
    checks = [row[0] for row in datatable[1:]]
    result = fleet.result(cluster, checks, judge)
    evidence.add_json("fleet-cluster", fleet.evidence(result, scrubber), compact=True)
    findings.extend(judged_findings(result))
    expect.findings_hold(findings)
