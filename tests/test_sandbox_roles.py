"""Role definitions in the sandbox: the built-ins as published, custom roles, authorisation by dataActions."""

from __future__ import annotations

import json
import re
import time
import warnings
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from httpx import Response

from chsm_checks.sandbox import SandboxSettings, create_app
from chsm_checks.sandbox.ids import sandbox_guid
from chsm_checks.sandbox.roles import action_matches

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
RD = "Microsoft.Authorization/roleDefinitions"
DEFINITIONS = f"/subscriptions/{SUB}/providers/{RD}"
TENANT_DEFINITIONS = f"/providers/{RD}"
SEEDED_ASSIGNMENT = (
    f"{ACCOUNT}/providers/Microsoft.Authorization/roleAssignments/{sandbox_guid(1, 'roleassignment', 1)}"
)
RBAC_API = {"api-version": "2022-04-01"}
HSM_API = {"api-version": "2025-03-31"}
CONTAINER_URI = "https://chsmbackupsbx.blob.core.windows.net/chsm-backups"
CUSTOM = sandbox_guid(1, "custom-role", 1)
BLOBS = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs"

SBDC = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
SBDO = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"
SBDR = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"
OWNER = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7382dd24c"
READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
STORAGE_ACCOUNT_CONTRIBUTOR = "17d1049b-9a84-46fb-8f53-869881c3d3ab"
# The roles the harness judges least privilege with; each must be served as Azure publishes it.
REQUIRED_BUILT_INS = {
    SBDC: "Storage Blob Data Contributor",
    SBDO: "Storage Blob Data Owner",
    SBDR: "Storage Blob Data Reader",
    "db58b8e5-c6ad-4a2a-8342-4190687cbf4a": "Storage Blob Delegator",
    STORAGE_ACCOUNT_CONTRIBUTOR: "Storage Account Contributor",
    "81a9662b-bebf-436f-a333-f67b29880f12": "Storage Account Key Operator Service Role",
    "c12c1c16-33a1-487b-954d-41c89c60f349": "Reader and Data Access",
    OWNER: "Owner",
    CONTRIBUTOR: "Contributor",
    READER: "Reader",
    "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9": "User Access Administrator",
    "f58310d9-a9f6-439a-9e8d-f62e7b41a168": "Role Based Access Control Administrator",
}
FAST = SandboxSettings(backup_seconds=0.05, restore_seconds=0.05)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(tmp_path, FAST)) as test_client:
        yield test_client


def data_file() -> dict[str, Any]:
    text = resources.files("chsm_checks.sandbox").joinpath("builtin_roles.json").read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def arm_error(response: Response) -> str:
    body = response.json()
    assert set(body) == {"error"}, body
    code: str = body["error"]["code"]
    return code


def follow_pages(client: TestClient, url: str, params: dict[str, str]) -> list[dict[str, Any]]:
    response = client.get(url, params=params)
    assert response.status_code == 200, response.text
    pages = [response.json()]
    while "nextLink" in pages[-1]:
        response = client.get(pages[-1]["nextLink"])
        assert response.status_code == 200, response.text
        pages.append(response.json())
    return pages


def custom_role(permissions: list[dict[str, Any]], guid: str = CUSTOM) -> dict[str, Any]:
    return {
        "id": f"{DEFINITIONS}/{guid}",
        "name": guid,
        "type": RD,
        "properties": {
            "roleName": f"Backup writer {guid[-4:]}",
            "type": "CustomRole",
            "description": "Writes HSM backups.",
            "assignableScopes": [f"/subscriptions/{SUB}"],
            "permissions": permissions,
        },
    }


def permission(data_actions: list[str], not_data_actions: list[str] | None = None) -> dict[str, Any]:
    return {
        "actions": [],
        "notActions": [],
        "dataActions": data_actions,
        "notDataActions": not_data_actions or [],
    }


def control(client: TestClient, method: str, resource_id: str, body: Any = None) -> Response:
    return client.request(method, f"/_sandbox/arm{resource_id}", json=body)


def finish(client: TestClient, started: Response) -> dict[str, Any]:
    assert started.status_code == 202, started.text
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        polled = client.get(started.headers["location"])
        if polled.status_code == 200:
            properties: dict[str, Any] = polled.json()["properties"]
            return properties
        time.sleep(0.02)
    raise AssertionError("the job did not finish within 5 s")


def backup(client: TestClient) -> dict[str, Any]:
    return finish(
        client,
        client.post(
            f"{CLUSTERS}/chsm-source/backup",
            params=HSM_API,
            json={"azureStorageBlobContainerUri": CONTAINER_URI},
        ),
    )


def restore(client: TestClient, backup_id: str) -> dict[str, Any]:
    return finish(
        client,
        client.post(
            f"{CLUSTERS}/chsm-dest/restore",
            params=HSM_API,
            json={"azureStorageBlobContainerUri": CONTAINER_URI, "backupId": backup_id},
        ),
    )


def give_role(client: TestClient, role_definition_id: str, **extra: Any) -> None:
    """Make the cluster identity's one assignment on the backup account name ``role_definition_id``."""
    patched = control(
        client, "PATCH", SEEDED_ASSIGNMENT, {"properties": {"roleDefinitionId": role_definition_id, **extra}}
    )
    assert patched.status_code == 200, patched.text


# --- the data file --------------------------------------------------------------------------------


def test_the_built_ins_are_published_roles_each_with_its_source() -> None:
    data = data_file()
    roles = data["roleDefinitions"]
    names = [r["name"] for r in roles]

    assert len(set(names)) == len(names)
    assert len({r["properties"]["roleName"] for r in roles}) == len(roles)
    sourced = [guid for source in data["sources"] for guid in source["roles"]]
    assert sorted(sourced) == sorted(names)  # each role named by exactly one source
    for source in data["sources"]:
        assert re.fullmatch(r"[0-9a-f]{40}", source["commit"])
        assert source["repository"] == "MicrosoftDocs/azure-docs"
    by_guid = {r["name"]: r for r in roles}
    assert {
        guid: by_guid[guid]["properties"]["roleName"] for guid in REQUIRED_BUILT_INS
    } == REQUIRED_BUILT_INS
    for role in roles:
        assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", role["name"])
        assert role["id"] == f"/providers/{RD}/{role['name']}"
        assert role["type"] == RD
        properties = role["properties"]
        assert properties["type"] == "BuiltInRole"
        assert properties["assignableScopes"] == ["/"]
        assert set(properties) == {"roleName", "type", "description", "assignableScopes", "permissions"}
        for block in properties["permissions"]:
            assert set(block) == {"actions", "notActions", "dataActions", "notDataActions"}


def test_blob_data_contributor_has_its_published_permissions() -> None:
    (role,) = [r for r in data_file()["roleDefinitions"] if r["name"] == SBDC]

    assert role["properties"]["permissions"] == [
        {
            "actions": [
                "Microsoft.Storage/storageAccounts/blobServices/containers/delete",
                "Microsoft.Storage/storageAccounts/blobServices/containers/read",
                "Microsoft.Storage/storageAccounts/blobServices/containers/write",
                "Microsoft.Storage/storageAccounts/blobServices/generateUserDelegationKey/action",
            ],
            "notActions": [],
            "dataActions": [
                f"{BLOBS}/delete",
                f"{BLOBS}/read",
                f"{BLOBS}/write",
                f"{BLOBS}/move/action",
                f"{BLOBS}/add/action",
            ],
            "notDataActions": [],
        }
    ]


# --- GET and list ---------------------------------------------------------------------------------


def test_the_seeded_assignment_s_role_definition_id_is_served(client: TestClient) -> None:
    role_definition_id = client.get(SEEDED_ASSIGNMENT, params=RBAC_API).json()["properties"][
        "roleDefinitionId"
    ]

    response = client.get(role_definition_id, params=RBAC_API)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == f"{DEFINITIONS}/{SBDC}" == role_definition_id
    assert body["name"] == SBDC
    assert body["type"] == RD
    assert body["properties"]["roleName"] == "Storage Blob Data Contributor"
    assert body["properties"]["type"] == "BuiltInRole"
    assert body["properties"]["assignableScopes"] == ["/"]


@pytest.mark.parametrize(
    ("scope", "id_prefix"),
    [
        ("", ""),  # the tenant-level form ARM also hands out
        (f"/subscriptions/{SUB}", f"/subscriptions/{SUB}"),
        (GROUP, f"/subscriptions/{SUB}"),
        (CONTAINER, f"/subscriptions/{SUB}"),
    ],
)
def test_a_built_in_is_served_at_any_scope(client: TestClient, scope: str, id_prefix: str) -> None:
    (published,) = [r for r in data_file()["roleDefinitions"] if r["name"] == OWNER]

    response = client.get(f"{scope}/providers/{RD}/{OWNER.upper()}", params=RBAC_API)

    assert response.status_code == 200, response.text
    assert response.json() == {**published, "id": f"{id_prefix}/providers/{RD}/{OWNER}"}


@pytest.mark.parametrize(
    ("path", "params", "status", "code"),
    [
        (f"{DEFINITIONS}/{sandbox_guid(1, 'no-such-role', 1)}", RBAC_API, 404, "RoleDefinitionDoesNotExist"),
        (f"{DEFINITIONS}/{SBDC}", {}, 400, "InvalidApiVersionParameter"),
        # A role-assignments version that no role-definitions spec has.
        (f"{DEFINITIONS}/{SBDC}", {"api-version": "2020-10-01-preview"}, 400, "InvalidApiVersionParameter"),
        (DEFINITIONS, {}, 400, "InvalidApiVersionParameter"),
        (
            f"/subscriptions/{sandbox_guid(1, 'subscription', 5)}/providers/{RD}/{SBDC}",
            RBAC_API,
            404,
            "SubscriptionNotFound",
        ),
        (DEFINITIONS, {**RBAC_API, "$filter": "atScopeAndBelow()"}, 400, "InvalidQueryParameterValue"),
    ],
)
def test_role_definition_errors_are_arm_errors(
    client: TestClient, path: str, params: dict[str, str], status: int, code: str
) -> None:
    response = client.get(path, params=params)

    assert response.status_code == status, response.text
    assert arm_error(response) == code


def test_the_list_pages_through_every_built_in(tmp_path: Path) -> None:
    client = TestClient(create_app(tmp_path, SandboxSettings(page_size=10)))
    expected = len(data_file()["roleDefinitions"])

    pages = follow_pages(client, DEFINITIONS, RBAC_API)

    listed = [r for page in pages for r in page["value"]]
    assert len(pages) == -(-expected // 10)
    assert "api-version=2022-04-01" in pages[0]["nextLink"]
    assert len({r["name"] for r in listed}) == len(listed) == expected
    assert all(r["id"] == f"{DEFINITIONS}/{r['name']}" for r in listed)
    tenant = [r for page in follow_pages(client, TENANT_DEFINITIONS, RBAC_API) for r in page["value"]]
    assert [r["id"] for r in tenant] == [f"/providers/{RD}/{r['name']}" for r in listed]


@pytest.mark.parametrize(
    ("wanted", "names"),
    [
        ("roleName eq 'Storage Blob Data Reader'", [SBDR]),
        ("roleName eq 'No Such Role'", []),
        ("type eq 'CustomRole'", [CUSTOM]),
    ],
)
def test_the_list_filters_by_role_name_and_type(client: TestClient, wanted: str, names: list[str]) -> None:
    control(client, "PUT", f"{DEFINITIONS}/{CUSTOM}", custom_role([permission([f"{BLOBS}/write"])]))

    listed = [
        r
        for page in follow_pages(client, DEFINITIONS, {**RBAC_API, "$filter": wanted})
        for r in page["value"]
    ]

    assert [r["name"] for r in listed] == names


def test_built_in_type_filter_lists_only_built_ins(client: TestClient) -> None:
    control(client, "PUT", f"{DEFINITIONS}/{CUSTOM}", custom_role([permission([f"{BLOBS}/write"])]))

    built_in = [
        r
        for page in follow_pages(client, DEFINITIONS, {**RBAC_API, "$filter": "type eq 'BuiltInRole'"})
        for r in page["value"]
    ]

    assert len(built_in) == len(data_file()["roleDefinitions"])
    assert CUSTOM not in {r["name"] for r in built_in}


# --- custom roles and conditions ---------------------------------------------------------------------


def test_a_custom_role_put_through_the_control_api_is_served_like_a_built_in(client: TestClient) -> None:
    body = custom_role([permission([f"{BLOBS}/read", f"{BLOBS}/write"])])

    created = control(client, "PUT", f"{DEFINITIONS}/{CUSTOM}", body)

    assert created.status_code == 201, created.text
    assert client.get(f"{DEFINITIONS}/{CUSTOM}", params=RBAC_API).json() == body
    listed = [r for page in follow_pages(client, DEFINITIONS, RBAC_API) for r in page["value"]]
    assert body in listed


def test_an_assignment_keeps_its_condition_as_arm_returns_it(client: TestClient) -> None:
    condition = (
        "((!(ActionMatches{'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write'})) OR "
        "(@Resource[Microsoft.Storage/storageAccounts/blobServices/containers:name] "
        "StringEquals 'chsm-backups'))"
    )

    give_role(client, f"{DEFINITIONS}/{SBDC}", condition=condition, conditionVersion="2.0")

    listed = client.get(
        f"{ACCOUNT}/providers/Microsoft.Authorization/roleAssignments", params=RBAC_API
    ).json()
    (mine,) = [a for a in listed["value"] if a["id"] == SEEDED_ASSIGNMENT]
    assert mine["properties"]["condition"] == condition
    assert mine["properties"]["conditionVersion"] == "2.0"


# --- the sandbox's own authorisation of a backup ------------------------------------------------------


def put_custom(client: TestClient, body: dict[str, Any]) -> str:
    created = control(client, "PUT", body["id"], body)
    assert created.status_code == 201, created.text
    role_id: str = body["id"]
    return role_id


BACKUP_BY_ROLE: dict[str, tuple[Any, str]] = {
    # case: (a built-in GUID, or a custom role's permissions), the backup's outcome
    "Storage Blob Data Contributor": (SBDC, "Succeeded"),
    "Storage Blob Data Owner": (SBDO, "Succeeded"),
    "Storage Blob Data Reader": (SBDR, "Failed"),
    "Owner": (OWNER, "Failed"),
    "Contributor": (CONTRIBUTOR, "Failed"),
    "Reader": (READER, "Failed"),
    "Storage Account Contributor": (STORAGE_ACCOUNT_CONTRIBUTOR, "Failed"),
    "a role that does not exist": (sandbox_guid(1, "no-such-role", 1), "Failed"),
    "a custom role with blob write": ([permission([f"{BLOBS}/write"])], "Succeeded"),
    "a custom role with a wildcard": ([permission(["Microsoft.Storage/*"])], "Succeeded"),
    "a custom role in another case": ([permission([f"{BLOBS.upper()}/WRITE"])], "Succeeded"),
    "a custom role whose notDataActions take write away": (
        [permission(["Microsoft.Storage/*"], [f"{BLOBS}/write"])],
        "Failed",
    ),
    "a custom role whose notDataActions take it away by wildcard": (
        [permission([f"{BLOBS}/*"], [f"{BLOBS}/w*"])],
        "Failed",
    ),
    "a custom role that grants write in a second block": (
        [permission([f"{BLOBS}/read"]), permission([f"{BLOBS}/write"])],
        "Succeeded",
    ),
    "a custom role whose write is only an action, not a data action": (
        [{"actions": [f"{BLOBS}/write"], "notActions": [], "dataActions": [], "notDataActions": []}],
        "Failed",
    ),
    "a custom role without permissions": ("no-permissions", "Failed"),
    "a custom role whose permissions are not a list": ("permissions-not-a-list", "Failed"),
}


@pytest.mark.parametrize("case", BACKUP_BY_ROLE)
def test_a_backup_is_authorised_by_the_role_s_data_actions(client: TestClient, case: str) -> None:
    role, outcome = BACKUP_BY_ROLE[case]
    if isinstance(role, list):
        role_id = put_custom(client, custom_role(role))
    elif role == "no-permissions":
        body = custom_role([])
        del body["properties"]["permissions"]
        role_id = put_custom(client, body)
    elif role == "permissions-not-a-list":
        body = custom_role([])
        body["properties"]["permissions"] = {"dataActions": ["*"]}
        role_id = put_custom(client, body)
    else:
        role_id = f"{DEFINITIONS}/{role}"
    give_role(client, role_id)

    result = backup(client)

    assert result["status"] == outcome, result
    if outcome == "Failed":
        assert result["error"]["code"] == "AuthorizationPermissionMismatch"


def test_an_assignment_with_a_condition_grants_nothing_in_the_sandbox(client: TestClient) -> None:
    give_role(
        client,
        f"{DEFINITIONS}/{SBDC}",
        condition="@Resource[Microsoft.Storage/storageAccounts/blobServices/containers:name] "
        "StringEquals 'x'",
        conditionVersion="2.0",
    )

    assert backup(client)["error"]["code"] == "AuthorizationPermissionMismatch"


def test_a_restore_needs_blob_read_and_a_backup_blob_write(client: TestClient) -> None:
    backup_id = backup(client)["backupId"]
    give_role(client, f"{DEFINITIONS}/{SBDR}")

    assert backup(client)["status"] == "Failed"
    assert restore(client, backup_id)["status"] == "Succeeded"


def test_a_restore_without_blob_read_fails(client: TestClient) -> None:
    backup_id = backup(client)["backupId"]
    give_role(client, put_custom(client, custom_role([permission([f"{BLOBS}/write"])])))

    result = restore(client, backup_id)

    assert result["status"] == "Failed"
    assert result["error"]["code"] == "AuthorizationPermissionMismatch"


def test_a_role_at_the_subscription_covers_the_container(client: TestClient) -> None:
    control(client, "DELETE", SEEDED_ASSIGNMENT)
    wide = (
        f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleAssignments/{sandbox_guid(1, 'test', 1)}"
    )
    body = {
        "properties": {
            "roleDefinitionId": f"{DEFINITIONS}/{SBDO}",
            "principalId": PRINCIPAL,
            "principalType": "ServicePrincipal",
            "scope": f"/subscriptions/{SUB}",
        }
    }
    assert control(client, "PUT", wide, body).status_code == 201

    assert backup(client)["status"] == "Succeeded"


# --- wildcards as ARM evaluates them ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "action", "matches"),
    [
        ("*", f"{BLOBS}/write", True),
        ("Microsoft.Storage/*", f"{BLOBS}/write", True),
        (f"{BLOBS}/*", f"{BLOBS}/tags/write", True),
        ("*/write", f"{BLOBS}/write", True),
        ("*/read", f"{BLOBS}/write", False),
        (f"{BLOBS}/write", f"{BLOBS}/write", True),
        (f"{BLOBS.lower()}/WRITE", f"{BLOBS}/write", True),
        (f"{BLOBS}/write", f"{BLOBS}/read", False),
        (f"{BLOBS}/write", f"{BLOBS}/write/more", False),
        # Only * is special: a dot is a dot, not a regular expression's any character.
        ("Microsoft.Storage/storageAccounts/blobServices/containers/blob.", BLOBS, False),
        (f"{BLOBS}/write", f"{BLOBS.replace('.', 'X')}/write", False),
        ("Microsoft.Sto*/storageAccounts/*/blobs/write", f"{BLOBS}/write", True),
        ("", f"{BLOBS}/write", False),
    ],
)
def test_action_patterns_match_as_arm_evaluates_them(pattern: str, action: str, matches: bool) -> None:
    assert action_matches(pattern, action) is matches
