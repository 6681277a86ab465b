"""Checks of what the cluster identity may do on the storage account. Pure functions."""

from __future__ import annotations

from collections.abc import Sequence

from ..arm.snapshots import RoleAssignment, same_resource
from .model import Finding, failed, passed

BLOB_DATA_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
BROADER_ROLES = {
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": "Storage Blob Data Owner",
    "b24988ac-6180-42a0-ab88-20f7382dd24c": "Contributor",
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "Owner",
    "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9": "User Access Administrator",
}


def _covers(scope: str, resource_id: str) -> bool:
    """Whether an assignment at ``scope`` applies to ``resource_id`` (the scope is it or an ancestor).

    ARM lists management-group (and root) assignments for a resource only when they apply to it.
    """
    scope, resource = scope.rstrip("/").lower(), resource_id.rstrip("/").lower()
    if scope == "" or scope.startswith("/providers/microsoft.management/managementgroups/"):
        return True
    return resource == scope or resource.startswith(scope + "/")


def _name(resource_id: str) -> str:
    return resource_id.rstrip("/").rsplit("/", 1)[-1]


def holds_blob_data_contributor(
    identity_id: str,
    principal_id: str,
    assignments: Sequence[RoleAssignment],
    account_id: str,
    container_id: str,
) -> Finding:
    """The identity's principal holds Storage Blob Data Contributor on the account or the container."""
    check = "access.blob-data-contributor"
    mine = [a for a in assignments if a.principal_id and a.principal_id.lower() == principal_id.lower()]
    grants = [
        a for a in mine if a.role_guid == BLOB_DATA_CONTRIBUTOR and a.scope and _covers(a.scope, container_id)
    ]
    if not grants:
        return failed(
            check,
            identity_id,
            f"identity {_name(identity_id)} holds no Storage Blob Data Contributor "
            f"on storage account {_name(account_id)} or its container",
            roles=sorted({a.role_guid for a in mine}),
        )
    exact = [
        a
        for a in grants
        if a.scope and (same_resource(a.scope, account_id) or same_resource(a.scope, container_id))
    ]
    if exact:
        return passed(
            check,
            identity_id,
            f"identity {_name(identity_id)} holds Storage Blob Data Contributor "
            f"on {_name(exact[0].scope or '')}",
            scope=exact[0].scope,
        )
    broadest = min(grants, key=lambda a: len(a.scope or ""))
    return passed(
        check,
        identity_id,
        f"identity {_name(identity_id)} holds Storage Blob Data Contributor "
        f"at a broader scope, {broadest.scope}",
        scope=broadest.scope,
        broader=True,
    )


def least_privilege(
    identity_id: str, principal_id: str, assignments: Sequence[RoleAssignment], account_id: str
) -> Finding:
    """No role beyond what the backup needs, on the account or anything that covers or lies under it."""
    check = "access.least-privilege"
    excess = [
        a
        for a in assignments
        if a.principal_id
        and a.principal_id.lower() == principal_id.lower()
        and a.role_guid in BROADER_ROLES
        and a.scope
        and (_covers(a.scope, account_id) or _covers(account_id, a.scope))
    ]
    if excess:
        roles = "; ".join(f"{BROADER_ROLES[a.role_guid]} at {a.scope}" for a in excess)
        return failed(
            check, identity_id, f"identity {_name(identity_id)} holds more than the backup needs: {roles}"
        )
    return passed(
        check,
        identity_id,
        f"identity {_name(identity_id)} holds no role beyond Storage Blob Data Contributor",
    )
