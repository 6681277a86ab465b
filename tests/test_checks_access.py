"""What the cluster identity may do on the storage account, over role assignments parsed from ARM."""

from __future__ import annotations

from typing import Any

import pytest
from check_fixtures import (
    ACCOUNT_ID,
    CONTAINER_ID,
    IDENTITY_ID,
    OTHER_ACCOUNT_ID,
    OTHER_CONTAINER_ID,
    OTHER_PRINCIPAL_ID,
    PRINCIPAL_ID,
    RG,
    SUB,
    assert_finding,
    assignment_json,
)

from chsm_checks.arm.snapshots import RoleAssignment
from chsm_checks.checks import access
from chsm_checks.checks.model import Status

PASSED, FAILED = Status.PASSED, Status.FAILED
SBDC = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
BROADER = {
    "Storage Blob Data Owner": "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
    "Contributor": "b24988ac-6180-42a0-ab88-20f7382dd24c",
    "Owner": "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
    "User Access Administrator": "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9",
}
SUBSCRIPTION_SCOPE = f"/subscriptions/{SUB}"


def assignments(*bodies: dict[str, Any]) -> list[RoleAssignment]:
    return [RoleAssignment.from_arm(b) for b in bodies]


def holds(*bodies: dict[str, Any]) -> Any:
    return access.holds_blob_data_contributor(
        IDENTITY_ID, PRINCIPAL_ID, assignments(*bodies), ACCOUNT_ID, CONTAINER_ID
    )


@pytest.mark.parametrize(
    ("bodies", "expected", "broader"),
    [
        pytest.param([assignment_json(SBDC, ACCOUNT_ID)], PASSED, False, id="account-scope"),
        pytest.param([assignment_json(SBDC, CONTAINER_ID)], PASSED, False, id="container-scope"),
        pytest.param([assignment_json(SBDC, ACCOUNT_ID.upper() + "/")], PASSED, False, id="scope-case-slash"),
        pytest.param([assignment_json(SBDC, RG)], PASSED, True, id="resource-group-scope"),
        pytest.param([assignment_json(SBDC, SUBSCRIPTION_SCOPE)], PASSED, True, id="subscription-scope"),
        pytest.param(
            [assignment_json(SBDC, SUBSCRIPTION_SCOPE), assignment_json(SBDC, RG)],
            PASSED,
            True,
            id="two-broader-scopes",
        ),
        pytest.param([assignment_json(SBDC, OTHER_CONTAINER_ID)], FAILED, None, id="another-container"),
        pytest.param([assignment_json(SBDC, OTHER_ACCOUNT_ID)], FAILED, None, id="another-account"),
        pytest.param(
            [assignment_json(SBDC, ACCOUNT_ID, OTHER_PRINCIPAL_ID)], FAILED, None, id="another-principal"
        ),
        pytest.param(
            [assignment_json(BROADER["Storage Blob Data Owner"], ACCOUNT_ID)],
            FAILED,
            None,
            id="owner-not-sbdc",
        ),
        pytest.param([], FAILED, None, id="no-assignments"),
        pytest.param(
            [assignment_json(SBDC, ACCOUNT_ID, prefixed=False)], PASSED, False, id="role-unprefixed"
        ),
        pytest.param(
            [assignment_json(SBDC.upper(), ACCOUNT_ID, PRINCIPAL_ID.upper())], PASSED, False, id="upper-case"
        ),
    ],
)
def test_holds_blob_data_contributor(
    bodies: list[dict[str, Any]], expected: Status, broader: bool | None
) -> None:
    finding = holds(*bodies)
    assert_finding(finding, expected, "access.blob-data-contributor", IDENTITY_ID)
    if expected is PASSED:
        assert finding.observed.get("broader", False) is broader


def test_broader_grant_reports_the_broadest_scope() -> None:
    finding = holds(assignment_json(SBDC, RG), assignment_json(SBDC, SUBSCRIPTION_SCOPE))
    assert finding.observed == {"scope": SUBSCRIPTION_SCOPE, "broader": True}
    assert SUBSCRIPTION_SCOPE in finding.message


def test_missing_grant_lists_the_roles_the_principal_does_hold() -> None:
    finding = holds(assignment_json(BROADER["Owner"], RG), assignment_json(SBDC, OTHER_ACCOUNT_ID))
    assert finding.status is FAILED
    assert finding.observed["roles"] == sorted([BROADER["Owner"], SBDC])
    assert "chsmbackupsbx" in finding.message


def least(*bodies: dict[str, Any]) -> Any:
    return access.least_privilege(IDENTITY_ID, PRINCIPAL_ID, assignments(*bodies), ACCOUNT_ID)


SCOPES = {"account": ACCOUNT_ID, "resource-group": RG, "subscription": SUBSCRIPTION_SCOPE}


@pytest.mark.parametrize(
    ("role", "scope"),
    [
        pytest.param(role, scope, id=f"{role}@{where}")
        for role in BROADER
        for where, scope in {**SCOPES, "container": CONTAINER_ID}.items()
    ],
)
def test_least_privilege_fails_on_a_broader_role(role: str, scope: str) -> None:
    finding = least(assignment_json(SBDC, ACCOUNT_ID), assignment_json(BROADER[role], scope))
    assert_finding(finding, FAILED, "access.least-privilege", IDENTITY_ID)
    assert f"{role} at {scope}" in finding.message


@pytest.mark.parametrize(
    "bodies",
    [
        pytest.param([assignment_json(SBDC, ACCOUNT_ID)], id="sbdc-only"),
        pytest.param([assignment_json(SBDC, CONTAINER_ID)], id="sbdc-on-container-only"),
        pytest.param([], id="nothing"),
        *(
            pytest.param(
                [assignment_json(SBDC, ACCOUNT_ID), assignment_json(guid, OTHER_ACCOUNT_ID)],
                id=f"{role}-on-unrelated-account",
            )
            for role, guid in BROADER.items()
        ),
        pytest.param(
            [assignment_json(BROADER["Owner"], ACCOUNT_ID, OTHER_PRINCIPAL_ID)], id="owner-held-by-another"
        ),
    ],
)
def test_least_privilege_passes(bodies: list[dict[str, Any]]) -> None:
    assert_finding(least(*bodies), PASSED, "access.least-privilege", IDENTITY_ID)


@pytest.mark.parametrize("prefixed", [True, False], ids=["prefixed", "unprefixed"])
def test_least_privilege_matches_role_ids_by_trailing_guid_in_any_case(prefixed: bool) -> None:
    body = assignment_json(BROADER["Owner"].upper(), RG, prefixed=prefixed)
    finding = least(body)
    assert_finding(finding, FAILED, "access.least-privilege", IDENTITY_ID)
    assert f"Owner at {RG}" in finding.message


def test_least_privilege_names_every_excess_role() -> None:
    finding = least(
        assignment_json(BROADER["Contributor"], SUBSCRIPTION_SCOPE),
        assignment_json(BROADER["User Access Administrator"], ACCOUNT_ID),
    )
    assert f"Contributor at {SUBSCRIPTION_SCOPE}" in finding.message
    assert f"User Access Administrator at {ACCOUNT_ID}" in finding.message
