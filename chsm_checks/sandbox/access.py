"""Role-based access in the sandbox: which assignments touch a scope, and who may write blobs."""

from __future__ import annotations

from chsm_checks.sandbox.wire import JsonObject
from chsm_checks.sandbox.world import STORAGE_BLOB_DATA_CONTRIBUTOR

STORAGE_BLOB_DATA_OWNER = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"
# Contributor and Owner are control-plane roles: they grant no blob data access.
BLOB_WRITER_ROLES = frozenset({STORAGE_BLOB_DATA_CONTRIBUTOR, STORAGE_BLOB_DATA_OWNER})


def scope_contains(outer: str, inner: str) -> bool:
    """True when ``inner`` is ``outer`` or lies below it (ARM scopes are case-insensitive paths)."""
    outer_n = outer.rstrip("/").lower()
    inner_n = inner.rstrip("/").lower()
    return inner_n == outer_n or inner_n.startswith(outer_n + "/")


def assignments_touching(state: JsonObject, scope: str) -> list[JsonObject]:
    """Assignments at, above and below ``scope``, as the roleAssignments list returns them."""
    return [
        a
        for a in state["role_assignments"]
        if scope_contains(a["properties"]["scope"], scope) or scope_contains(scope, a["properties"]["scope"])
    ]


def role_guid(role_definition_id: str) -> str:
    """The trailing GUID of a role definition id, which comes with or without a subscription prefix."""
    return role_definition_id.rstrip("/").rsplit("/", 1)[-1].lower()


def can_write_blobs(state: JsonObject, principal_id: str | None, container_id: str) -> bool:
    """Whether ``principal_id`` holds a blob-writing data role at the container or any scope above it."""
    if principal_id is None:
        return False
    return any(
        a["properties"]["principalId"].lower() == principal_id.lower()
        and role_guid(a["properties"]["roleDefinitionId"]) in BLOB_WRITER_ROLES
        and scope_contains(a["properties"]["scope"], container_id)
        for a in state["role_assignments"]
    )
