"""Malformed ARM data is an error, never a default: every judged field of every check, as a table.

For each check and each field the catalogue says it judges (``judges``), the compliant environment
is served with that field of the wrong JSON type, and with the resource's ``properties`` missing:
the check must end as an *error* naming the field. With the field absent, the check may pass only
where the catalogue cites a default Azure documents for it (``defaults``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from check_fixtures import (
    ACCOUNT_ID,
    ACTIVITY_PATH,
    BLOB_SERVICE_ID,
    CONTAINER_ID,
    DESTINATION_ID,
    ENDPOINT_ID,
    IDENTITY_ID,
    PRINCIPAL_ID,
    SBDC,
    SOURCE_ID,
    categories_path,
    cluster_endpoint_id,
    diagnostics_path,
)
from test_checks_evaluate import FakeArm, ok

from chsm_checks.arm.client import ArmClient
from chsm_checks.arm.clock import VirtualClock
from chsm_checks.arm.clouds import sandbox_cloud
from chsm_checks.arm.retry import RetryPolicy
from chsm_checks.checks.catalogue import default_catalogue
from chsm_checks.checks.environment import Environment
from chsm_checks.checks.evaluate import evaluate
from chsm_checks.checks.model import Finding
from chsm_checks.checks.recovery import RECOVERY_TIME
from chsm_checks.hsm.checks import RESTORE_CHECKS
from chsm_checks.outcomes import Outcome
from chsm_checks.target import Target, load_target
from tests.test_checks_evaluate import REFERENCE

Body = dict[str, Any]
_MISSING = object()


IDS = {
    "cluster": [SOURCE_ID, DESTINATION_ID],
    "identity": [IDENTITY_ID],
    "storage_account": [ACCOUNT_ID],
    "blob_service": [BLOB_SERVICE_ID],
    "container": [CONTAINER_ID],
    "private_endpoint": [ENDPOINT_ID, cluster_endpoint_id(SOURCE_ID), cluster_endpoint_id(DESTINATION_ID)],
}
# Kinds served as a list per resource: the path of each resource's list, and the resources.
_LOGGED = [SOURCE_ID, DESTINATION_ID, BLOB_SERVICE_ID]
LISTED: dict[str, tuple[Callable[[str], str], list[str]]] = {
    "diagnostic_settings": (diagnostics_path, _LOGGED),
    "diagnostic_categories": (categories_path, _LOGGED),
    "activity_log": (lambda resource_id: ACTIVITY_PATH, [SOURCE_ID]),
}
# Where a check passes by another of its conditions while the field is absent, the field is made to
# matter first: publicNetworkAccess decides only when the firewall does not deny by default.
# A setting's destinations are alternatives: one matters when the setting names no other.
MAKE_IT_MATTER: dict[tuple[str, str], dict[str, Any]] = {
    ("storage.public-network", "properties.publicNetworkAccess"): {
        "properties.networkAcls.defaultAction": "Allow"
    },
    **{
        (check, destination): {"properties.workspaceId": _MISSING}
        for check in ("logging.cluster-audit", "logging.blob-access")
        for destination in ("properties.storageAccountId", "properties.eventHubAuthorizationRuleId")
    },
}


def _bodies(fake: FakeArm, kind: str) -> list[Body]:
    """The compliant bodies of one resource kind, as the fake serves them (to edit in place)."""
    if kind == "role_assignments":
        return fake.assignments[PRINCIPAL_ID]
    if kind == "role_definitions":
        return [fake.role_definitions[SBDC](httpx.Request("GET", "http://x")).json()]
    if kind == "locks":
        return fake.locks
    if kind in LISTED:
        path, at = LISTED[kind]
        return [body for rid in at for body in _listed(fake, path(rid))]
    return [fake.answers[rid](httpx.Request("GET", "http://x")).json() for rid in IDS[kind]]


def _serve(fake: FakeArm, kind: str, bodies: list[Body]) -> None:
    if kind == "role_assignments":
        fake.assignments[PRINCIPAL_ID] = bodies
    elif kind == "role_definitions":
        fake.role_definitions[SBDC] = ok(bodies[0])
    elif kind == "locks":
        fake.locks = bodies
    elif kind in LISTED:
        path, at = LISTED[kind]
        for rid in at:
            count = len(_listed(fake, path(rid)))
            fake.set(path(rid), ok({"value": bodies[:count]}))
            bodies = bodies[count:]
    else:
        for resource_id, body in zip(IDS[kind], bodies, strict=True):
            fake.set(resource_id, ok(body))


def _listed(fake: FakeArm, path: str) -> list[Body]:
    found: list[Body] = fake.answers[path](httpx.Request("GET", "http://x")).json()["value"]
    return found


def _get(body: Body, path: str) -> Any:
    node: Any = body
    for key in path.split("."):
        if not isinstance(node, dict) or key not in node:
            return _MISSING
        node = node[key]
    return node


def _set(body: Body, path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    node = body
    for key in parents:
        node = node.setdefault(key, {})
    if value is _MISSING:
        node.pop(leaf, None)
    else:
        node[leaf] = value


def _wrong_type(value: Any) -> Any:
    """A value of another JSON type than ``value``'s, chosen to be the most misleading one."""
    if isinstance(value, bool):
        return "false" if value else "true"  # a string that reads like the boolean
    if isinstance(value, str):
        return 7
    if isinstance(value, list):
        return "[]"
    if isinstance(value, dict):
        return "{}"
    return ["not", "a", "scalar"]


JUDGED = [
    pytest.param(check.id, kind, field, id=f"{check.id}:{kind}:{field}")
    for check in default_catalogue().checks.values()
    for kind, fields in check.judges.items()
    for field in fields
]
KINDS = sorted({(check.id, kind) for check in default_catalogue().checks.values() for kind in check.judges})


@pytest.fixture(scope="module")
def target() -> Target:
    return load_target(REFERENCE)


@pytest.fixture
def judge(target: Target) -> Iterator[Callable[[FakeArm, str], list[Finding]]]:
    clients: list[ArmClient] = []

    def run(fake: FakeArm, check_id: str) -> list[Finding]:
        client = ArmClient(
            sandbox_cloud("http://127.0.0.1:8765"),
            transport=httpx.MockTransport(fake.handle),
            clock=VirtualClock(),
            retry=RetryPolicy(max_attempts=1),
        )
        clients.append(client)
        return evaluate(check_id, Environment(client, target))

    yield run
    for client in clients:
        client.close()


def _an_error_naming(findings: list[Finding], text: str) -> bool:
    return any(f.status is Outcome.ERROR and text in f.message for f in findings) and not any(
        f.status is Outcome.PASSED for f in findings
    )


def test_every_check_says_which_fields_it_judges() -> None:
    checks = default_catalogue().checks.values()
    unjudged = [c.id for c in checks if not c.judges and not c.from_utilities]
    # restore.rto judges no ARM body field: the dates of the drill's answers and how its validation
    # ended (tests/test_recovery_time.py).
    assert unjudged == [RECOVERY_TIME]
    # The restore validations judge the utilities' answers, not ARM fields: a line their parsers do
    # not know is an error quoting it (tests/test_hsm_parsers_closed.py).
    assert sorted(c.id for c in checks if c.from_utilities) == sorted(RESTORE_CHECKS)


@pytest.mark.parametrize(("check_id", "kind", "field"), JUDGED)
def test_a_judged_field_of_the_wrong_type_is_an_error_naming_it(
    check_id: str, kind: str, field: str, judge: Callable[[FakeArm, str], list[Finding]]
) -> None:
    fake = FakeArm()
    bodies = copy.deepcopy(_bodies(fake, kind))
    for body in bodies:
        current = _get(body, field)
        _set(body, field, _wrong_type(None if current is _MISSING else current))
    _serve(fake, kind, bodies)
    findings = judge(fake, check_id)
    assert _an_error_naming(findings, field), findings


# Activity-log events are no ARM resources: their fields are at the top, and none is "properties".
@pytest.mark.parametrize(("check_id", "kind"), [k for k in KINDS if k[1] != "activity_log"])
def test_a_body_without_properties_is_an_error(
    check_id: str, kind: str, judge: Callable[[FakeArm, str], list[Finding]]
) -> None:
    fake = FakeArm()
    bodies = copy.deepcopy(_bodies(fake, kind))
    for body in bodies:
        body.pop("properties")
    _serve(fake, kind, bodies)
    findings = judge(fake, check_id)
    assert _an_error_naming(findings, "properties is absent") or _an_error_naming(
        findings, "cannot be read whole"
    ), findings


def _a_scalar_in_the_compliant_environment(kind: str, field: str) -> bool:
    """Whether ``field`` holds a value there whose absence could be read as a default: not a field
    that is absent anyway (a condition), nor an array or object, whose absence is none of it."""
    values = [_get(body, field) for body in _bodies(FakeArm(), kind)]
    return any(v is not _MISSING and not isinstance(v, list | dict) for v in values)


ABSENT = [p for p in JUDGED if _a_scalar_in_the_compliant_environment(*p.values[1:])]


@pytest.mark.parametrize(("check_id", "kind", "field"), ABSENT)
def test_an_absent_field_passes_only_by_a_documented_default(
    check_id: str, kind: str, field: str, judge: Callable[[FakeArm, str], list[Finding]]
) -> None:
    fake = FakeArm()
    bodies = copy.deepcopy(_bodies(fake, kind))
    for body in bodies:
        _set(body, field, _MISSING)
        for other, value in MAKE_IT_MATTER.get((check_id, field), {}).items():
            _set(body, other, value)
    _serve(fake, kind, bodies)
    findings = judge(fake, check_id)
    cited = {(d.resource, d.field) for d in default_catalogue()[check_id].defaults}
    if any(f.status is Outcome.PASSED for f in findings):
        assert (kind, field) in cited, findings


@pytest.mark.parametrize("check_id", ["storage.blob-anonymous-access", "storage.container-private"])
def test_a_200_without_properties_no_longer_passes_the_anonymous_access_checks(
    check_id: str, judge: Callable[[FakeArm, str], list[Finding]]
) -> None:
    fake = FakeArm()
    for rid in (ACCOUNT_ID, CONTAINER_ID):
        body = fake.answers[rid](httpx.Request("GET", "http://x")).json()
        body.pop("properties")
        fake.set(rid, ok(body))
    [finding] = judge(fake, check_id)
    assert finding.status is Outcome.ERROR
    assert "properties is absent" in finding.message


def test_every_documented_default_cites_a_source() -> None:
    for check in default_catalogue().checks.values():
        for default in check.defaults:
            assert default.source.startswith("https://learn.microsoft.com/"), (check.id, default)
