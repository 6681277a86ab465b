"""Checks of the Cloud HSM clusters and their identities. Pure functions over snapshots."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..arm.snapshots import ClusterSnapshot, IdentitySnapshot, PrivateEndpointSnapshot, same_resource
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


def private(cluster: ClusterSnapshot, endpoints: Mapping[str, Observed[PrivateEndpointSnapshot]]) -> Finding:
    """Public network access Disabled, and at least one private endpoint connection Approved as the
    cluster lists it and as its endpoint (``Microsoft.Network``) lists it. ``endpoints`` holds the read
    of each endpoint the cluster names, by the id as the cluster names it."""
    check = "clusters.private"
    problems = []
    if cluster.public_network_access != "Disabled":
        shown = cluster.public_network_access or "absent"
        problems.append(f"publicNetworkAccess is {shown}, not Disabled")
    approved, seen = [], []
    for connection in cluster.private_endpoint_connections:
        pe_id = connection.private_endpoint_id
        if not pe_id:
            continue
        pe_name = pe_id.rstrip("/").rsplit("/", 1)[-1]
        read = endpoints.get(pe_id)
        if read is not None and read.problem is not None:
            return error(
                check,
                pe_id,
                f"could not read private endpoint {pe_name} of cluster {cluster.name}: {read.problem}",
            )
        if connection.status != "Approved":
            seen.append(f"{pe_name}: {connection.status or 'no state'} on the cluster")
            continue
        if read is None or read.missing or read.value is None:
            seen.append(f"{pe_name}: the endpoint does not exist")
            continue
        links = [
            c for c in read.value.connections if c.service_id and same_resource(c.service_id, cluster.id)
        ]
        states = sorted({str(c.status) for c in links})
        if states != ["Approved"]:
            seen.append(f"{pe_name}: {', '.join(states) or 'no connection to the cluster'} on the endpoint")
            continue
        approved.append(pe_name)
    if not approved:
        problems.append(
            "no private endpoint connection is Approved on both sides"
            + (f" ({'; '.join(seen)})" if seen else ": the cluster lists none")
        )
    if problems:
        return failed(check, cluster.id, f"cluster {cluster.name}: " + "; ".join(problems), approved=approved)
    return passed(
        check,
        cluster.id,
        f"cluster {cluster.name} refuses public network access and is reached through "
        f"{', '.join(approved)} (Approved on the cluster and on the endpoint)",
        approved=approved,
    )
