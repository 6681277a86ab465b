"""What the cluster identity may do on the storage account: judged by permissions, never role names."""

from __future__ import annotations

from typing import Any

import pytest
from check_fixtures import (
    ACCOUNT_ID,
    BUILTIN_ROLES,
    CONTAINER_ID,
    IDENTITY_ID,
    MANAGEMENT_GROUP,
    OTHER_CONTAINER_ID,
    RG,
    SBDC,
    SUB,
    assert_finding,
    assignment_json,
    builtin_role_json,
    role_definition_json,
)

from chsm_checks.arm.snapshots import RoleAssignment, RoleDefinition
from chsm_checks.checks import access, permissions
from chsm_checks.checks.access import HeldRole
from chsm_checks.outcomes import Outcome

PASSED, FAILED, ERROR = Outcome.PASSED, Outcome.FAILED, Outcome.ERROR
SUBSCRIPTION = f"/subscriptions/{SUB}"
EXACT_NEED = "c0ffee00-0000-4000-8000-000000000001"
CONTAINER = "chsm-backups"
ABAC_NAME = "@Resource[Microsoft.Storage/storageAccounts/blobServices/containers:name]"


def custom_role(name: str = "Backup writer", **permissions_: Any) -> dict[str, Any]:
    return role_definition_json(name, EXACT_NEED, custom=True, **permissions_)


def exact_need_role() -> dict[str, Any]:
    return custom_role(
        actions=list(permissions.NEEDED_ACTIONS), data_actions=list(permissions.NEEDED_DATA_ACTIONS)
    )


def held(role: str | dict[str, Any], scope: str, **assignment: Any) -> HeldRole:
    definition = builtin_role_json(role) if isinstance(role, str) else role
    guid = definition["name"]
    return HeldRole(
        RoleAssignment.from_arm(assignment_json(guid, scope, **assignment)),
        RoleDefinition.from_arm(definition),
    )


def contributor(*roles: HeldRole) -> Any:
    return access.holds_blob_data_contributor(IDENTITY_ID, roles, ACCOUNT_ID, CONTAINER_ID)


def least(*roles: HeldRole) -> Any:
    return access.least_privilege(IDENTITY_ID, roles, ACCOUNT_ID, CONTAINER_ID)


def only_to(container: str, *actions: str) -> str:
    """The portal's form of a condition that lets ``actions`` happen only in ``container``."""
    listed = " AND ".join(f"!(ActionMatches{{'{a}'}})" for a in actions)
    return f"(({listed}) OR ({ABAC_NAME} StringEquals '{container}'))"


# -- holds what the backup needs -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("roles", "expected"),
    [
        pytest.param([held("Storage Blob Data Contributor", ACCOUNT_ID)], PASSED, id="sbdc-account"),
        pytest.param([held("Storage Blob Data Contributor", CONTAINER_ID)], PASSED, id="sbdc-container"),
        pytest.param([held("Storage Blob Data Contributor", RG)], PASSED, id="sbdc-resource-group"),
        pytest.param([held("Storage Blob Data Contributor", MANAGEMENT_GROUP)], PASSED, id="sbdc-mgmt-group"),
        pytest.param([held("Storage Blob Data Owner", ACCOUNT_ID)], PASSED, id="owner-of-data-has-the-need"),
        pytest.param([held(exact_need_role(), ACCOUNT_ID)], PASSED, id="custom-role-exactly-the-need"),
        pytest.param(
            [held("Storage Blob Data Contributor", OTHER_CONTAINER_ID)], FAILED, id="another-container"
        ),
        pytest.param([held("Owner", ACCOUNT_ID)], FAILED, id="owner-grants-no-data-access"),
        pytest.param([held("Contributor", RG)], FAILED, id="contributor-grants-no-data-access"),
        pytest.param([held("Storage Blob Data Reader", ACCOUNT_ID)], FAILED, id="reader-cannot-write"),
        pytest.param([], FAILED, id="no-roles"),
        pytest.param(
            [
                held(custom_role(actions=list(permissions.NEEDED_ACTIONS)), ACCOUNT_ID),
                held(
                    role_definition_json(
                        "Blob data", "c0ffee00-0000-4000-8000-000000000002", custom=True,
                        data_actions=list(permissions.NEEDED_DATA_ACTIONS),
                    ),
                    CONTAINER_ID,
                ),
            ],
            PASSED,
            id="two-custom-roles-together",
        ),
        pytest.param(
            [held(custom_role(actions=list(permissions.NEEDED_ACTIONS),
                              data_actions=list(permissions.NEEDED_DATA_ACTIONS[:-1])), ACCOUNT_ID)],
            FAILED,
            id="custom-role-missing-one-data-action",
        ),
        pytest.param(
            [held(custom_role(actions=list(permissions.NEEDED_ACTIONS),
                              data_actions=[f"{permissions.NEEDED_DATA_ACTIONS[0].rsplit('/', 1)[0]}/*"],
                              not_data_actions=[permissions.NEEDED_DATA_ACTIONS[2]]), ACCOUNT_ID)],
            FAILED,
            id="wildcard-with-the-write-excluded",
        ),
    ],
)  # fmt: skip
def test_holds_what_the_backup_needs(roles: list[HeldRole], expected: Outcome) -> None:
    assert_finding(contributor(*roles), expected, "access.blob-data-contributor", IDENTITY_ID)


def test_a_custom_role_that_grants_exactly_the_need_counts_and_says_so() -> None:
    finding = contributor(held(exact_need_role(), ACCOUNT_ID))
    assert finding.status is PASSED
    assert "Backup writer" in finding.message
    assert "a custom role" in finding.message
    assert finding.observed["custom"] is True


def test_a_missing_permission_is_named() -> None:
    finding = contributor(held("Storage Blob Data Reader", ACCOUNT_ID))
    assert finding.status is FAILED
    assert "Microsoft.Storage/storageAccounts/blobServices/containers/delete" in finding.message
    assert finding.observed["missing"][0] == permissions.NEEDED_ACTIONS[0]


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        pytest.param(only_to(CONTAINER, *permissions.NEEDED_DATA_ACTIONS), PASSED, id="names-the-container"),
        pytest.param(
            only_to("other", *permissions.NEEDED_DATA_ACTIONS), FAILED, id="names-another-container"
        ),
        pytest.param(only_to("other", permissions.NEEDED_DATA_ACTIONS[1]), FAILED, id="read-only-elsewhere"),
        pytest.param(f"(({ABAC_NAME} StringEqualsIgnoreCase 'CHSM-BACKUPS'))", PASSED, id="ignore-case"),
        pytest.param(f"(({ABAC_NAME} StringLike 'chsm-*'))", PASSED, id="like-matches"),
        pytest.param(f"(({ABAC_NAME} StringLike 'prod-*'))", FAILED, id="like-does-not-match"),
        pytest.param(
            f"(({ABAC_NAME} ForAnyOfAnyValues:StringEquals {{'a', '{CONTAINER}'}}))", PASSED, id="any-of-set"
        ),
        pytest.param(f"(({ABAC_NAME} StringNotEquals '{CONTAINER}'))", FAILED, id="not-equals"),
    ],
)
def test_a_condition_counts_only_where_it_is_shown_to_include_the_container(
    condition: str, expected: Outcome
) -> None:
    finding = contributor(held("Storage Blob Data Contributor", ACCOUNT_ID, condition=condition))
    assert_finding(finding, expected, "access.blob-data-contributor", IDENTITY_ID)
    if expected is PASSED:
        assert "condition evaluated to include container chsm-backups" in finding.message


@pytest.mark.parametrize(
    ("condition", "version"),
    [
        pytest.param(
            "((@Resource[Microsoft.Storage/storageAccounts/blobServices/containers/blobs:path] "
            "StringLike 'a/*'))",
            "2.0",
            id="blob-path",
        ),
        pytest.param(
            "((!(ActionMatches{'x'} AND NOT SubOperationMatches{'Blob.List'})) OR "
            f"({ABAC_NAME} StringEquals 'chsm-backups'))",
            "2.0",
            id="sub-operation",
        ),
        pytest.param("((@Request[Microsoft.Storage/x:y] StringEquals 'z'))", "2.0", id="request-attribute"),
        pytest.param(f"(({ABAC_NAME} StringEquals 'chsm-backups'))", "1.0", id="unknown-version"),
        pytest.param("this is not a condition (", "2.0", id="unreadable"),
    ],
)
def test_a_condition_that_cannot_be_evaluated_is_an_error_naming_it(condition: str, version: str) -> None:
    finding = contributor(
        held("Storage Blob Data Contributor", ACCOUNT_ID, condition=condition, condition_version=version)
    )
    assert finding.status is ERROR
    assert "condition of Storage Blob Data Contributor" in finding.message
    assert "cannot be evaluated" in finding.message


# -- least privilege -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("roles", "named"),
    [
        pytest.param(
            [
                held("Storage Blob Data Contributor", ACCOUNT_ID),
                held("Storage Account Contributor", ACCOUNT_ID),
            ],
            "Storage Account Contributor at chsmbackupsbx grants Microsoft.Authorization/*/read (actions)",
            id="also-storage-account-contributor",
        ),
        pytest.param(
            [
                held(
                    custom_role("Ops", actions=["Microsoft.Storage/storageAccounts/listKeys/action"]),
                    ACCOUNT_ID,
                )
            ],
            "Ops at chsmbackupsbx grants Microsoft.Storage/storageAccounts/listKeys/action (actions)",
            id="custom-role-lists-keys",
        ),
        pytest.param(
            [held("Storage Blob Data Contributor", RG)],
            "Storage Blob Data Contributor at resource group rg-chsm-sandbox is scoped to resource group "
            "rg-chsm-sandbox, which covers every other resource there",
            id="sbdc-at-resource-group",
        ),
        pytest.param(
            [held("Storage Blob Data Contributor", SUBSCRIPTION)],
            f"is scoped to subscription {SUB}",
            id="sbdc-at-subscription",
        ),
        pytest.param(
            [held("Storage Blob Data Contributor", MANAGEMENT_GROUP)],
            "is scoped to management group mg-chsm",
            id="sbdc-at-management-group",
        ),
        pytest.param(
            [held("Storage Blob Data Contributor", "/")],
            "is scoped to the tenant root (/)",
            id="sbdc-at-root",
        ),
        pytest.param(
            [held("Storage Blob Data Owner", ACCOUNT_ID)],
            "Storage Blob Data Owner at chsmbackupsbx grants "
            "Microsoft.Storage/storageAccounts/blobServices/containers/* (actions)",
            id="data-owner",
        ),
        pytest.param(
            [held("Owner", RG)], "Owner at resource group rg-chsm-sandbox grants * (actions)", id="owner"
        ),
        pytest.param(
            [held("Reader", ACCOUNT_ID)], "Reader at chsmbackupsbx grants */read (actions)", id="reader"
        ),
        pytest.param(
            [held("User Access Administrator", CONTAINER_ID)],
            "User Access Administrator at chsm-backups grants */read (actions)",
            id="uaa-on-the-container",
        ),
        pytest.param(
            [held("Storage Blob Data Contributor", OTHER_CONTAINER_ID)],
            "is scoped to chsm-scratch, which reaches beyond the backup container",
            id="another-container-under-the-account",
        ),
        pytest.param(
            [held(custom_role(data_actions=[
                "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/*"
            ]), ACCOUNT_ID)],
            "Backup writer at chsmbackupsbx grants "
            "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/* (dataActions)",
            id="data-wildcard",
        ),
    ],
)  # fmt: skip
def test_least_privilege_fails_naming_the_role_its_scope_and_the_first_permission_beyond(
    roles: list[HeldRole], named: str
) -> None:
    finding = least(*roles)
    assert_finding(finding, FAILED, "access.least-privilege", IDENTITY_ID)
    assert named in finding.message


@pytest.mark.parametrize(
    "roles",
    [
        pytest.param([held("Storage Blob Data Contributor", ACCOUNT_ID)], id="sbdc-account"),
        pytest.param([held("Storage Blob Data Contributor", CONTAINER_ID)], id="sbdc-container"),
        pytest.param([held(exact_need_role(), ACCOUNT_ID)], id="custom-exactly-the-need"),
        pytest.param([held("Storage Blob Data Reader", CONTAINER_ID)], id="less-than-the-need"),
        pytest.param([], id="nothing"),
        pytest.param(
            [
                held(
                    custom_role(
                        actions=["Microsoft.Storage/storageAccounts/blobServices/*"],
                        not_actions=["Microsoft.Storage/storageAccounts/blobServices/*"],
                    ),
                    ACCOUNT_ID,
                )
            ],
            id="a-wildcard-taken-back-whole",
        ),
        pytest.param(
            [held("Storage Blob Data Contributor", ACCOUNT_ID, condition=only_to(CONTAINER, "x"))],
            id="sbdc-with-a-condition",
        ),
    ],
)
def test_least_privilege_passes(roles: list[HeldRole]) -> None:
    assert_finding(least(*roles), PASSED, "access.least-privilege", IDENTITY_ID)


def test_least_privilege_names_every_excess() -> None:
    finding = least(held("Contributor", SUBSCRIPTION), held("User Access Administrator", ACCOUNT_ID))
    assert "Contributor at subscription" in finding.message
    assert "User Access Administrator at chsmbackupsbx" in finding.message
    assert len(finding.observed["beyond"]) == 3  # two roles beyond the need, one of them too broad


@pytest.mark.parametrize("name", sorted(BUILTIN_ROLES))
def test_only_storage_blob_data_contributor_and_less_pass_least_privilege(name: str) -> None:
    finding = least(held(name, ACCOUNT_ID))
    within = name in ("Storage Blob Data Contributor", "Storage Blob Data Reader")
    assert finding.status is (PASSED if within else FAILED), finding.message


@pytest.mark.parametrize(
    ("pattern", "operation", "expected"),
    [
        ("*", "Microsoft.Storage/storageAccounts/read", True),
        ("*/read", "Microsoft.Storage/storageAccounts/read", True),
        ("*/read", "Microsoft.Storage/storageAccounts/write", False),
        ("Microsoft.Storage/*", "microsoft.storage/storageaccounts/listkeys/action", True),
        ("Microsoft.Storage/storageAccounts/blobServices/containers/blobs/*", f"{SBDC}", False),
        ("Microsoft.Authorization/*/Write", "Microsoft.Authorization/roleAssignments/write", True),
    ],
)
def test_permission_patterns_match_as_arm_evaluates_them(
    pattern: str, operation: str, expected: bool
) -> None:
    assert permissions.matches(pattern, operation) is expected
