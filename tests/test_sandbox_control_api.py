"""``/_sandbox/arm/<resource id>``: shape the sandbox from outside with GET, PUT, PATCH and DELETE.

What the control API writes is what ARM answers afterwards, is on disk before the answer, survives a
restart, and goes with ``POST /_sandbox/reset``; bad input is an ARM-shaped error that changes nothing.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx import Response

from chsm_checks.sandbox import SandboxSettings, create_app
from chsm_checks.sandbox.control_arm import merge_patch
from chsm_checks.sandbox.ids import sandbox_guid
from tests.support.processes import sandbox_process

with warnings.catch_warnings():
    # Starlette 1.x would rather drive its TestClient with httpx2; httpx is what this project ships.
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

SUB = sandbox_guid(1, "subscription")
PRINCIPAL = sandbox_guid(1, "principal", 1)
GROUP = f"/subscriptions/{SUB}/resourceGroups/rg-chsm-sandbox"
CLUSTERS = f"{GROUP}/providers/Microsoft.HardwareSecurityModules/cloudHsmClusters"
ACCOUNT = f"{GROUP}/providers/Microsoft.Storage/storageAccounts/chsmbackupsbx"
CONTAINER = f"{ACCOUNT}/blobServices/default/containers/chsm-backups"
IDENTITY = f"{GROUP}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-chsm-backup"
ASSIGNMENTS = "Microsoft.Authorization/roleAssignments"
DEFINITIONS = f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions"
SEEDED_ASSIGNMENT = f"{ACCOUNT}/providers/{ASSIGNMENTS}/{sandbox_guid(1, 'roleassignment', 1)}"
NEW_ASSIGNMENT = f"{ACCOUNT}/providers/{ASSIGNMENTS}/{sandbox_guid(1, 'test-assignment', 1)}"
STORAGE_ACCOUNT_CONTRIBUTOR = "17d1049b-9a84-46fb-8f53-869881c3d3ab"
HSM_API = {"api-version": "2025-03-31"}
STORAGE_API = {"api-version": "2025-01-01"}
IDENTITY_API = {"api-version": "2024-11-30"}
RBAC_API = {"api-version": "2022-04-01"}
CONTAINER_URI = "https://chsmbackupsbx.blob.core.windows.net/chsm-backups"
FAST = SandboxSettings(backup_seconds=0.05, restore_seconds=0.05)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(tmp_path, FAST)) as test_client:
        yield test_client


def control(client: TestClient, method: str, resource_id: str, body: Any = None) -> Response:
    """One control API request; ``body`` is sent as JSON, or as it is when it is ``bytes``."""
    content = body if isinstance(body, bytes) else None if body is None else json.dumps(body).encode()
    return client.request(method, f"/_sandbox/arm{resource_id}", content=content)


def assignment(resource_id: str, role: str, principal: str = PRINCIPAL) -> dict[str, Any]:
    """A role assignment body as ARM returns it, at the scope its id names."""
    scope, name = resource_id.split(f"/providers/{ASSIGNMENTS}/")
    return {
        "id": resource_id,
        "name": name,
        "type": ASSIGNMENTS,
        "properties": {
            "roleDefinitionId": f"{DEFINITIONS}/{role}",
            "principalId": principal,
            "principalType": "ServicePrincipal",
            "scope": scope,
        },
    }


def principal_assignments(client: TestClient, scope: str, principal: str = PRINCIPAL) -> list[dict[str, Any]]:
    response = client.get(
        f"{scope}/providers/{ASSIGNMENTS}", params={**RBAC_API, "$filter": f"principalId eq '{principal}'"}
    )
    assert response.status_code == 200, response.text
    value: list[dict[str, Any]] = response.json()["value"]
    return value


def arm_error(response: Response) -> dict[str, Any]:
    """The ``error`` of an ARM-shaped error answer, after checking its shape."""
    body = response.json()
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert isinstance(error["code"], str)
    assert isinstance(error["message"], str)
    return error


def backup_outcome(client: TestClient, cluster: str = "chsm-source") -> dict[str, Any]:
    started = client.post(
        f"{CLUSTERS}/{cluster}/backup", params=HSM_API, json={"azureStorageBlobContainerUri": CONTAINER_URI}
    )
    assert started.status_code == 202, started.text
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        polled = client.get(started.headers["location"])
        if polled.status_code == 200:
            properties: dict[str, Any] = polled.json()["properties"]
            return properties
        assert polled.status_code == 202, polled.text
        time.sleep(0.02)
    raise AssertionError("the backup did not finish within 5 s")


# --- create ---------------------------------------------------------------------------------------


def test_a_role_assignment_put_is_what_arm_gets_and_lists(client: TestClient) -> None:
    body = assignment(NEW_ASSIGNMENT, STORAGE_ACCOUNT_CONTRIBUTOR)

    created = control(client, "PUT", NEW_ASSIGNMENT, body)

    assert created.status_code == 201, created.text
    assert created.json() == body
    listed = principal_assignments(client, CONTAINER)
    assert [a["id"] for a in listed] == [SEEDED_ASSIGNMENT, NEW_ASSIGNMENT]
    assert listed[1] == body
    got = client.get(NEW_ASSIGNMENT, params=RBAC_API)
    assert got.status_code == 200, got.text
    assert got.json() == body
    assert control(client, "GET", NEW_ASSIGNMENT).json() == body


def test_a_second_put_replaces_the_first(client: TestClient) -> None:
    control(client, "PUT", NEW_ASSIGNMENT, assignment(NEW_ASSIGNMENT, STORAGE_ACCOUNT_CONTRIBUTOR))
    other = assignment(NEW_ASSIGNMENT, STORAGE_ACCOUNT_CONTRIBUTOR, sandbox_guid(1, "principal", 7))

    replaced = control(client, "PUT", NEW_ASSIGNMENT.upper().replace("/PROVIDERS/", "/providers/"), other)

    assert replaced.status_code == 200, replaced.text
    assert [a["id"] for a in principal_assignments(client, ACCOUNT)] == [SEEDED_ASSIGNMENT]
    assert principal_assignments(client, ACCOUNT, sandbox_guid(1, "principal", 7)) == [other]


def test_put_fills_in_id_name_and_type_from_the_path(client: TestClient) -> None:
    account_id = f"{GROUP}/providers/Microsoft.Storage/storageAccounts/chsmextrasbx"
    body = {"location": "uksouth", "kind": "StorageV2", "properties": {"minimumTlsVersion": "TLS1_2"}}

    created = control(client, "PUT", account_id, body)

    assert created.status_code == 201, created.text
    expected = {
        "id": account_id,
        "name": "chsmextrasbx",
        "type": "Microsoft.Storage/storageAccounts",
        **body,
    }
    assert list(created.json()) == list(expected)
    assert created.json() == expected
    assert client.get(account_id, params=STORAGE_API).json() == expected


def test_a_put_cluster_is_listed_and_a_new_one_has_hsm_contents(client: TestClient) -> None:
    source = client.get(f"{CLUSTERS}/chsm-source", params=HSM_API).json()
    copy = json.loads(json.dumps(source).replace("chsm-source", "chsm-third"))

    created = control(client, "PUT", f"{CLUSTERS}/chsm-third", copy)

    assert created.status_code == 201, created.text
    names = [c["name"] for c in client.get(CLUSTERS, params=HSM_API).json()["value"]]
    assert names == ["chsm-source", "chsm-dest", "chsm-third"]
    host = copy["properties"]["hsms"][0]["fqdn"]
    seen = client.get(f"/_sandbox/hsm/by-host/{host}")
    assert seen.status_code == 200, seen.text
    assert seen.json()["cluster"] == "chsm-third"


# --- hostile data: stored as given, served without a crash -----------------------------------------


# case: the id, the body, the api-version to GET it with, and how a backup then ends (the sandbox judges
# roles and activation only, so a broken account or a stray broken assignment does not stop it).
HOSTILE: dict[str, tuple[str, dict[str, Any], dict[str, str], str]] = {
    "a storage account without properties": (
        ACCOUNT,
        {"id": ACCOUNT, "name": "chsmbackupsbx", "type": "Microsoft.Storage/storageAccounts"},
        STORAGE_API,
        "Succeeded",
    ),
    "an assignment without a scope": (
        NEW_ASSIGNMENT,
        {
            "id": NEW_ASSIGNMENT,
            "name": NEW_ASSIGNMENT.rsplit("/", 1)[1],
            "type": ASSIGNMENTS,
            "properties": {"roleDefinitionId": f"{DEFINITIONS}/{STORAGE_ACCOUNT_CONTRIBUTOR}"},
        },
        RBAC_API,
        "Succeeded",
    ),
    "an assignment whose properties are not an object": (
        NEW_ASSIGNMENT,
        {
            "id": NEW_ASSIGNMENT,
            "name": NEW_ASSIGNMENT.rsplit("/", 1)[1],
            "type": ASSIGNMENTS,
            "properties": 7,
        },
        RBAC_API,
        "Succeeded",
    ),
    "an identity without a principal": (
        IDENTITY,
        {
            "id": IDENTITY,
            "name": "id-chsm-backup",
            "type": "Microsoft.ManagedIdentity/userAssignedIdentities",
            "properties": {},
        },
        IDENTITY_API,
        "Failed",
    ),
}


@pytest.mark.parametrize("case", HOSTILE)
def test_hostile_bodies_are_stored_as_given_and_served_without_a_crash(client: TestClient, case: str) -> None:
    resource_id, body, api, ends = HOSTILE[case]

    stored = control(client, "PUT", resource_id, body)

    assert stored.status_code in (200, 201), stored.text
    assert client.get(resource_id, params=api).json() == body
    every = client.get(f"/subscriptions/{SUB}/providers/{ASSIGNMENTS}", params=RBAC_API)
    assert every.status_code == 200, every.text
    principal_assignments(client, CONTAINER)  # the filtered list answers 200 too
    outcome = backup_outcome(client)
    assert outcome["status"] == ends, outcome


def test_an_assignment_without_a_scope_is_listed_at_the_scope_its_id_names(client: TestClient) -> None:
    _, body, _, _ = HOSTILE["an assignment without a scope"]
    control(client, "PUT", NEW_ASSIGNMENT, body)

    listed = client.get(f"{CONTAINER}/providers/{ASSIGNMENTS}", params=RBAC_API).json()["value"]

    assert body in listed
    # Filtering by principal skips it: it names none.
    assert body not in principal_assignments(client, CONTAINER)


def test_a_cluster_without_properties_gets_an_arm_error_not_a_crash(client: TestClient) -> None:
    cluster_id = f"{CLUSTERS}/chsm-source"
    control(client, "PUT", cluster_id, {"id": cluster_id, "location": "uksouth"})

    outcome = backup_outcome(client)

    assert outcome["status"] == "Failed"
    assert outcome["error"]["code"] == "ClusterNotActivated"


def test_an_identity_without_a_principal_fails_the_backup_on_authorisation(client: TestClient) -> None:
    _, body, _, _ = HOSTILE["an identity without a principal"]
    control(client, "PUT", IDENTITY, body)

    outcome = backup_outcome(client)

    assert outcome["status"] == "Failed"
    assert outcome["error"]["code"] == "AuthorizationPermissionMismatch"


# --- patch ----------------------------------------------------------------------------------------


def test_patch_is_a_json_merge_patch_of_the_body_as_arm_returns_it(client: TestClient) -> None:
    before = client.get(ACCOUNT, params=STORAGE_API).json()

    patched = control(
        client,
        "PATCH",
        ACCOUNT,
        {
            "tags": {"env": "test"},
            "properties": {"minimumTlsVersion": "TLS1_0", "allowSharedKeyAccess": None},
        },
    )

    assert patched.status_code == 200, patched.text
    after = client.get(ACCOUNT, params=STORAGE_API).json()
    assert after == patched.json()
    assert after["tags"] == {"env": "test"}
    assert after["properties"]["minimumTlsVersion"] == "TLS1_0"
    assert "allowSharedKeyAccess" not in after["properties"]
    untouched = {
        k: v
        for k, v in before["properties"].items()
        if k not in ("minimumTlsVersion", "allowSharedKeyAccess")
    }
    assert {k: after["properties"][k] for k in untouched} == untouched


def test_patch_of_an_assignment_changes_what_the_backup_may_do(client: TestClient) -> None:
    reader = f"{DEFINITIONS}/2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"  # Storage Blob Data Reader

    patched = control(client, "PATCH", SEEDED_ASSIGNMENT, {"properties": {"roleDefinitionId": reader}})

    assert patched.status_code == 200, patched.text
    assert principal_assignments(client, ACCOUNT)[0]["properties"]["roleDefinitionId"] == reader
    assert backup_outcome(client)["error"]["code"] == "AuthorizationPermissionMismatch"


# RFC 7386, Appendix A: target, patch, result.
RFC_7386_EXAMPLES: list[tuple[Any, Any, Any]] = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(("target", "patch", "result"), RFC_7386_EXAMPLES)
def test_merge_patch_follows_rfc_7386(target: Any, patch: Any, result: Any) -> None:
    original = json.dumps(target)

    assert merge_patch(target, patch) == result
    assert json.dumps(target) == original  # the target is not changed in place


# --- delete ---------------------------------------------------------------------------------------


def test_delete_removes_an_assignment_from_what_arm_answers(client: TestClient) -> None:
    deleted = control(client, "DELETE", SEEDED_ASSIGNMENT)

    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["id"] == SEEDED_ASSIGNMENT
    assert principal_assignments(client, ACCOUNT) == []
    gone = client.get(SEEDED_ASSIGNMENT, params=RBAC_API)
    assert gone.status_code == 404
    assert arm_error(gone)["code"] == "RoleAssignmentNotFound"
    assert control(client, "GET", SEEDED_ASSIGNMENT).status_code == 404
    assert backup_outcome(client)["error"]["code"] == "AuthorizationPermissionMismatch"


def test_deleting_an_account_deletes_its_container(client: TestClient) -> None:
    assert control(client, "DELETE", ACCOUNT).status_code == 200

    assert arm_error(client.get(ACCOUNT, params=STORAGE_API))["code"] == "ResourceNotFound"
    assert arm_error(client.get(CONTAINER, params=STORAGE_API))["code"] == "ResourceNotFound"
    assert backup_outcome(client)["error"]["code"] == "StorageAccountNotFound"


# --- persistence: on disk before the answer, across a restart, gone on reset ----------------------------


def test_a_change_is_on_disk_when_its_answer_arrives(tmp_path: Path) -> None:
    client = TestClient(create_app(tmp_path, FAST))
    body = assignment(NEW_ASSIGNMENT, STORAGE_ACCOUNT_CONTRIBUTOR)

    control(client, "PUT", NEW_ASSIGNMENT, body)

    on_disk = json.loads((tmp_path / "state.json").read_text(encoding="utf-8"))
    assert body in on_disk["role_assignments"]


def test_changes_survive_a_restart_of_the_sandbox_process(tmp_path: Path) -> None:
    body = assignment(NEW_ASSIGNMENT, STORAGE_ACCOUNT_CONTRIBUTOR)
    state_dir = tmp_path / "state"
    with sandbox_process(state_dir) as sandbox:
        put = httpx.put(f"{sandbox.url}/_sandbox/arm{NEW_ASSIGNMENT}", json=body, timeout=30)
        assert put.status_code == 201, put.text

    with sandbox_process(state_dir) as again:
        listed = httpx.get(
            f"{again.url}{ACCOUNT}/providers/{ASSIGNMENTS}",
            params={**RBAC_API, "$filter": f"principalId eq '{PRINCIPAL}'"},
            timeout=30,
        )

    assert listed.status_code == 200, listed.text
    assert [a["id"] for a in listed.json()["value"]] == [SEEDED_ASSIGNMENT, NEW_ASSIGNMENT]


def test_reset_re_seeds_the_world_without_the_changes(client: TestClient) -> None:
    control(client, "PUT", NEW_ASSIGNMENT, assignment(NEW_ASSIGNMENT, STORAGE_ACCOUNT_CONTRIBUTOR))
    control(client, "DELETE", SEEDED_ASSIGNMENT)
    assert [a["id"] for a in principal_assignments(client, ACCOUNT)] == [NEW_ASSIGNMENT]

    client.post("/_sandbox/reset")

    assert [a["id"] for a in principal_assignments(client, ACCOUNT)] == [SEEDED_ASSIGNMENT]


# --- bad input: an ARM-shaped error, and nothing changed --------------------------------------------

LOCK = f"{ACCOUNT}/providers/Microsoft.Authorization/locks/do-not-delete"
# A type the sandbox does not serve: an action group.
UNSERVED = f"{GROUP}/providers/Microsoft.Insights/actionGroups/ag-chsm"
BAD_INPUT: dict[str, tuple[str, str, Any, int, str, str | None]] = {
    # case: method, resource id, body, status, code, target (or a word the message names)
    "not JSON": ("PUT", ACCOUNT, b"{not json", 400, "InvalidRequestContent", None),
    "a JSON array": ("PUT", ACCOUNT, [1, 2], 400, "InvalidRequestContent", None),
    "an empty body": ("PUT", ACCOUNT, b"", 400, "InvalidRequestContent", None),
    "an id that is not the path": (
        "PUT",
        ACCOUNT,
        {"id": f"{GROUP}/providers/Microsoft.Storage/storageAccounts/other"},
        400,
        "InvalidRequestContent",
        "id",
    ),
    "a name that is not the id's": ("PUT", ACCOUNT, {"name": "other"}, 400, "InvalidRequestContent", "name"),
    "a type that is not the id's": (
        "PUT",
        ACCOUNT,
        {"type": "Microsoft.HardwareSecurityModules/cloudHsmClusters"},
        400,
        "InvalidRequestContent",
        "type",
    ),
    "an action group": ("PUT", UNSERVED, {"properties": {}}, 400, "InvalidResourceType", None),
    "a subscription, which is no resource id": (
        "PUT",
        f"/subscriptions/{SUB}",
        {},
        400,
        "InvalidResourceId",
        None,
    ),
    "a resource group that does not exist": (
        "PUT",
        f"/subscriptions/{SUB}/resourceGroups/rg-nowhere/providers/Microsoft.Storage/storageAccounts/x",
        {},
        404,
        "ResourceGroupNotFound",
        None,
    ),
    "a container of an account that does not exist": (
        "PUT",
        f"{GROUP}/providers/Microsoft.Storage/storageAccounts/nowhere/blobServices/default/containers/c",
        {},
        404,
        "ParentResourceNotFound",
        None,
    ),
    "an assignment at a resource that does not exist": (
        "PUT",
        f"{GROUP}/providers/Microsoft.Storage/storageAccounts/nowhere/providers/{ASSIGNMENTS}/x",
        {},
        404,
        "ResourceNotFound",
        None,
    ),
    "an assignment at the tenant root": (
        "PUT",
        f"/providers/{ASSIGNMENTS}/{sandbox_guid(1, 'test-assignment', 2)}",
        {},
        400,
        "InvalidResourceId",
        None,
    ),
    "a patch of nothing": ("PATCH", NEW_ASSIGNMENT, {"properties": {}}, 404, "RoleAssignmentNotFound", None),
    "a patch that is not JSON": ("PATCH", ACCOUNT, b"[", 400, "InvalidRequestContent", None),
    "a patch that moves the id": (
        "PATCH",
        ACCOUNT,
        {"id": f"{GROUP}/providers/Microsoft.Storage/storageAccounts/other"},
        400,
        "InvalidRequestContent",
        "id",
    ),
    "a patch that leaves no object": ("PATCH", ACCOUNT, [1], 400, "InvalidRequestContent", None),
    "a delete of nothing": ("DELETE", f"{CLUSTERS}/chsm-nowhere", None, 404, "ResourceNotFound", None),
    "a get of nothing": ("GET", NEW_ASSIGNMENT, None, 404, "RoleAssignmentNotFound", None),
    "a delete of a built-in role": (
        "DELETE",
        f"{DEFINITIONS}/ba92f5b4-2d11-453d-a403-e96b0029c9fe",
        None,
        400,
        "InvalidRequest",
        None,
    ),
}


@pytest.mark.parametrize("case", BAD_INPUT)
def test_bad_input_is_an_arm_error_and_changes_nothing(tmp_path: Path, case: str) -> None:
    method, resource_id, body, status, code, target = BAD_INPUT[case]
    client = TestClient(create_app(tmp_path, FAST))
    before = (tmp_path / "state.json").read_bytes()

    response = control(client, method, resource_id, body)

    assert response.status_code == status, response.text
    error = arm_error(response)
    assert error["code"] == code
    if target is not None:
        assert error["target"] == target
    assert (tmp_path / "state.json").read_bytes() == before


def test_a_lock_put_on_the_account_is_served_and_listed_with_its_subscriptions_locks(
    client: TestClient,
) -> None:
    put = control(client, "PUT", LOCK, {"properties": {"level": "ReadOnly", "notes": "audit"}})
    assert put.status_code == 201, put.text

    got = client.get(f"{LOCK}?api-version=2020-05-01").json()
    listed = client.get(
        f"/subscriptions/{SUB}/providers/Microsoft.Authorization/locks?api-version=2020-05-01"
    )
    assert (got["name"], got["type"], got["properties"]["level"]) == (
        "do-not-delete",
        "Microsoft.Authorization/locks",
        "ReadOnly",
    )
    assert [lock["name"] for lock in listed.json()["value"]] == ["lock-chsm-no-delete", "do-not-delete"]
    assert control(client, "DELETE", LOCK).status_code == 200
    assert client.get(f"{LOCK}?api-version=2020-05-01").json()["error"]["code"] == "LockNotFound"


def test_a_diagnostic_setting_put_on_the_blob_service_is_served_listed_and_deleted(
    client: TestClient,
) -> None:
    service = f"{ACCOUNT}/blobServices/default"
    setting = f"{service}/providers/Microsoft.Insights/diagnosticSettings/to-archive"
    body = {
        "properties": {"storageAccountId": ACCOUNT, "logs": [{"category": "StorageRead", "enabled": True}]}
    }
    assert control(client, "PUT", setting, body).status_code == 201

    listed = client.get(
        f"{service}/providers/Microsoft.Insights/diagnosticSettings?api-version=2021-05-01-preview"
    )
    assert [s["name"] for s in listed.json()["value"]] == ["to-log-chsm-audit", "to-archive"]
    assert "nextLink" not in listed.json()
    # The account's own settings are not its blob service's.
    on_account = client.get(
        f"{ACCOUNT}/providers/Microsoft.Insights/diagnosticSettings?api-version=2021-05-01-preview"
    )
    assert on_account.json() == {"value": []}
    assert control(client, "DELETE", setting).status_code == 200
    gone = client.get(f"{setting}?api-version=2021-05-01-preview")
    assert (gone.status_code, gone.json()["error"]["code"]) == (404, "ResourceNotFound")


@pytest.mark.parametrize(("resource_id", "named"), [(UNSERVED, "Microsoft.Insights/actionGroups")])
def test_a_type_the_sandbox_does_not_serve_is_named(client: TestClient, resource_id: str, named: str) -> None:
    error = arm_error(control(client, "PUT", resource_id, {}))

    assert named in error["message"]
    assert error["target"] == "type"


# --- how long jobs take ---------------------------------------------------------------------------


def test_patch_jobs_sets_how_long_the_next_backup_and_restore_take(client: TestClient) -> None:
    answered = client.patch("/_sandbox/jobs", json={"backup_seconds": 0.2, "restore_seconds": 130})

    assert answered.status_code == 200, answered.text
    assert answered.json() == {"backup_seconds": 0.2, "restore_seconds": 130.0}
    started = time.monotonic()
    assert backup_outcome(client)["status"] == "Succeeded"
    assert time.monotonic() - started >= 0.2
    [job] = client.get("/_sandbox/state").json()["jobs"]
    assert (job["kind"], job["seconds"], job["end_us"] - job["start_us"]) == ("backup", 0.2, 200_000)
    restored = client.post(
        f"{CLUSTERS}/chsm-dest/restore",
        params=HSM_API,
        json={"azureStorageBlobContainerUri": CONTAINER_URI, "backupId": "cloudhsm-x-20250616090000"},
    )
    assert restored.status_code == 202, restored.text
    jobs = client.get("/_sandbox/state").json()["jobs"]
    assert (jobs[-1]["kind"], jobs[-1]["seconds"]) == ("restore", 130.0)


def test_reset_restores_the_job_durations_the_sandbox_started_with(client: TestClient) -> None:
    client.patch("/_sandbox/jobs", json={"restore_seconds": 130})

    client.post("/_sandbox/reset")

    assert "restore_seconds" not in client.get("/_sandbox/state").json()


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"[1]", "The body must be a JSON object of one or more of backup_seconds, restore_seconds."),
        (b"{}", "The body must be a JSON object of one or more of backup_seconds, restore_seconds."),
        (b"not json", "The body must be a JSON object"),
        (b'{"restore_minutes": 2}', "restore_minutes: not a job duration; one of backup_seconds,"),
        (b'{"restore_seconds": -1}', "restore_seconds: seconds must be a number >= 0, not -1."),
        (b'{"restore_seconds": "100"}', 'restore_seconds: seconds must be a number >= 0, not "100".'),
        (b'{"restore_seconds": true}', "restore_seconds: seconds must be a number >= 0, not true."),
        (b'{"backup_seconds": NaN}', "backup_seconds: seconds must be a number >= 0, not NaN."),
        (b'{"backup_seconds": Infinity}', "backup_seconds: seconds must be a number >= 0, not Infinity."),
    ],
)
def test_a_bad_job_duration_is_an_arm_error_and_changes_nothing(
    client: TestClient, body: bytes, problem: str
) -> None:
    before = client.get("/_sandbox/state").json()

    answered = client.request("PATCH", "/_sandbox/jobs", content=body)

    assert answered.status_code == 400
    error = arm_error(answered)
    assert (error["code"], error["message"].startswith(problem)) == ("InvalidRequestContent", True), error
    assert client.get("/_sandbox/state").json() == before
