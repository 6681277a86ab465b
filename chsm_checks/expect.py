"""What the Then steps judge, as sentences a reviewer can read in a report.

A failed expectation raises ``ExpectationNotMet``: a finding. It is the only way a scenario fails;
anything else that goes wrong (an ``assert`` in library code included) is an error. A refusal
because mutations are not allowed makes the scenario not applicable, with the reason: the rule
held, nothing was checked.
"""

from __future__ import annotations

import re

from .arm.client import ArmClient
from .arm.lro import OperationResult
from .arm.snapshots import ClusterSnapshot
from .checks.model import Finding
from .errors import CouldNotEvaluate, ExpectationNotMet
from .guard import Refusal, RefusalReason
from .hsm.drill import UserView
from .hsm.errors import HsmSessionError
from .hsm.inventory import KeyInventory
from .hsm.parsers import KeyUtilResult
from .outcomes import Outcome, not_applicable

BACKUP_ID = re.compile(
    r"^cloudhsm-[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}-\d+$"
)


def unmet(message: str) -> ExpectationNotMet:
    """The finding that an expectation does not hold, to raise."""
    return ExpectationNotMet(message)


def holds(condition: bool, message: str) -> None:
    """Raise the finding ``message`` unless ``condition`` holds."""
    if not condition:
        raise unmet(message)


def operation_sent(outcome: OperationResult | Refusal) -> OperationResult:
    """The operation's result; a refusal here means the scenario could not do what it states."""
    if isinstance(outcome, Refusal):
        if outcome.reason is RefusalReason.MUTATIONS_NOT_ALLOWED:
            not_applicable(outcome.message)
        raise unmet(f"the {outcome.operation} was refused: {outcome.message}")
    return outcome


def ends_with_status(
    outcome: OperationResult | Refusal, status: str, operation: str | None = None
) -> OperationResult:
    """The operation (``operation``, when the step names it) ended with ``status``."""
    result = operation_sent(outcome)
    if operation is not None and result.operation != operation:
        raise unmet(f"the step judges a {operation}, but the outcome is of a {result.operation}")
    why = f" ({result.error.code}: {result.error.message})" if result.error else ""
    if result.status != status:
        raise unmet(f"the {result.operation} ended {result.status!r}, not {status!r}{why}")
    return result


def did_not_succeed(outcome: OperationResult | Refusal) -> OperationResult:
    result = operation_sent(outcome)
    if result.succeeded:
        raise unmet(f"the {result.operation} succeeded but the service should have refused it")
    return result


def has_backup_id(result: OperationResult) -> str:
    backup_id = result.backup_id
    if backup_id is None:
        raise unmet("the backup result carries no backupId")
    if not BACKUP_ID.match(backup_id):
        raise unmet(f"backupId {backup_id!r} is not of the form cloudhsm-<uuid>-<digits>")
    return backup_id


def has_error_code(result: OperationResult) -> str:
    code = result.error.code if result.error is not None else ""
    if not code:
        raise unmet(f"the {result.operation} ended {result.status!r} without an error code from the service")
    return code


def activation_is(cluster: ClusterSnapshot, expected: str) -> None:
    if cluster.activation_state != expected:
        raise unmet(
            f"cluster {cluster.name} reads activationState {cluster.activation_state!r}, not {expected!r}"
        )


def refused_as(outcome: OperationResult | Refusal, reason: str, operation: str | None = None) -> Refusal:
    """The request (``operation``, when the step names it) was refused for ``reason``."""
    if not isinstance(outcome, Refusal):
        raise unmet(
            f"the {outcome.operation} was sent and ended {outcome.status!r}; it should have been refused"
        )
    given = [r.value for r in outcome.reasons]
    if reason not in given:
        raise unmet(f"refused as {', '.join(map(repr, given))}, not {reason!r}")
    if operation is not None and outcome.operation != operation:
        raise unmet(f"the {outcome.operation} was refused, not a {operation}")
    return outcome


def nothing_sent(arm: ArmClient) -> None:
    if arm.exchanges:
        raise unmet(
            "requests were sent: " + ", ".join(f"{e.method} {e.url.split('?')[0]}" for e in arm.exchanges)
        )


def no_request(arm: ArmClient, method: str, path_fragment: str) -> None:
    count = arm.count(method, path_fragment)
    if count:
        raise unmet(f"{count} {method} request(s) to …{path_fragment} were sent")


def no_findings(findings: list[str]) -> None:
    """Every finding, in one message; none expected."""
    if findings:
        raise unmet("; ".join(findings))


def finding_mentions(findings: list[str], text: str) -> None:
    if not any(text in f for f in findings):
        raise unmet(f"no finding mentions {text.strip()!r}: {findings or 'none at all'}")


def usable_source_inventory(keys: KeyInventory, users: UserView) -> None:
    """An inventory worth comparing against: a successful login, keys, and a crypto user."""
    if not keys.login.ok:
        raise unmet(f"the crypto user could not log in to the source: 0x{keys.login.returned.code:02x}")
    if not keys.keys:
        raise unmet("the crypto user sees no keys on the source: there is nothing to prove a restore with")
    crypto_users = [u for listing in users.users.by_server.values() for u in listing if u.user_type == "CU"]
    if not crypto_users:
        raise unmet("the source lists no crypto user")


def refused_login(result: KeyUtilResult, code: int) -> None:
    if result.returned.code != code:
        raise unmet(
            f"loginHSM returned 0x{result.returned.code:02x} ({result.returned.message}), not 0x{code:02x}"
        )
    wrong = [n for n in result.nodes if n.code & 0xFF != code]
    if not result.nodes:
        raise unmet("the login printed no node lines")
    if wrong:
        raise unmet("nodes answered otherwise: " + ", ".join(f"node {n.node_id} 0x{n.code:x}" for n in wrong))


def attempted_once(attempts: int, command: str) -> None:
    """``command`` was typed exactly once."""
    if attempts != 1:
        raise unmet(f"{command} was typed {attempts} times, not once")


def timed_out(outcome: object, command: str) -> None:
    if not isinstance(outcome, HsmSessionError):
        raise unmet(f"{command} answered instead of timing out: {outcome!r}")
    if not outcome.command.startswith(command):
        raise unmet(f"the error names {outcome.command!r}, not {command!r}")
    if "no answer within" not in outcome.problem:
        raise unmet(f"the error is not a timeout: {outcome.problem}")


def findings_hold(findings: list[Finding]) -> None:
    """Could-not-read findings make the scenario an error; failed ones a finding; waived ones pass, marked."""
    errors = [f.message for f in findings if f.status is Outcome.ERROR]
    if errors:
        raise CouldNotEvaluate("; ".join(errors))
    failures = [f.message for f in findings if f.status is Outcome.FAILED]
    if failures:
        raise unmet("; ".join(failures))
    if findings and all(f.status is Outcome.NOT_APPLICABLE for f in findings):
        not_applicable("; ".join(f.message for f in findings))
