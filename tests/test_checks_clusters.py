"""Cluster and identity checks, table by table, over snapshots parsed from ARM-shaped JSON."""

from __future__ import annotations

from typing import Any

import pytest
from check_fixtures import (
    ABSENT,
    DESTINATION_ID,
    IDENTITY_ID,
    OTHER_IDENTITY_ID,
    SOURCE_ID,
    assert_finding,
    cluster_json,
    identity_json,
)

from chsm_checks.arm.snapshots import ClusterSnapshot, IdentitySnapshot
from chsm_checks.checks import clusters
from chsm_checks.checks.observed import Observed
from chsm_checks.outcomes import Outcome

PASSED, FAILED, ERROR = Outcome.PASSED, Outcome.FAILED, Outcome.ERROR
UAI = {IDENTITY_ID: {"principalId": None, "clientId": None}}


def cluster(cluster_id: str = SOURCE_ID, **overrides: Any) -> ClusterSnapshot:
    return ClusterSnapshot.from_arm(cluster_json(cluster_id, **overrides))


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        pytest.param({}, PASSED, id="user-assigned"),
        pytest.param({"identity__type": "SystemAssigned"}, FAILED, id="system-assigned"),
        pytest.param({"identity__type": "SystemAssigned,UserAssigned"}, FAILED, id="system-and-user"),
        pytest.param({"identity__type": "None"}, FAILED, id="type-None"),
        pytest.param({"identity__type": None}, FAILED, id="type-null"),
        pytest.param({"identity": ABSENT}, FAILED, id="no-identity-object"),
        pytest.param({"identity": None}, FAILED, id="identity-null"),
        pytest.param({"identity__userAssignedIdentities": {}}, FAILED, id="zero-identities"),
        pytest.param({"identity__userAssignedIdentities": None}, FAILED, id="identities-null"),
        pytest.param(
            {"identity__userAssignedIdentities": {**UAI, OTHER_IDENTITY_ID: {}}}, FAILED, id="two-identities"
        ),
    ],
)
def test_single_user_assigned(overrides: dict[str, Any], expected: Outcome) -> None:
    finding = clusters.single_user_assigned(cluster(**overrides))
    assert_finding(finding, expected, "identity.single-user-assigned", SOURCE_ID)
    if expected is PASSED:
        assert "id-chsm-backup" in finding.message


def test_single_user_assigned_names_every_identity_it_counts() -> None:
    two = cluster(identity__userAssignedIdentities={**UAI, OTHER_IDENTITY_ID: {}})
    finding = clusters.single_user_assigned(two)
    assert "id-chsm-backup" in finding.message
    assert "id-chsm-other" in finding.message
    assert finding.observed["identities"] == ["id-chsm-backup", "id-chsm-other"]


@pytest.mark.parametrize(
    ("observed", "expected"),
    [
        pytest.param(
            Observed.found(IDENTITY_ID, IdentitySnapshot.from_arm(identity_json())), PASSED, id="found"
        ),
        pytest.param(Observed.absent(IDENTITY_ID), FAILED, id="absent"),
        pytest.param(Observed.unreadable(IDENTITY_ID, "GET …: HTTP 500 Http500"), ERROR, id="unreadable"),
        pytest.param(
            Observed.found(IDENTITY_ID, IdentitySnapshot.from_arm(identity_json(principal_id=None))),
            FAILED,
            id="principal-null",
        ),
        pytest.param(
            Observed.found(IDENTITY_ID, IdentitySnapshot.from_arm(identity_json(principal_id=""))),
            FAILED,
            id="principal-empty",
        ),
    ],
)
def test_identity_resolvable(observed: Observed[IdentitySnapshot], expected: Outcome) -> None:
    finding = clusters.identity_resolvable(observed, ["chsm-source", "chsm-dest"])
    assert_finding(finding, expected, "identity.resolvable", IDENTITY_ID)


def test_identity_unreadable_is_an_error_with_the_reason_never_a_pass() -> None:
    finding = clusters.identity_resolvable(Observed.unreadable(IDENTITY_ID, "HTTP 503"), ["chsm-source"])
    assert finding.status is Outcome.ERROR
    assert "HTTP 503" in finding.message


def test_identity_resolvable_names_the_clusters_that_use_it() -> None:
    found = Observed.found(IDENTITY_ID, IdentitySnapshot.from_arm(identity_json()))
    finding = clusters.identity_resolvable(found, ["chsm-source", "chsm-dest"])
    assert "chsm-source, chsm-dest" in finding.message
    assert finding.observed == {"principal_id": "11111111-1111-1111-1111-111111111111"}


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        pytest.param("Succeeded", PASSED, id="Succeeded"),
        *(
            pytest.param(s, FAILED, id=s)
            for s in ("Provisioning", "Updating", "Failed", "Deleting", "Canceled", "succeeded")
        ),
        pytest.param(None, FAILED, id="null"),
        pytest.param(ABSENT, FAILED, id="absent"),
    ],
)
def test_provisioned(state: Any, expected: Outcome) -> None:
    finding = clusters.provisioned(cluster(properties__provisioningState=state))
    assert_finding(finding, expected, "clusters.provisioned", SOURCE_ID)


@pytest.mark.parametrize(
    ("sku", "expected"),
    [
        pytest.param({"family": "B", "name": "Standard_B1"}, PASSED, id="Standard_B1"),
        pytest.param({"family": "B", "name": "Standard B10"}, PASSED, id="Standard-space-B10"),
        pytest.param({"family": "A", "name": "Standard_B1"}, FAILED, id="family-A"),
        pytest.param({"family": "B", "name": "Standard_B10"}, FAILED, id="unknown-name"),
        pytest.param({"family": "B"}, FAILED, id="name-absent"),
        pytest.param(None, FAILED, id="sku-null"),
        pytest.param(ABSENT, FAILED, id="sku-absent"),
    ],
)
def test_sku(sku: Any, expected: Outcome) -> None:
    assert_finding(clusters.sku(cluster(sku=sku)), expected, "clusters.sku", SOURCE_ID)


ACTIVATION_STATES = [
    pytest.param("NotDefined", id="NotDefined"),
    pytest.param("NotActivated", id="NotActivated"),
    pytest.param("Active", id="Active"),
    pytest.param("Failed", id="Failed"),
    pytest.param("Unknown", id="Unknown"),
    pytest.param("null", id="literal-null-string"),
    pytest.param(None, id="json-null"),
    pytest.param(ABSENT, id="absent"),
]


@pytest.mark.parametrize("state", ACTIVATION_STATES)
def test_source_active(state: Any) -> None:
    finding = clusters.source_active(cluster(SOURCE_ID, properties__activationState=state))
    expected = PASSED if state == "Active" else FAILED
    assert_finding(finding, expected, "clusters.source-active", SOURCE_ID)


@pytest.mark.parametrize("state", ACTIVATION_STATES)
def test_destination_not_activated(state: Any) -> None:
    finding = clusters.destination_not_activated(cluster(DESTINATION_ID, properties__activationState=state))
    expected = PASSED if state == "NotActivated" else FAILED
    assert_finding(finding, expected, "clusters.destination-not-activated", DESTINATION_ID)
    if expected is FAILED:
        assert finding.observed["activation_state"] == (None if state is ABSENT else state)


@pytest.mark.parametrize(
    ("source", "destination", "observed", "expected"),
    [
        pytest.param(SOURCE_ID, DESTINATION_ID, {}, PASSED, id="different-ids"),
        pytest.param(
            SOURCE_ID,
            DESTINATION_ID,
            {"source": SOURCE_ID, "destination": DESTINATION_ID},
            PASSED,
            id="different-ids-observed",
        ),
        pytest.param(SOURCE_ID, SOURCE_ID, {}, FAILED, id="same-id"),
        pytest.param(SOURCE_ID, SOURCE_ID.upper(), {}, FAILED, id="case-variant"),
        pytest.param(SOURCE_ID, SOURCE_ID + "/", {}, FAILED, id="trailing-slash"),
        pytest.param(SOURCE_ID, SOURCE_ID.lower() + "/", {}, FAILED, id="case-and-trailing-slash"),
        pytest.param(
            SOURCE_ID,
            DESTINATION_ID,
            {"source": SOURCE_ID, "destination": SOURCE_ID.upper() + "/"},
            FAILED,
            id="arm-reports-the-same-id",
        ),
    ],
)
def test_distinct(source: str, destination: str, observed: dict[str, str], expected: Outcome) -> None:
    finding = clusters.distinct(source, destination, observed)
    assert_finding(finding, expected, "clusters.distinct", destination)
