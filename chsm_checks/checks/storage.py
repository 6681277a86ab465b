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
    why = "is not set, which Azure documents as true (allowed)" if value is None else "is true"
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


# What the backup may need let through the firewall beside its private endpoint: the trusted-service
# path a managed identity's requests may come by. Logging and Metrics serve no backup.
BACKUP_BYPASS = frozenset({"none", "azureservices"})


def public_network(account: StorageAccountSnapshot, virtual_network_id: str) -> Finding:
    """Not reachable from outside its network: public network access disabled, or deny by default
    with only the expected network allowed; and no firewall exception the backup does not need.

    It judges two named conditions on the way, which the framework mappings claim separately:
    ``public-network-access-disabled`` and ``default-action-deny``.
    """
    check = "storage.public-network"
    disabled = account.public_network_access == "Disabled"
    deny = account.network_default_action == "Deny"
    exceptions = []
    bypass = [b.strip() for b in (account.network_bypass or "").split(",") if b.strip()]
    extra = [b for b in bypass if b.lower() not in BACKUP_BYPASS]
    if extra:
        exceptions.append(
            f"networkAcls.bypass lets {', '.join(extra)} through, which the backup does not need"
        )
    if account.resource_access_rules:
        named = ", ".join(r.resource_id or "(no resource id)" for r in account.resource_access_rules)
        exceptions.append(f"networkAcls.resourceAccessRules let resource instances through: {named}")
    others = [s for s in account.virtual_network_subnets if not _in_network(s, virtual_network_id)]
    closed = disabled or (deny and not others and not account.ip_rules)
    if closed and not exceptions:
        how = (
            "publicNetworkAccess is Disabled"
            if disabled
            else f"networkAcls deny by default and allow only {virtual_network_id.rsplit('/', 1)[-1]} "
            f"(publicNetworkAccess {account.public_network_access or 'absent'})"
        )
        return passed(check, account.id, f"storage account {account.name}: {how}").judging(
            public_network_access_disabled=disabled, default_action_deny=deny
        )
    reasons = []
    if not closed:
        reasons.append(f"publicNetworkAccess is {account.public_network_access or 'absent (Enabled)'}")
        reasons.append(f"networkAcls.defaultAction is {account.network_default_action or 'absent (Allow)'}")
        if others:
            reasons.append(f"other subnets are allowed: {', '.join(others)}")
        if account.ip_rules:
            reasons.append(f"IP rules allow {', '.join(account.ip_rules)}")
    reasons += exceptions
    return failed(
        check,
        account.id,
        f"storage account {account.name} is reachable from outside its network: " + "; ".join(reasons),
        bypass=bypass,
        resourceAccessRules=[r.resource_id for r in account.resource_access_rules],
    ).judging(public_network_access_disabled=disabled, default_action_deny=deny)


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
    if account.allow_blob_public_access is None:  # the catalogue cites where Azure documents this default
        return passed(
            check,
            account.id,
            f"storage account {account.name} does not allow anonymous blob access "
            "(allowBlobPublicAccess is not set, which Azure documents as false)",
            allowBlobPublicAccess=None,
        )
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
    access = container.public_access
    if access is None:  # ARM documents no default for an absent publicAccess: nothing to judge by
        return error(
            check,
            container.id,
            f"container {container.name}: properties.publicAccess is absent, and ARM documents no "
            "default for it; the check cannot tell whether the container allows anonymous access",
        )
    if access != "None":
        return failed(check, container.id, f"container {container.name} allows public access ({access})")
    return passed(check, container.id, f"container {container.name} allows no public access")
