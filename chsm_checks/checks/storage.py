"""Checks of the backup storage account, its container and its private endpoint. Pure functions."""

from __future__ import annotations

from ..arm.snapshots import ContainerSnapshot, PrivateEndpointSnapshot, StorageAccountSnapshot, same_resource
from .model import Finding, error, failed, passed
from .observed import Observed

TLS_ORDER = ("TLS1_0", "TLS1_1", "TLS1_2", "TLS1_3")


def _in_network(subnet_id: str, virtual_network_id: str) -> bool:
    return subnet_id.lower().startswith(virtual_network_id.rstrip("/").lower() + "/subnets/")


def shared_key_disabled(account: StorageAccountSnapshot) -> Finding:
    check = "storage.shared-key-disabled"
    value = account.allow_shared_key_access
    if value is False:
        return passed(check, account.id, f"storage account {account.name} refuses shared key access")
    why = "is not set, which means allowed" if value is None else "is true"
    return failed(
        check,
        account.id,
        f"storage account {account.name}: allowSharedKeyAccess {why}; it must be false",
        allowSharedKeyAccess=value,
    )


def private_endpoint(
    account: StorageAccountSnapshot, endpoint: Observed[PrivateEndpointSnapshot], virtual_network_id: str
) -> Finding:
    """A blob private endpoint to the account, in the expected network, approved on both sides."""
    check = "storage.private-endpoint"
    name = endpoint.resource_id.rsplit("/", 1)[-1]
    if endpoint.problem is not None:
        return error(
            check, endpoint.resource_id, f"could not read private endpoint {name}: {endpoint.problem}"
        )
    if endpoint.missing or endpoint.value is None:
        return failed(
            check, account.id, f"storage account {account.name}: private endpoint {name} does not exist"
        )
    pe = endpoint.value
    problems = []
    if not pe.subnet_id or not _in_network(pe.subnet_id, virtual_network_id):
        problems.append(f"its subnet {pe.subnet_id} is not in {virtual_network_id.rsplit('/', 1)[-1]}")
    links = [c for c in pe.connections if c.service_id and same_resource(c.service_id, account.id)]
    blob = [c for c in links if "blob" in c.group_ids]
    if not blob:
        problems.append(f"it has no connection to {account.name} with group id 'blob'")
    account_side = [
        c.status
        for c in account.private_endpoint_connections
        if c.private_endpoint_id and same_resource(c.private_endpoint_id, pe.id)
    ]
    if blob and not account_side:
        problems.append(f"storage account {account.name} lists no connection from it")
    states = {c.status for c in blob} | set(account_side)
    if blob and states != {"Approved"}:
        problems.append(f"its connection state is {', '.join(sorted(str(s) for s in states))}, not Approved")
    if problems:
        return failed(
            check,
            pe.id,
            f"private endpoint {pe.name}: " + "; ".join(problems),
            states=sorted(map(str, states)),
        )
    return passed(
        check,
        pe.id,
        f"private endpoint {pe.name} connects {account.name} (blob) from the expected network, approved",
    )


def public_network(account: StorageAccountSnapshot, virtual_network_id: str) -> Finding:
    """Not reachable from the public internet: access disabled, or deny by default with only our network."""
    check = "storage.public-network"
    if account.public_network_access == "Disabled":
        return passed(check, account.id, f"storage account {account.name}: publicNetworkAccess is Disabled")
    others = [s for s in account.virtual_network_subnets if not _in_network(s, virtual_network_id)]
    if account.network_default_action == "Deny" and not others and not account.ip_rules:
        return passed(
            check,
            account.id,
            f"storage account {account.name}: networkAcls deny by default and allow only "
            f"{virtual_network_id.rsplit('/', 1)[-1]} "
            f"(publicNetworkAccess {account.public_network_access or 'absent'})",
        )
    reasons = [f"publicNetworkAccess is {account.public_network_access or 'absent (Enabled)'}"]
    reasons.append(f"networkAcls.defaultAction is {account.network_default_action or 'absent (Allow)'}")
    if others:
        reasons.append(f"other subnets are allowed: {', '.join(others)}")
    if account.ip_rules:
        reasons.append(f"IP rules allow {', '.join(account.ip_rules)}")
    return failed(
        check,
        account.id,
        f"storage account {account.name} is reachable from outside its network: " + "; ".join(reasons),
    )


def https_only(account: StorageAccountSnapshot) -> Finding:
    check = "storage.https-only"
    if account.https_only is True:
        return passed(check, account.id, f"storage account {account.name} requires secure transfer (HTTPS)")
    return failed(
        check,
        account.id,
        f"storage account {account.name}: supportsHttpsTrafficOnly is {account.https_only!r}",
    )


def minimum_tls(account: StorageAccountSnapshot) -> Finding:
    check = "storage.minimum-tls"
    version = account.minimum_tls_version or "TLS1_0"  # absent means TLS 1.0
    if version in TLS_ORDER and TLS_ORDER.index(version) >= TLS_ORDER.index("TLS1_2"):
        return passed(check, account.id, f"storage account {account.name} accepts {version} and above")
    shown = version if account.minimum_tls_version else "absent (TLS1_0)"
    return failed(
        check, account.id, f"storage account {account.name}: minimumTlsVersion is {shown}, below TLS1_2"
    )


def blob_anonymous_access(account: StorageAccountSnapshot) -> Finding:
    check = "storage.blob-anonymous-access"
    if account.allow_blob_public_access is True:
        return failed(check, account.id, f"storage account {account.name} allows anonymous blob access")
    return passed(check, account.id, f"storage account {account.name} does not allow anonymous blob access")


def cross_tenant_replication(account: StorageAccountSnapshot) -> Finding:
    check = "storage.cross-tenant-replication"
    if account.allow_cross_tenant_replication is False:
        return passed(
            check, account.id, f"storage account {account.name} does not allow cross-tenant replication"
        )
    why = (
        "is not set (older accounts allow it)"
        if account.allow_cross_tenant_replication is None
        else "is true"
    )
    return failed(check, account.id, f"storage account {account.name}: allowCrossTenantReplication {why}")


def container_private(container: ContainerSnapshot) -> Finding:
    check = "storage.container-private"
    access = container.public_access or "None"  # absent is the API's default, None
    if access != "None":
        return failed(check, container.id, f"container {container.name} allows public access ({access})")
    return passed(check, container.id, f"container {container.name} allows no public access")
