"""Management locks and private clusters, judged by pure functions over the snapshots ARM gives."""

from __future__ import annotations

from typing import Any

import pytest
from check_fixtures import (
    ACCOUNT_ID,
    DESTINATION_ID,
    RG,
    SOURCE_ID,
    SUB,
    account_connection,
    assert_finding,
    cluster_endpoint_id,
    cluster_endpoint_json,
    cluster_json,
    lock_json,
)

from chsm_checks.arm.snapshots import ClusterSnapshot, ManagementLock, PrivateEndpointSnapshot
from chsm_checks.checks import clusters, locks
from chsm_checks.checks.observed import Observed
from chsm_checks.outcomes import Outcome

PASSED, FAILED, ERROR = Outcome.PASSED, Outcome.FAILED, Outcome.ERROR


def lock(scope: str, level: str = "CanNotDelete") -> ManagementLock:
    return ManagementLock.from_arm(lock_json(scope, level))


@pytest.mark.parametrize(
    ("scope", "level", "where"),
    [
        pytest.param(ACCOUNT_ID, "CanNotDelete", "on it", id="on-the-account"),
        pytest.param(RG, "CanNotDelete", "on its resource group rg-chsm-sandbox", id="on-its-group"),
        pytest.param(
            f"/subscriptions/{SUB}", "ReadOnly", f"on its subscription {SUB}", id="on-its-subscription"
        ),
    ],
)
def test_a_lock_on_the_account_its_group_or_subscription_protects_it(
    scope: str, level: str, where: str
) -> None:
    finding = locks.delete_protected("storage account", ACCOUNT_ID, [lock(scope, level)])
    assert_finding(finding, PASSED, "locks.delete-protected", ACCOUNT_ID)
    assert f"{level} lock lock-chsm {where}" in finding.message
    assert finding.holds == {"account-delete-locked": True}


@pytest.mark.parametrize(
    "found",
    [
        pytest.param([], id="no-lock"),
        pytest.param([lock(SOURCE_ID)], id="only-on-a-cluster"),
        pytest.param(
            [lock("/subscriptions/11111111-1111-1111-1111-111111111111")], id="another-subscription"
        ),
        pytest.param([lock(f"{RG}-other")], id="a-group-sharing-the-prefix"),
        pytest.param([lock(RG, "NotSpecified")], id="a-lock-of-no-level"),
    ],
)
def test_no_lock_over_the_account_fails(found: list[ManagementLock]) -> None:
    finding = locks.delete_protected("storage account", ACCOUNT_ID, found)
    assert_finding(finding, FAILED, "locks.delete-protected", ACCOUNT_ID)
    assert finding.holds == {"account-delete-locked": False}


def test_a_cluster_finding_judges_no_storage_condition_and_warns_of_read_only() -> None:
    finding = locks.delete_protected("cluster", SOURCE_ID, [lock(SOURCE_ID, "ReadOnly")])
    assert_finding(finding, PASSED, "locks.delete-protected", SOURCE_ID)
    assert finding.holds == {}
    assert "may also refuse the backup and restore requests" in finding.message


def test_a_locks_scope_is_its_id_before_the_locks_segment() -> None:
    assert lock(RG).scope == RG
    assert ManagementLock.from_arm({"id": "lock-without-a-scope", "properties": {}}).scope is None


def cluster(**overrides: Any) -> ClusterSnapshot:
    return ClusterSnapshot.from_arm(cluster_json(SOURCE_ID, **overrides))


def endpoints(status: str = "Approved") -> dict[str, Observed[PrivateEndpointSnapshot]]:
    pe_id = cluster_endpoint_id(SOURCE_ID)
    return {
        pe_id: Observed.found(
            pe_id, PrivateEndpointSnapshot.from_arm(cluster_endpoint_json(SOURCE_ID, status))
        )
    }


def test_a_private_cluster_with_an_endpoint_approved_on_both_sides_passes() -> None:
    finding = clusters.private(cluster(), endpoints())
    assert_finding(finding, PASSED, "clusters.private", SOURCE_ID)
    assert "pe-chsm-source" in finding.message


@pytest.mark.parametrize(
    ("overrides", "seen", "said"),
    [
        pytest.param(
            {"properties__publicNetworkAccess": "Enabled"},
            "Approved",
            "publicNetworkAccess is Enabled",
            id="public",
        ),
        pytest.param(
            {"properties__publicNetworkAccess": None},
            "Approved",
            "publicNetworkAccess is absent",
            id="unreported",
        ),
        pytest.param({}, "Pending", "Pending on the endpoint", id="pending-on-the-network-side"),
        pytest.param(
            {
                "properties__privateEndpointConnections": [
                    account_connection(cluster_endpoint_id(SOURCE_ID), "Rejected")
                ]
            },
            "Approved",
            "Rejected on the cluster",
            id="rejected-on-the-cluster-side",
        ),
        pytest.param(
            {"properties__privateEndpointConnections": []}, "Approved", "the cluster lists none", id="none"
        ),
    ],
)
def test_a_cluster_that_is_public_or_not_privately_reachable_fails(
    overrides: dict[str, Any], seen: str, said: str
) -> None:
    finding = clusters.private(cluster(**overrides), endpoints(seen))
    assert_finding(finding, FAILED, "clusters.private", SOURCE_ID)
    assert said in finding.message


def test_an_endpoint_that_cannot_be_read_is_an_error() -> None:
    pe_id = cluster_endpoint_id(SOURCE_ID)
    finding = clusters.private(cluster(), {pe_id: Observed.unreadable(pe_id, "HTTP 403 AuthorizationFailed")})
    assert_finding(finding, ERROR, "clusters.private", pe_id)
    assert "AuthorizationFailed" in finding.message


def test_an_endpoint_that_is_gone_is_no_private_path() -> None:
    pe_id = cluster_endpoint_id(SOURCE_ID)
    finding = clusters.private(cluster(), {pe_id: Observed.absent(pe_id)})
    assert_finding(finding, FAILED, "clusters.private", SOURCE_ID)
    assert "does not exist" in finding.message


def test_the_destination_is_judged_against_its_own_endpoint() -> None:
    dest = ClusterSnapshot.from_arm(cluster_json(DESTINATION_ID))
    finding = clusters.private(dest, endpoints())  # only the source's endpoint was read
    assert_finding(finding, FAILED, "clusters.private", DESTINATION_ID)
