"""What the Then steps assert, as sentences a reviewer can read in a report.

A failed expectation raises ``AssertionError`` (a finding). A refusal because mutations are not
allowed makes the scenario not applicable, with the reason: the rule held, nothing was checked.
"""

from __future__ import annotations

import re

from .arm.client import ArmClient
from .arm.lro import OperationResult
from .arm.snapshots import ClusterSnapshot
from .guard import Refusal, RefusalReason
from .outcomes import not_applicable

BACKUP_ID = re.compile(
    r"^cloudhsm-[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}-\d+$"
)


def operation_sent(outcome: OperationResult | Refusal) -> OperationResult:
    """The operation's result; a refusal here means the scenario could not do what it states."""
    if isinstance(outcome, Refusal):
        if outcome.reason is RefusalReason.MUTATIONS_NOT_ALLOWED:
            not_applicable(outcome.message)
        raise AssertionError(f"the {outcome.operation} was refused: {outcome.message}")
    return outcome


def ends_with_status(outcome: OperationResult | Refusal, status: str) -> OperationResult:
    result = operation_sent(outcome)
    why = f" ({result.error.code}: {result.error.message})" if result.error else ""
    assert result.status == status, f"the {result.operation} ended {result.status!r}, not {status!r}{why}"
    return result


def did_not_succeed(outcome: OperationResult | Refusal) -> OperationResult:
    result = operation_sent(outcome)
    assert not result.succeeded, f"the {result.operation} succeeded but the service should have refused it"
    return result


def has_backup_id(result: OperationResult) -> str:
    backup_id = result.backup_id
    assert backup_id is not None, "the backup result carries no backupId"
    assert BACKUP_ID.match(backup_id), f"backupId {backup_id!r} is not of the form cloudhsm-<uuid>-<digits>"
    return backup_id


def has_error_code(result: OperationResult) -> str:
    code = result.error.code if result.error is not None else ""
    assert code, f"the {result.operation} ended {result.status!r} without an error code from the service"
    return code


def activation_is(cluster: ClusterSnapshot, expected: str) -> None:
    assert cluster.activation_state == expected, (
        f"cluster {cluster.name} reads activationState {cluster.activation_state!r}, not {expected!r}"
    )


def refused_as(outcome: OperationResult | Refusal, reason: str) -> Refusal:
    assert isinstance(outcome, Refusal), (
        f"the {outcome.operation} was sent and ended {outcome.status!r}; it should have been refused"
    )
    assert outcome.reason.value == reason, f"refused as {outcome.reason.value!r}, not {reason!r}"
    return outcome


def nothing_sent(arm: ArmClient) -> None:
    assert not arm.exchanges, "requests were sent: " + ", ".join(
        f"{e.method} {e.url.split('?')[0]}" for e in arm.exchanges
    )


def no_request(arm: ArmClient, method: str, path_fragment: str) -> None:
    count = arm.count(method, path_fragment)
    assert count == 0, f"{count} {method} request(s) to …{path_fragment} were sent"
