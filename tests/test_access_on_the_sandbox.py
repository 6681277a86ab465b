"""The false passes of access and storage checks, reproduced on the real sandbox through its control
API and judged through ``chsm-checks run``: each now ends as the finding or error it is."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.processes import Sandbox, live_catalogue

SUB = "5a4db0c5-bb2d-4bf6-8511-e5af3d4f4247"  # the sandbox's own subscription for seed 1
GROUP = f"/subscriptions/{SUB}/resourceGroups/rg-chsm-sandbox"
ACCOUNT = f"{GROUP}/providers/Microsoft.Storage/storageAccounts/chsmbackupsbx"
CONTAINER = f"{ACCOUNT}/blobServices/default/containers/chsm-backups"
ROLES = f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions"
SBDC = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
STORAGE_ACCOUNT_CONTRIBUTOR = "17d1049b-9a84-46fb-8f53-869881c3d3ab"
CUSTOM = "5a4db0c5-0000-4000-8000-00000000c0de"
NAME = "@Resource[Microsoft.Storage/storageAccounts/blobServices/containers:name]"


def _principal(sandbox: Sandbox) -> str:
    identity = sandbox.arm(
        "GET", f"{GROUP}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-chsm-backup"
    )
    return str(identity["properties"]["principalId"])


def _assign(sandbox: Sandbox, role: str, scope: str, n: int, **properties: Any) -> None:
    sandbox.arm(
        "PUT",
        f"{scope}/providers/Microsoft.Authorization/roleAssignments/5a4db0c5-0000-4000-8000-{n:012d}",
        {
            "properties": {
                "roleDefinitionId": f"{ROLES}/{role}",
                "principalId": _principal(sandbox),
                "principalType": "ServicePrincipal",
                "scope": scope,
                **properties,
            }
        },
    )


def _only_backup_assignment(sandbox: Sandbox) -> str:
    """The id of the seeded Storage Blob Data Contributor assignment on the account."""
    listed = sandbox.arm("GET", ACCOUNT)
    assert listed["name"] == "chsmbackupsbx"
    state = sandbox.get("/_sandbox/state")
    [assignment] = [
        a for a in state["role_assignments"] if a["properties"]["roleDefinitionId"].endswith(SBDC)
    ]
    return str(assignment["id"])


def also_storage_account_contributor(sandbox: Sandbox) -> None:
    _assign(sandbox, STORAGE_ACCOUNT_CONTRIBUTOR, ACCOUNT, 1)


def sbdc_at_the_resource_group(sandbox: Sandbox) -> None:
    sandbox.arm("DELETE", _only_backup_assignment(sandbox))
    _assign(sandbox, SBDC, GROUP, 2)


def a_custom_role_that_grants_too_much(sandbox: Sandbox) -> None:
    sandbox.arm(
        "PUT",
        f"{ROLES}/{CUSTOM}",
        {
            "properties": {
                "roleName": "Backup operator",
                "type": "CustomRole",
                "assignableScopes": [f"/subscriptions/{SUB}"],
                "permissions": [{"actions": ["Microsoft.Storage/storageAccounts/*"]}],
            }
        },
    )
    _assign(sandbox, CUSTOM, ACCOUNT, 3)


def a_condition_on_another_container(sandbox: Sandbox) -> None:
    backup = sandbox.arm("GET", _only_backup_assignment(sandbox))
    condition = f"(({NAME} StringEquals 'somewhere-else'))"
    sandbox.arm("PATCH", backup["id"], {"properties": {"condition": condition, "conditionVersion": "2.0"}})


def a_condition_nobody_can_evaluate(sandbox: Sandbox) -> None:
    backup = sandbox.arm("GET", _only_backup_assignment(sandbox))
    condition = (
        "((@Request[Microsoft.Storage/storageAccounts/blobServices/containers/blobs:path] StringLike 'x'))"
    )
    sandbox.arm("PATCH", backup["id"], {"properties": {"condition": condition}})


def an_assignment_without_its_scope(sandbox: Sandbox) -> None:
    backup = sandbox.arm("GET", _only_backup_assignment(sandbox))
    sandbox.arm("PATCH", backup["id"], {"properties": {"scope": None}})


def an_account_without_properties(sandbox: Sandbox) -> None:
    body = sandbox.arm("GET", ACCOUNT)
    body.pop("properties")
    sandbox.arm("PUT", ACCOUNT, body)


def a_container_without_properties(sandbox: Sandbox) -> None:
    body = sandbox.arm("GET", CONTAINER)
    body.pop("properties")
    sandbox.arm("PUT", CONTAINER, body)


LEAST = "The identity holds no role on the account beyond what the backup needs"
HOLDS = "Each cluster identity holds Storage Blob Data Contributor on the account"
ANONYMOUS = "The storage account's anonymous blob access is as the tutorial requires"
CONTAINER_PRIVATE = "The backup container allows no public access"


CASES: list[tuple[Callable[[Sandbox], None], dict[str, tuple[str, str]]]] = [
    (
        also_storage_account_contributor,
        {LEAST: ("failed", "Storage Account Contributor at chsmbackupsbx grants"), HOLDS: ("passed", "")},
    ),
    (
        sbdc_at_the_resource_group,
        {LEAST: ("failed", "scoped to resource group rg-chsm-sandbox"), HOLDS: ("passed", "")},
    ),
    (
        a_custom_role_that_grants_too_much,
        {LEAST: ("failed", "Backup operator at chsmbackupsbx grants Microsoft.Storage/storageAccounts/*")},
    ),
    (
        a_condition_on_another_container,
        {HOLDS: ("failed", "keeps its data actions off container chsm-backups")},
    ),
    (a_condition_nobody_can_evaluate, {HOLDS: ("error", "cannot be evaluated")}),
    (
        an_assignment_without_its_scope,
        {HOLDS: ("error", "cannot be read whole"), LEAST: ("error", "cannot be read whole")},
    ),
    (an_account_without_properties, {ANONYMOUS: ("error", "properties is absent")}),
    (a_container_without_properties, {CONTAINER_PRIVATE: ("error", "properties is absent")}),
]


@pytest.mark.parametrize(("shape", "expected"), CASES, ids=[shape.__name__ for shape, _ in CASES])
def test_a_false_pass_of_today_ends_as_what_it_is(
    tmp_path: Path, shape: Callable[[Sandbox], None], expected: dict[str, tuple[str, str]]
) -> None:
    entries = live_catalogue(tmp_path, shape)
    for name, (outcome, said) in expected.items():
        assert entries[name]["outcome"] == outcome, (name, entries[name]["message"])
        assert said in entries[name]["message"], (name, entries[name]["message"])
