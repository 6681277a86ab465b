"""Steps for a fleet audit: one discovered cluster, judged on the checks the scenario lists."""

from __future__ import annotations

from pytest_bdd import given, then

from chsm_checks import (
    CouldNotEvaluate,
    Finding,
    FleetRun,
    FleetUnavailable,
    Judge,
    MemberScope,
    ScenarioEvidence,
    Scrubber,
    expect,
    judged_findings,
)


@given("a cluster discovered in the fleet", target_fixture="cluster")
def cluster(fleet_member: MemberScope | FleetUnavailable) -> MemberScope:
    """Hands on one cluster the fleet discovery found; if discovery could not list the fleet, the scenario is
    an error with the reason."""
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
    """Judges each check the table lists on the cluster (waivers applied), publishes the findings, and keeps
    the cluster's listing and reads as evidence."""
    checks = [row[0] for row in datatable[1:]]
    result = fleet.result(cluster, checks, judge)
    evidence.add_json("fleet-cluster", fleet.evidence(result, scrubber), compact=True)
    findings.extend(judged_findings(result))
    expect.findings_hold(findings)
