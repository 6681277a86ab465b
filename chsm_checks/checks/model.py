"""Findings: one per resource a check looked at, each a sentence naming that resource."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from ..outcomes import Outcome

if TYPE_CHECKING:
    from .waiver import Waiver


@dataclass(frozen=True)
class Finding:
    """What one check concluded about one resource."""

    check_id: str
    resource_id: str
    status: Outcome  # never NOT_RUN: a finding is something a check concluded
    message: str
    observed: Mapping[str, Any] = field(default_factory=dict)
    waiver: Waiver | None = None
    # The named conditions the check judged on the way (``public-network-access-disabled``), each
    # as it was found: a framework requirement mapped to a condition is claimed only from these.
    holds: Mapping[str, bool] = field(default_factory=dict)
    # A severity below the check's own, when the check says the target does not require what it
    # found missing (``storage.immutability`` on a target that only advises it); None: the check's.
    severity: str | None = None

    @property
    def resource_name(self) -> str:
        return self.resource_id.rstrip("/").rsplit("/", 1)[-1]

    def waived_by(self, waiver: Waiver) -> Finding:
        """This failed finding, waived: it stays visible, marked, with the waiver's fields."""
        return replace(self, status=Outcome.WAIVED, waiver=waiver)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "check": self.check_id,
            "resource": self.resource_id,
            "status": self.status.value,
            "message": self.message,
        }
        if self.observed:
            data["observed"] = dict(self.observed)
        if self.holds:
            data["holds"] = dict(self.holds)
        if self.waiver is not None:
            data["waiver"] = self.waiver.to_json()
        if self.severity is not None:
            data["severity"] = self.severity
        return data

    def judging(self, **holds: bool) -> Finding:
        """This finding, saying which named conditions it judged and how they were found."""
        return replace(self, holds={**self.holds, **{k.replace("_", "-"): v for k, v in holds.items()}})


def passed(check_id: str, resource_id: str, message: str, **observed: Any) -> Finding:
    return Finding(check_id, resource_id, Outcome.PASSED, message, observed)


def failed(check_id: str, resource_id: str, message: str, **observed: Any) -> Finding:
    return Finding(check_id, resource_id, Outcome.FAILED, message, observed)


def advised(check_id: str, resource_id: str, message: str, **observed: Any) -> Finding:
    """A failed finding of low severity: what the target advises, not requires, is missing."""
    return Finding(check_id, resource_id, Outcome.FAILED, message, observed, severity="low")


def error(check_id: str, resource_id: str, message: str) -> Finding:
    return Finding(check_id, resource_id, Outcome.ERROR, message)


def not_applicable(check_id: str, resource_id: str, message: str) -> Finding:
    return Finding(check_id, resource_id, Outcome.NOT_APPLICABLE, message)
