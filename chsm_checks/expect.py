"""What the Then steps assert, as sentences a reviewer can read in a report.

A failed expectation raises ``AssertionError`` (a finding). A refusal because mutations are not
allowed makes the scenario not applicable, with the reason: the rule held, nothing was checked.
"""

from __future__ import annotations

import re

from .arm.client import ArmClient
from .arm.lro import OperationResult
from .arm.snapshots import ClusterSnapshot
from .checks.model import Finding, Status
from .errors import CouldNotEvaluate
from .guard import Refusal, RefusalReason
from .hsm.drill import UserView
from .hsm.errors import HsmSessionError
from .hsm.inventory import KeyInventory
from .hsm.parsers import KeyUtilResult
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


def no_findings(findings: list[str]) -> None:
    """Every finding, in one message; none expected."""
    assert not findings, "; ".join(findings)


def finding_mentions(findings: list[str], text: str) -> None:
    assert any(text in f for f in findings), (
        f"no finding mentions {text.strip()!r}: {findings or 'none at all'}"
    )


def usable_source_inventory(keys: KeyInventory, users: UserView) -> None:
    """An inventory worth comparing against: a successful login, keys, and a crypto user."""
    assert keys.login.ok, f"the crypto user could not log in to the source: 0x{keys.login.returned.code:02x}"
    assert keys.keys, "the crypto user sees no keys on the source: there is nothing to prove a restore with"
    crypto_users = [u for listing in users.users.by_server.values() for u in listing if u.user_type == "CU"]
    assert crypto_users, "the source lists no crypto user"


def refused_login(result: KeyUtilResult, code: int) -> None:
    assert result.returned.code == code, (
        f"loginHSM returned 0x{result.returned.code:02x} ({result.returned.message}), not 0x{code:02x}"
    )
    wrong = [n for n in result.nodes if n.code & 0xFF != code]
    assert result.nodes, "the login printed no node lines"
    assert not wrong, "nodes answered otherwise: " + ", ".join(
        f"node {n.node_id} 0x{n.code:x}" for n in wrong
    )


def timed_out(outcome: object, command: str) -> None:
    assert isinstance(outcome, HsmSessionError), f"{command} answered instead of timing out: {outcome!r}"
    assert outcome.command.startswith(command), f"the error names {outcome.command!r}, not {command!r}"
    assert "no answer within" in outcome.problem, f"the error is not a timeout: {outcome.problem}"


def findings_hold(findings: list[Finding]) -> None:
    """Could-not-read findings make the scenario an error; failed ones a finding; waived ones pass, marked."""
    errors = [f.message for f in findings if f.status is Status.ERROR]
    if errors:
        raise CouldNotEvaluate("; ".join(errors))
    failures = [f.message for f in findings if f.status is Status.FAILED]
    assert not failures, "; ".join(failures)
    if findings and all(f.status is Status.NOT_APPLICABLE for f in findings):
        not_applicable("; ".join(f.message for f in findings))
