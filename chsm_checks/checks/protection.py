"""Checks that the backup data survives deletion and tampering: soft delete, versioning,
immutability, a second region. Pure functions over snapshots.

What the target asks beyond the tutorial is in its ``[protection]`` table: how long soft delete
must keep a deleted backup, and whether immutability and an alternate storage site are required.
"""

from __future__ import annotations

from ..arm.snapshots import BlobServiceSnapshot, ContainerSnapshot, RetentionPolicy, StorageAccountSnapshot
from .model import Finding, advised, error, failed, not_applicable, passed

# The redundancy SKUs that keep a copy in the paired region (Premium SKUs have none).
GEO_REDUNDANT_SKUS = frozenset({"Standard_GRS", "Standard_RAGRS", "Standard_GZRS", "Standard_RAGZRS"})


def _where(service: BlobServiceSnapshot) -> str:
    return f"blob service {service.name} of storage account {service.account_name}"


def _policy_problem(
    check: str, service: BlobServiceSnapshot, key: str, policy: RetentionPolicy
) -> Finding | None:
    """The finding for a soft-delete policy that is off (absent means off) or keeps no days."""
    where = _where(service)
    if policy.enabled is not True:
        state = "is not set, which Azure documents as disabled" if policy.enabled is None else "is false"
        return failed(check, service.id, f"{where}: {key}.enabled {state}", enabled=policy.enabled)
    if policy.days is None:
        return error(
            check,
            service.id,
            f"{where}: {key} is enabled but names no days; the check cannot tell how long it keeps",
        )
    return None


def blob_soft_delete(service: BlobServiceSnapshot, min_days: int) -> Finding:
    check = "storage.blob-soft-delete"
    policy = service.blob_soft_delete
    if (problem := _policy_problem(check, service, "deleteRetentionPolicy", policy)) is not None:
        return problem
    assert policy.days is not None  # _policy_problem says so otherwise
    where = _where(service)
    if policy.days < min_days:
        return failed(
            check,
            service.id,
            f"{where}: deleted blobs are kept {policy.days} days, fewer than the target's "
            f"min_soft_delete_days ({min_days})",
            days=policy.days,
            min_days=min_days,
        )
    return passed(
        check,
        service.id,
        f"{where}: deleted blobs are kept {policy.days} days (the target asks at least {min_days})",
        days=policy.days,
        min_days=min_days,
    )


def container_soft_delete(service: BlobServiceSnapshot) -> Finding:
    check = "storage.container-soft-delete"
    policy = service.container_soft_delete
    if (problem := _policy_problem(check, service, "containerDeleteRetentionPolicy", policy)) is not None:
        return problem
    return passed(
        check,
        service.id,
        f"{_where(service)}: deleted containers are kept {policy.days} days",
        days=policy.days,
    )


def versioning(service: BlobServiceSnapshot) -> Finding:
    check = "storage.versioning"
    if service.versioning is True:
        return passed(check, service.id, f"{_where(service)}: blob versioning is on")
    state = "is not set, which Azure documents as off" if service.versioning is None else "is false"
    return failed(
        check,
        service.id,
        f"{_where(service)}: isVersioningEnabled {state}; an overwritten backup blob is lost",
        isVersioningEnabled=service.versioning,
    )


def immutability(container: ContainerSnapshot, required: bool) -> Finding:
    """A time-based retention policy or version-level immutability on the backup container; absent,
    a failure if the target requires it, else a finding of low severity."""
    check = "storage.immutability"
    name = container.name
    if container.has_immutability_policy is True:
        state = container.immutability_state
        if state is None:
            return error(
                check,
                container.id,
                f"container {name} has a time-based immutability policy but "
                "properties.immutabilityPolicy.properties.state is absent; the check cannot tell "
                "whether it is Locked",
            )
        days = container.immutability_days
        kept = f" keeping each blob {days} days" if days is not None else ""
        if state == "Locked":
            how = "Locked: it can be extended, never shortened or removed"
        else:
            how = f"{state}, not Locked: whoever may change it can still remove it"
        return passed(
            check,
            container.id,
            f"container {name} has a time-based immutability policy{kept}, {how}",
            kind="time-based",
            state=state,
            locked=state == "Locked",
            days=days,
        )
    if container.version_level_immutability is True:
        return passed(
            check,
            container.id,
            f"container {name} has version-level immutability",
            kind="version-level",
            locked=None,
        )
    if container.has_immutability_policy is None:
        return error(
            check,
            container.id,
            f"container {name}: properties.hasImmutabilityPolicy is absent and version-level "
            "immutability is not reported on; the check cannot tell whether the container is immutable",
        )
    missing = f"container {name} has no time-based immutability policy and no version-level immutability"
    if required:
        return failed(check, container.id, f"{missing}; the target requires one", required=True)
    return advised(
        check,
        container.id,
        f"{missing}: low severity, as the target does not require it (protection.require_immutability)",
        required=False,
    )


def geo_redundant(account: StorageAccountSnapshot, required: bool) -> Finding:
    check = "storage.geo-redundant"
    sku = account.sku_name
    if not required:
        return not_applicable(
            check,
            account.id,
            f"the target does not require an alternate storage site (protection.require_alternate_site); "
            f"storage account {account.name} is {sku or 'of an unreported SKU'}",
        )
    if sku is None:
        return error(
            check,
            account.id,
            f"storage account {account.name}: sku.name is absent; its redundancy is unknown",
        )
    if sku in GEO_REDUNDANT_SKUS:
        return passed(
            check, account.id, f"storage account {account.name} is {sku}: a copy is kept in the paired region"
        )
    return failed(
        check,
        account.id,
        f"storage account {account.name} is {sku}, which keeps no copy in a second region; the target "
        "requires an alternate storage site (GRS, RA-GRS, GZRS or RA-GZRS)",
        sku=sku,
    )
