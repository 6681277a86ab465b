"""Checks of the Cloud HSM clusters and their identities. Pure functions over snapshots."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..arm.snapshots import ClusterSnapshot, IdentitySnapshot, same_resource
from .model import Finding, error, failed, passed
from .observed import Observed

KNOWN_SKUS = ("Standard_B1", "Standard B10")  # the second spelling, with a space, is the spec's own


def single_user_assigned(cluster: ClusterSnapshot) -> Finding:
    check = "identity.single-user-assigned"
    names = [i.resource_id.rsplit("/", 1)[-1] for i in cluster.identities]
    if cluster.identity_type != "UserAssigned":
        return failed(
            check,
            cluster.id,
            f"cluster {cluster.name} has identity type {cluster.identity_type!r}, not 'UserAssigned'",
            identity_type=cluster.identity_type,
        )
    if len(cluster.identities) != 1:
        return failed(
            check,
            cluster.id,
            f"cluster {cluster.name} has {len(cluster.identities)} user-assigned identities "
            f"({', '.join(names) or 'none'}); a cluster holds exactly one",
            identities=names,
        )
    return passed(check, cluster.id, f"cluster {cluster.name} uses the user-assigned identity {names[0]}")


def identity_resolvable(identity: Observed[IdentitySnapshot], used_by: Sequence[str]) -> Finding:
    """The identity resource a cluster names exists and names its principal."""
    check = "identity.resolvable"
    name = identity.resource_id.rsplit("/", 1)[-1]
    users = ", ".join(used_by)
    if identity.problem is not None:
        return error(check, identity.resource_id, f"could not read identity {name}: {identity.problem}")
    if identity.missing or identity.value is None:
        return failed(check, identity.resource_id, f"identity {name}, used by {users}, does not exist")
    if not identity.value.principal_id:
        return failed(check, identity.resource_id, f"identity {name} reports no principalId")
    return passed(
        check,
        identity.resource_id,
        f"identity {name}, used by {users}, resolves to its principal",
        principal_id=identity.value.principal_id,
    )


def provisioned(cluster: ClusterSnapshot) -> Finding:
    check = "clusters.provisioned"
    state = cluster.provisioning_state
    if state != "Succeeded":
        return failed(check, cluster.id, f"cluster {cluster.name} is {state or 'in no provisioning state'!s}")
    return passed(check, cluster.id, f"cluster {cluster.name} is provisioned (Succeeded)")


def sku(cluster: ClusterSnapshot) -> Finding:
    check = "clusters.sku"
    if cluster.sku_family != "B" or cluster.sku_name not in KNOWN_SKUS:
        return failed(
            check,
            cluster.id,
            f"cluster {cluster.name} has SKU {cluster.sku_family!r}/{cluster.sku_name!r}; "
            f"expected family 'B' and one of {', '.join(KNOWN_SKUS)}",
        )
    return passed(check, cluster.id, f"cluster {cluster.name} has SKU B/{cluster.sku_name}")


def _activation(check: str, cluster: ClusterSnapshot, expected: str, why: str) -> Finding:
    state = cluster.activation_state
    if state != expected:
        return failed(
            check,
            cluster.id,
            f"cluster {cluster.name} reads activationState {state!r}, not {expected!r}: {why}",
            activation_state=state,
        )
    return passed(check, cluster.id, f"cluster {cluster.name} reads {expected}")


def source_active(source: ClusterSnapshot) -> Finding:
    return _activation(
        "clusters.source-active", source, "Active", "only an activated cluster can be backed up"
    )


def destination_not_activated(destination: ClusterSnapshot) -> Finding:
    return _activation(
        "clusters.destination-not-activated",
        destination,
        "NotActivated",
        "a restore into any other cluster fails and leaves it nonfunctional",
    )


def distinct(source_id: str, destination_id: str, observed: Mapping[str, str]) -> Finding:
    """The destination is not the source: as named by the target and as ARM reports their ids."""
    check = "clusters.distinct"
    ids = [
        (source_id, destination_id),
        (observed.get("source", source_id), observed.get("destination", destination_id)),
    ]
    if any(same_resource(a, b) for a, b in ids):
        name = destination_id.rstrip("/").rsplit("/", 1)[-1]
        return failed(
            check,
            destination_id,
            f"the destination {name} is the source cluster: a restore into it is unsupported",
        )
    return passed(
        check, destination_id, f"the destination {destination_id.rsplit('/', 1)[-1]} is not the source"
    )
