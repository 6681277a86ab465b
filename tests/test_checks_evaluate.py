"""Each check id against a fake ARM: missing is *failed*, unreadable is *error*, reads are shared."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from check_fixtures import (
    ACCOUNT_ID,
    ACTIVITY_PATH,
    BLOB_CATEGORIES,
    BLOB_SERVICE_ID,
    CLUSTER_CATEGORIES,
    CONTAINER_ID,
    DESTINATION_ID,
    ENDPOINT_ID,
    IDENTITY_ID,
    LOCKS_PATH,
    OTHER_IDENTITY_ID,
    OTHER_PRINCIPAL_ID,
    PRINCIPAL_ID,
    SOURCE_ID,
    VNET_ID,
    account_json,
    activity_event_json,
    all_role_definitions,
    assert_finding,
    assignment_json,
    blob_service_json,
    categories_json,
    categories_path,
    cluster_endpoint_id,
    cluster_endpoint_json,
    cluster_json,
    container_json,
    diagnostic_setting_json,
    diagnostics_path,
    endpoint_json,
    identity_json,
    lock_json,
    name_of,
)

from chsm_checks.arm.client import ArmClient
from chsm_checks.arm.clock import VirtualClock
from chsm_checks.arm.clouds import sandbox_cloud
from chsm_checks.arm.retry import RetryPolicy
from chsm_checks.checks.environment import Environment
from chsm_checks.checks.evaluate import EVALUATORS, evaluate
from chsm_checks.errors import ConfigError
from chsm_checks.outcomes import Outcome
from chsm_checks.target import Target, load_target

REFERENCE = Path(__file__).resolve().parents[1] / "targets" / "reference.toml"
SBDC = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
ROLE_ASSIGNMENTS = "/providers/Microsoft.Authorization/roleAssignments"

ACCOUNT_CHECKS = [
    "storage.geo-redundant",
    "storage.shared-key-disabled",
    "storage.private-endpoint",
    "storage.public-network",
    "storage.https-only",
    "storage.minimum-tls",
    "storage.blob-anonymous-access",
    "storage.cross-tenant-replication",
    "requests.no-sas",
]
BLOB_SERVICE_CHECKS = ["storage.blob-soft-delete", "storage.container-soft-delete", "storage.versioning"]
LOCKED = {"properties": {"immutabilityPeriodSinceCreationInDays": 30, "state": "Locked"}}
IDENTITY_CHECKS = ["identity.resolvable", "access.blob-data-contributor", "access.least-privilege"]

Answer = Callable[[httpx.Request], httpx.Response]


def ok(body: dict[str, Any]) -> Answer:
    return lambda request: httpx.Response(200, json=body)


def arm_error(status: int, code: str) -> Answer:
    return lambda request: httpx.Response(status, json={"error": {"code": code, "message": f"{code} (test)"}})


def not_json(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, content=b"<html>gateway</html>", headers={"content-type": "text/html"})


class FakeArm:
    """Answers GETs by resource id (case-insensitive); role assignments by the principal filtered on."""

    def __init__(self) -> None:
        dest = cluster_json(DESTINATION_ID, properties__activationState="NotActivated")
        self.answers: dict[str, Answer] = {
            SOURCE_ID: ok(cluster_json(SOURCE_ID)),
            DESTINATION_ID: ok(dest),
            IDENTITY_ID: ok(identity_json()),
            OTHER_IDENTITY_ID: ok(identity_json(OTHER_IDENTITY_ID, OTHER_PRINCIPAL_ID)),
            ACCOUNT_ID: ok(account_json(sku={"name": "Standard_GRS"})),
            BLOB_SERVICE_ID: ok(blob_service_json()),
            CONTAINER_ID: ok(
                container_json(properties__hasImmutabilityPolicy=True, properties__immutabilityPolicy=LOCKED)
            ),
            ENDPOINT_ID: ok(endpoint_json()),
            cluster_endpoint_id(SOURCE_ID): ok(cluster_endpoint_json(SOURCE_ID)),
            cluster_endpoint_id(DESTINATION_ID): ok(cluster_endpoint_json(DESTINATION_ID)),
        }
        for resource_id, offered in (
            (SOURCE_ID, CLUSTER_CATEGORIES),
            (DESTINATION_ID, CLUSTER_CATEGORIES),
            (BLOB_SERVICE_ID, BLOB_CATEGORIES),
        ):
            self.answers[categories_path(resource_id)] = ok(categories_json(resource_id, offered))
            self.answers[diagnostics_path(resource_id)] = ok(
                {"value": [diagnostic_setting_json(resource_id)]}
            )
        two_hours_ago = datetime.now(UTC) - timedelta(hours=2)
        self.answers[ACTIVITY_PATH] = ok(
            {
                "value": [
                    activity_event_json(two_hours_ago),
                    activity_event_json(two_hours_ago - timedelta(minutes=2), "Started"),
                ]
            }
        )
        self.locks: list[dict[str, Any]] = [lock_json()]
        self.locks_answer: Answer | None = None
        self.assignments: dict[str, list[dict[str, Any]]] = {
            PRINCIPAL_ID: [assignment_json(SBDC, ACCOUNT_ID)],
            OTHER_PRINCIPAL_ID: [assignment_json(SBDC, ACCOUNT_ID, OTHER_PRINCIPAL_ID)],
        }
        self.assignment_answer: Answer | None = None
        self.role_definitions: dict[str, Answer] = {
            guid: ok(body) for guid, body in all_role_definitions().items()
        }
        self.requests: list[httpx.Request] = []

    def set(self, resource_id: str, answer: Answer) -> None:
        self.answers[resource_id] = answer

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = unquote(request.url.path)
        if path.lower().endswith(ROLE_ASSIGNMENTS.lower()):
            if self.assignment_answer is not None:
                return self.assignment_answer(request)
            principal = request.url.params["$filter"].split("'")[1]
            return httpx.Response(200, json={"value": self.assignments.get(principal, [])})
        if path.lower() == LOCKS_PATH.lower():
            if self.locks_answer is not None:
                return self.locks_answer(request)
            return httpx.Response(200, json={"value": self.locks})
        if "/providers/microsoft.authorization/roledefinitions/" in path.lower():
            guid = path.rstrip("/").rsplit("/", 1)[-1].lower()
            return self.role_definitions.get(guid, arm_error(404, "RoleDefinitionDoesNotExist"))(request)
        answers = {k.lower(): v for k, v in self.answers.items()}
        if path.lower() not in answers:
            return arm_error(404, "ResourceNotFound")(request)
        return answers[path.lower()](request)

    def role_assignment_reads(self) -> list[str]:
        return [
            r.url.params["$filter"]
            for r in self.requests
            if r.url.path.lower().endswith(ROLE_ASSIGNMENTS.lower())
        ]


@pytest.fixture(scope="module")
def target() -> Target:
    return load_target(REFERENCE)


@pytest.fixture
def fake() -> FakeArm:
    return FakeArm()


def fake_client(fake: FakeArm) -> ArmClient:
    """An ARM client that sends to ``fake`` once per request, on a virtual clock."""
    return ArmClient(
        sandbox_cloud("http://127.0.0.1:8765"),
        transport=httpx.MockTransport(fake.handle),
        clock=VirtualClock(),
        retry=RetryPolicy(max_attempts=1),
    )


@pytest.fixture
def env(fake: FakeArm, target: Target) -> Iterator[Environment]:
    with fake_client(fake) as client:
        yield Environment(client, target)


def test_the_fixtures_name_the_reference_target(target: Target) -> None:
    assert (target.source_id, target.destination_id) == (SOURCE_ID, DESTINATION_ID)
    assert (target.storage_account_id, target.container_id) == (ACCOUNT_ID, CONTAINER_ID)
    assert (target.identity_id, target.private_endpoint_id) == (IDENTITY_ID, ENDPOINT_ID)
    assert target.virtual_network_id == VNET_ID


@pytest.mark.parametrize("check_id", sorted(EVALUATORS))
def test_every_check_passes_on_a_compliant_environment(check_id: str, env: Environment) -> None:
    findings = evaluate(check_id, env)
    assert findings
    assert all(f.status is Outcome.PASSED and f.check_id == check_id for f in findings), findings


@pytest.mark.parametrize("check_id", [*ACCOUNT_CHECKS, "storage.container-private"])
def test_a_missing_storage_account_fails_every_storage_check(
    check_id: str, fake: FakeArm, env: Environment
) -> None:
    fake.set(ACCOUNT_ID, arm_error(404, "ResourceNotFound"))
    fake.set(CONTAINER_ID, arm_error(404, "ResourceNotFound"))
    (finding,) = evaluate(check_id, env)
    resource = CONTAINER_ID if check_id == "storage.container-private" else ACCOUNT_ID
    assert_finding(finding, Outcome.FAILED, check_id, resource)
    assert "does not exist" in finding.message


UNREADABLE = [
    pytest.param(arm_error(500, "InternalServerError"), "HTTP 500", id="http-500"),
    pytest.param(lambda request: httpx.Response(503, content=b""), "HTTP 503", id="http-503-empty"),
    pytest.param(arm_error(403, "AuthorizationFailed"), "AuthorizationFailed", id="http-403"),
    pytest.param(arm_error(404, "SubscriptionNotFound"), "SubscriptionNotFound", id="404-other-code"),
    pytest.param(not_json, "MalformedResponse", id="non-json-200"),
]


@pytest.mark.parametrize(("answer", "reason"), UNREADABLE)
@pytest.mark.parametrize("check_id", [*ACCOUNT_CHECKS, "storage.container-private"])
def test_an_unreadable_storage_account_is_an_error_never_a_pass(
    check_id: str, answer: Answer, reason: str, fake: FakeArm, env: Environment
) -> None:
    fake.set(ACCOUNT_ID, answer)
    fake.set(CONTAINER_ID, answer)
    (finding,) = evaluate(check_id, env)
    resource = CONTAINER_ID if check_id == "storage.container-private" else ACCOUNT_ID
    assert_finding(finding, Outcome.ERROR, check_id, resource)
    assert reason in finding.message


@pytest.mark.parametrize("check_id", BLOB_SERVICE_CHECKS)
def test_a_missing_blob_service_fails_and_an_unreadable_one_is_an_error(
    check_id: str, fake: FakeArm, env: Environment
) -> None:
    fake.set(BLOB_SERVICE_ID, arm_error(404, "ResourceNotFound"))
    (finding,) = evaluate(check_id, env)
    assert_finding(finding, Outcome.FAILED, check_id, BLOB_SERVICE_ID)
    fresh = FakeArm()
    fresh.set(BLOB_SERVICE_ID, arm_error(403, "AuthorizationFailed"))
    with fake_client(fresh) as client:
        (finding,) = evaluate(check_id, Environment(client, env.scope))
    assert_finding(finding, Outcome.ERROR, check_id, BLOB_SERVICE_ID)
    assert "AuthorizationFailed" in finding.message


def _with_protection(tmp_path: Path, protection: str) -> Target:
    text = REFERENCE.read_text()
    start = text.index("[protection]")
    end = text.index("[negative]")
    path = tmp_path / "target.toml"
    path.write_text(text[:start] + "[protection]\n" + protection + "\n\n" + text[end:])
    return load_target(path)


def test_the_targets_protection_table_sets_what_the_checks_require(fake: FakeArm, tmp_path: Path) -> None:
    fake.set(ACCOUNT_ID, ok(account_json(sku={"name": "Standard_LRS"})))
    fake.set(CONTAINER_ID, ok(container_json(properties__hasImmutabilityPolicy=False)))
    strict = _with_protection(
        tmp_path, "min_soft_delete_days = 30\nrequire_immutability = true\nrequire_alternate_site = true"
    )
    lenient = _with_protection(tmp_path, "")  # every default: 7 days, immutability advised, no second site
    with fake_client(fake) as client:
        strict_env, lenient_env = Environment(client, strict), Environment(client, lenient)
        judged = {
            name: {
                check: evaluate(check, e)[0]
                for check in ("storage.blob-soft-delete", "storage.immutability", "storage.geo-redundant")
            }
            for name, e in (("strict", strict_env), ("lenient", lenient_env))
        }
    assert {c: f.status for c, f in judged["strict"].items()} == {
        "storage.blob-soft-delete": Outcome.FAILED,
        "storage.immutability": Outcome.FAILED,
        "storage.geo-redundant": Outcome.FAILED,
    }
    assert judged["strict"]["storage.immutability"].severity is None
    assert {c: f.status for c, f in judged["lenient"].items()} == {
        "storage.blob-soft-delete": Outcome.PASSED,
        "storage.immutability": Outcome.FAILED,
        "storage.geo-redundant": Outcome.NOT_APPLICABLE,
    }
    assert judged["lenient"]["storage.immutability"].severity == "low"


def test_a_500_is_an_error_after_every_retry(fake: FakeArm, target: Target) -> None:
    fake.set(ACCOUNT_ID, arm_error(500, "InternalServerError"))
    clock = VirtualClock()
    client = ArmClient(
        sandbox_cloud("http://127.0.0.1:8765"),
        transport=httpx.MockTransport(fake.handle),
        clock=clock,
        retry=RetryPolicy(max_attempts=3),
    )
    with client:
        env = Environment(client, target)
        findings = [f for check in ACCOUNT_CHECKS for f in evaluate(check, env)]
    assert {f.status for f in findings} == {Outcome.ERROR}
    assert len(fake.requests) == 3, "one read of the account, retried, then remembered for every check"
    assert len(clock.sleeps) == 2


@pytest.mark.parametrize(("answer", "reason"), UNREADABLE)
def test_an_unreadable_private_endpoint_is_an_error(
    answer: Answer, reason: str, fake: FakeArm, env: Environment
) -> None:
    fake.set(ENDPOINT_ID, answer)
    (finding,) = evaluate("storage.private-endpoint", env)
    assert_finding(finding, Outcome.ERROR, "storage.private-endpoint", ENDPOINT_ID)
    assert reason in finding.message


def test_a_missing_private_endpoint_fails_on_the_account(fake: FakeArm, env: Environment) -> None:
    fake.set(ENDPOINT_ID, arm_error(404, "ResourceNotFound"))
    (finding,) = evaluate("storage.private-endpoint", env)
    assert_finding(finding, Outcome.FAILED, "storage.private-endpoint", ACCOUNT_ID)
    assert name_of(ENDPOINT_ID) in finding.message


LOG_CHECKS = [
    pytest.param("logging.cluster-audit", SOURCE_ID, id="cluster-audit"),
    pytest.param("logging.blob-access", BLOB_SERVICE_ID, id="blob-access"),
]


@pytest.mark.parametrize(("answer", "reason"), UNREADABLE)
@pytest.mark.parametrize("read", [diagnostics_path, categories_path], ids=["settings", "categories"])
@pytest.mark.parametrize(("check_id", "resource_id"), LOG_CHECKS)
def test_unreadable_diagnostic_settings_or_categories_are_an_error(
    check_id: str,
    resource_id: str,
    read: Callable[[str], str],
    answer: Answer,
    reason: str,
    fake: FakeArm,
    env: Environment,
) -> None:
    fake.set(read(resource_id), answer)
    finding = evaluate(check_id, env)[0]
    assert_finding(finding, Outcome.ERROR, check_id, resource_id)
    assert reason in finding.message
    assert ("diagnostic settings" if read is diagnostics_path else "log categories") in finding.message


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"value": [{"name": "x", "properties": {"logs": "all"}}]}, "properties.logs", id="logs"),
        pytest.param(
            {"value": [diagnostic_setting_json(SOURCE_ID, [{"categoryGroup": "audit", "enabled": "true"}])]},
            "properties.logs[0].enabled",
            id="enabled-a-string",
        ),
        pytest.param(
            {"value": [diagnostic_setting_json(SOURCE_ID, properties__workspaceId=7)]},
            "properties.workspaceId",
            id="workspace-a-number",
        ),
    ],
)
def test_a_malformed_diagnostic_setting_is_an_error_naming_its_field(
    body: dict[str, Any], field: str, fake: FakeArm, env: Environment
) -> None:
    fake.set(diagnostics_path(SOURCE_ID), ok(body))
    finding = evaluate("logging.cluster-audit", env)[0]
    assert_finding(finding, Outcome.ERROR, "logging.cluster-audit", SOURCE_ID)
    assert field in finding.message


def test_malformed_log_categories_are_an_error_naming_their_field(fake: FakeArm, env: Environment) -> None:
    broken = categories_json(BLOB_SERVICE_ID, BLOB_CATEGORIES)
    broken["value"][1]["properties"]["categoryGroups"] = "audit"
    fake.set(categories_path(BLOB_SERVICE_ID), ok(broken))
    (finding,) = evaluate("logging.blob-access", env)
    assert_finding(finding, Outcome.ERROR, "logging.blob-access", BLOB_SERVICE_ID)
    assert "properties.categoryGroups" in finding.message


@pytest.mark.parametrize(("answer", "reason"), UNREADABLE)
def test_an_unreadable_activity_log_is_an_error(
    answer: Answer, reason: str, fake: FakeArm, env: Environment
) -> None:
    fake.set(ACTIVITY_PATH, answer)
    (finding,) = evaluate("backup.rpo", env)
    assert_finding(finding, Outcome.ERROR, "backup.rpo", SOURCE_ID)
    assert "could not read the activity log of cluster chsm-source" in finding.message
    assert reason in finding.message


def test_the_activity_log_is_read_for_the_source_over_89_days_to_the_clients_now(
    fake: FakeArm, env: Environment
) -> None:
    evaluate("backup.rpo", env)
    (read,) = [r for r in fake.requests if r.url.path.endswith("/eventtypes/management/values")]
    end = env.arm.as_of.strftime("%Y-%m-%dT%H:%M:%SZ")
    start = (env.arm.as_of - timedelta(days=89)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert read.url.params["$filter"] == (
        f"eventTimestamp ge '{start}' and eventTimestamp le '{end}' and resourceUri eq '{SOURCE_ID}'"
    )
    assert (
        read.url.params["$select"]
        == "eventDataId,correlationId,operationName,status,eventTimestamp,resourceId"
    )


def test_each_cluster_has_its_own_audit_finding(fake: FakeArm, env: Environment) -> None:
    fake.set(diagnostics_path(DESTINATION_ID), ok({"value": []}))
    findings = evaluate("logging.cluster-audit", env)
    assert [(f.resource_id, f.status) for f in findings] == [
        (SOURCE_ID, Outcome.PASSED),
        (DESTINATION_ID, Outcome.FAILED),
    ]
    assert "cluster chsm-dest: no diagnostic setting keeps HsmServiceOperations" in findings[1].message


def test_an_unknown_check_id_is_a_configuration_error(fake: FakeArm, env: Environment) -> None:
    with pytest.raises(ConfigError, match=r"unknown check 'storage\.nonsense'"):
        evaluate("storage.nonsense", env)
    assert fake.requests == []


def _share_identity(fake: FakeArm, spelling: str) -> None:
    """Both clusters name the same identity; the destination spells its id differently."""
    uai = {spelling: {"principalId": None, "clientId": None}}
    dest = cluster_json(
        DESTINATION_ID, properties__activationState="NotActivated", identity__userAssignedIdentities=uai
    )
    fake.set(DESTINATION_ID, ok(dest))


@pytest.mark.parametrize(
    "spelling",
    [
        pytest.param(IDENTITY_ID, id="same-case"),
        pytest.param(IDENTITY_ID.upper(), id="upper-case"),
        pytest.param(IDENTITY_ID.replace("resourceGroups", "resourcegroups"), id="lower-resourcegroups"),
    ],
)
@pytest.mark.parametrize("check_id", IDENTITY_CHECKS)
def test_an_identity_shared_by_both_clusters_gives_one_finding(
    check_id: str, spelling: str, fake: FakeArm, env: Environment
) -> None:
    _share_identity(fake, spelling)
    (finding,) = evaluate(check_id, env)
    assert_finding(finding, Outcome.PASSED, check_id, IDENTITY_ID)
    reads = [r for r in fake.requests if "userassignedidentities" in r.url.path.lower()]
    assert len(reads) == 1


def test_a_shared_identity_names_both_clusters(fake: FakeArm, env: Environment) -> None:
    _share_identity(fake, IDENTITY_ID.upper())
    (finding,) = evaluate("identity.resolvable", env)
    assert "chsm-source, chsm-dest" in finding.message


@pytest.mark.parametrize("check_id", IDENTITY_CHECKS)
def test_distinct_identities_give_one_finding_each(check_id: str, fake: FakeArm, env: Environment) -> None:
    _share_identity(fake, OTHER_IDENTITY_ID)
    findings = evaluate(check_id, env)
    assert [f.resource_id for f in findings] == [IDENTITY_ID, OTHER_IDENTITY_ID]
    for finding, identity in zip(findings, (IDENTITY_ID, OTHER_IDENTITY_ID), strict=True):
        assert_finding(finding, Outcome.PASSED, check_id, identity)


@pytest.mark.parametrize(
    ("other_identity", "principals"),
    [
        pytest.param(IDENTITY_ID.upper(), [PRINCIPAL_ID], id="shared-identity"),
        pytest.param(OTHER_IDENTITY_ID, [PRINCIPAL_ID, OTHER_PRINCIPAL_ID], id="two-identities"),
    ],
)
def test_role_assignments_are_read_once_per_principal(
    other_identity: str, principals: list[str], fake: FakeArm, env: Environment
) -> None:
    _share_identity(fake, other_identity)
    for check_id in [*IDENTITY_CHECKS, *IDENTITY_CHECKS]:
        evaluate(check_id, env)
    assert fake.role_assignment_reads() == [f"principalId eq '{p}'" for p in principals]


@pytest.mark.parametrize("check_id", ["access.blob-data-contributor", "access.least-privilege"])
def test_unreadable_role_assignments_are_an_error_on_the_identity(
    check_id: str, fake: FakeArm, env: Environment
) -> None:
    fake.assignment_answer = arm_error(500, "InternalServerError")
    (finding,) = evaluate(check_id, env)
    assert finding.status is Outcome.ERROR
    assert "HTTP 500" in finding.message
    # The finding is about the identity, like every other finding of these checks.
    assert_finding(finding, Outcome.ERROR, check_id, IDENTITY_ID)


@pytest.mark.parametrize("check_id", IDENTITY_CHECKS)
def test_a_missing_identity_fails(check_id: str, fake: FakeArm, env: Environment) -> None:
    fake.set(IDENTITY_ID, arm_error(404, "ResourceNotFound"))
    (finding,) = evaluate(check_id, env)
    assert_finding(finding, Outcome.FAILED, check_id, IDENTITY_ID)
    assert "does not exist" in finding.message


@pytest.mark.parametrize("check_id", IDENTITY_CHECKS)
def test_an_unreadable_identity_is_an_error(check_id: str, fake: FakeArm, env: Environment) -> None:
    fake.set(IDENTITY_ID, arm_error(500, "InternalServerError"))
    (finding,) = evaluate(check_id, env)
    assert_finding(finding, Outcome.ERROR, check_id, IDENTITY_ID)
    assert fake.role_assignment_reads() == []


@pytest.mark.parametrize(
    ("check_id", "status"),
    [
        pytest.param("identity.resolvable", Outcome.FAILED, id="resolvable"),
        pytest.param("access.blob-data-contributor", Outcome.ERROR, id="blob-data-contributor"),
        pytest.param("access.least-privilege", Outcome.ERROR, id="least-privilege"),
    ],
)
def test_an_identity_without_a_principal_is_never_a_pass(
    check_id: str, status: Outcome, fake: FakeArm, env: Environment
) -> None:
    fake.set(IDENTITY_ID, ok(identity_json(principal_id=None)))
    (finding,) = evaluate(check_id, env)
    assert_finding(finding, status, check_id, IDENTITY_ID)
