"""Snapshots parse what the service and the spec really send, including its oddities."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chsm_checks.arm.snapshots import ClusterSnapshot, RoleAssignment, same_resource

EXAMPLES = Path("/work/shared/reference/arm-examples/hardwaresecuritymodules")
CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
IDENTITY = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/contoso-resources"
    "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/identity-1"
)


@pytest.fixture(scope="module")
def spec_cluster() -> ClusterSnapshot:
    example = json.loads((EXAMPLES / "CloudHsmCluster_Get_MaximumSet_Gen.json").read_text())
    return ClusterSnapshot.from_arm(example["responses"]["200"]["body"])


def test_spec_example_cluster_keeps_the_literal_null_activation_state(spec_cluster: ClusterSnapshot) -> None:
    assert spec_cluster.activation_state == "null"
    assert spec_cluster.hsms == ()


def test_spec_example_cluster_fields(spec_cluster: ClusterSnapshot) -> None:
    assert (spec_cluster.name, spec_cluster.location) == ("chsm1", "eastus2")
    assert spec_cluster.id.endswith("/cloudHsmClusters/chsm1")
    assert spec_cluster.provisioning_state == "Succeeded"
    assert (spec_cluster.sku_family, spec_cluster.sku_name) == ("B", "Standard_B1")
    assert spec_cluster.public_network_access == "Disabled"
    assert spec_cluster.identity_type == "UserAssigned"
    (identity,) = spec_cluster.identities
    assert identity.resource_id == IDENTITY
    assert identity.principal_id == identity.client_id == "00000000-0000-0000-0000-000000000000"


def test_live_cluster_with_null_identity_ids_and_nodes() -> None:
    cluster = ClusterSnapshot.from_arm(
        {
            "id": "/x/cloudHsmClusters/c",
            "name": "c",
            "identity": {"type": "UserAssigned", "userAssignedIdentities": {IDENTITY: None}},
            "properties": {
                "activationState": "Active",
                "hsms": [
                    {"fqdn": "hsm1.example", "state": "Active", "stateMessage": None},
                    "not-a-node",
                    {"fqdn": "hsm2.example", "state": "Active", "stateMessage": ""},
                ],
            },
        }
    )

    assert cluster.activation_state == "Active"
    assert [(n.fqdn, n.state_message) for n in cluster.hsms] == [("hsm1.example", None), ("hsm2.example", "")]
    (identity,) = cluster.identities
    assert (identity.principal_id, identity.client_id) == (None, None)


@pytest.mark.parametrize("body", [{}, {"properties": None}, {"properties": "oops", "sku": "B"}])
def test_a_cluster_body_missing_everything_parses_to_unknowns(body: dict[str, object]) -> None:
    cluster = ClusterSnapshot.from_arm(body)

    assert (cluster.id, cluster.activation_state, cluster.sku_name, cluster.hsms) == ("", None, None, ())


@pytest.mark.parametrize(
    "role_definition_id",
    [
        f"/subscriptions/5a4db0c5-bb2d-4bf6-8511-e5af3d4f4247/providers/Microsoft.Authorization/roleDefinitions/{CONTRIBUTOR}",
        f"/providers/Microsoft.Authorization/roleDefinitions/{CONTRIBUTOR}",
        f"/providers/Microsoft.Authorization/roleDefinitions/{CONTRIBUTOR.upper()}",
        f"/SUBSCRIPTIONS/X/PROVIDERS/MICROSOFT.AUTHORIZATION/ROLEDEFINITIONS/{CONTRIBUTOR.upper()}/",
        CONTRIBUTOR,
    ],
)
def test_role_guid_is_the_lower_case_trailing_guid(role_definition_id: str) -> None:
    assignment = RoleAssignment.from_arm(
        {
            "id": "/x/roleAssignments/1",
            "properties": {
                "roleDefinitionId": role_definition_id,
                "principalId": "p",
                "principalType": "ServicePrincipal",
                "scope": "/subscriptions/s",
            },
        }
    )

    assert assignment.role_guid == CONTRIBUTOR
    assert (assignment.principal_id, assignment.principal_type, assignment.scope) == (
        "p",
        "ServicePrincipal",
        "/subscriptions/s",
    )


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("/subscriptions/s/rg/x", "/SUBSCRIPTIONS/S/RG/X", True),
        ("/subscriptions/s/rg/x", "/subscriptions/s/rg/x/", True),
        ("/subscriptions/s/rg/x", "/subscriptions/s/rg/x2", False),
        ("/subscriptions/s/rg/x", "/subscriptions/s/rg2/x", False),
    ],
)
def test_same_resource_compares_ids_as_arm_does(a: str, b: str, same: bool) -> None:
    assert same_resource(a, b) is same
