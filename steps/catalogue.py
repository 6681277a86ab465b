"""Steps for the configuration catalogue: read the environment, judge one check, publish its findings."""

from __future__ import annotations

from pytest_bdd import given, parsers, then

from chsm_checks import ArmClient, Environment, Finding, Judge, Target, expect


@given("the target's environment as ARM reports it", target_fixture="environment")
def environment(arm: ArmClient, target: Target) -> Environment:
    """Reads, from ARM, each resource the target names as the checks that follow ask for it (once each)."""
    return Environment(arm, target)


@then(parsers.parse('the "{check_id}" check holds for {subject}'))
def check_holds(
    environment: Environment, judge: Judge, findings: list[Finding], check_id: str, subject: str
) -> None:
    """Judges the catalogue's check (the README's catalogue lists them) on what ARM reported; the subject
    is words for the reader."""
    findings.extend(judge(check_id, environment))
    expect.findings_hold(findings)
