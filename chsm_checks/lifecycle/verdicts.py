"""How a pytest result becomes a scenario's outcome, and what a recording keeps.

Only a judgement (``ExpectationNotMet``, raised by :mod:`chsm_checks.expect`) makes a finding; any
other exception, an ``assert`` in library code included, means the scenario could not be evaluated.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from ..checks.model import Finding
from ..errors import ExpectationNotMet
from ..outcomes import Outcome, Verdict


def verdict_of(report: pytest.TestReport, call: pytest.CallInfo[None]) -> Verdict | None:
    """The outcome one phase of a scenario gives (``None``: this phase says nothing)."""
    excinfo = call.excinfo
    if report.skipped and excinfo is not None:
        return Verdict(Outcome.NOT_APPLICABLE, str(getattr(excinfo.value, "msg", excinfo.value)))
    if report.failed and excinfo is not None:
        exc = excinfo.value
        if report.when == "call" and isinstance(exc, ExpectationNotMet):
            return Verdict(Outcome.FAILED, str(exc).strip())
        lines = str(exc).strip().splitlines()
        if type(exc).__name__ == "StepDefinitionNotFoundError":  # the plugin's message says what it is
            return Verdict(Outcome.ERROR, lines[0])
        return Verdict(Outcome.ERROR, f"{type(exc).__name__}: {lines[0] if lines else ''}".rstrip(": "))
    if report.passed and report.when == "call":
        return Verdict(Outcome.PASSED)
    return None


def with_waivers(verdict: Verdict | None, findings: Sequence[Finding]) -> Verdict | None:
    """A pass that rests on waived findings is *waived*, naming them."""
    waived = [f for f in findings if f.status is Outcome.WAIVED]
    if verdict is not None and verdict.outcome is Outcome.PASSED and waived:
        return Verdict(Outcome.WAIVED, "; ".join(f"{f.message} (waived)" for f in waived))
    return verdict


def settled(previous: Verdict | None, verdict: Verdict | None) -> Verdict | None:
    """The scenario's outcome so far: a later phase's verdict replaces only a pass (a teardown that
    fails after a passing call makes the scenario an error; a failure stays a failure)."""
    if verdict is not None and (previous is None or previous.outcome is Outcome.PASSED):
        return verdict
    return previous


def junit_properties(findings: Sequence[Finding]) -> list[tuple[str, str]]:
    """What CI systems read from junit.xml: every finding that is not a plain pass, waivers included
    (reports.junit moves them to the suite's properties and the test's output, for junit-10.xsd)."""
    properties = []
    for f in findings:
        if f.status is not Outcome.PASSED:
            waiver = f" [waived by {f.waiver.approver} until {f.waiver.expires:%Y-%m-%d}]" if f.waiver else ""
            properties.append((f"{f.status.value}:{f.check_id}", f"{f.message}{waiver}"))
    return properties


def keeps_recording(verdict: Verdict | None, path: Path) -> bool:
    """Whether a recording run writes a scenario's recording: errors leave none, and a not-applicable
    scenario never replaces an existing one."""
    outcome = verdict.outcome if verdict is not None else Outcome.NOT_RUN
    if outcome is Outcome.NOT_APPLICABLE:
        return not path.exists()
    return outcome in (Outcome.PASSED, Outcome.FAILED)
