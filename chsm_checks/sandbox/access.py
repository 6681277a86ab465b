"""Role-based access in the sandbox: which assignments touch a scope, and who holds a data action.

An assignment's scope is the one its id names, as in ARM; ``properties.scope`` is only what it says.
Whether an assignment grants a data action is read from its role definition's ``dataActions`` and
``notDataActions`` (see :mod:`.roles`). The sandbox does not evaluate ABAC conditions: an assignment
with a ``condition`` grants nothing here, so a conditioned role never passes for more than it is.
"""

from __future__ import annotations

from chsm_checks.sandbox.roles import grants_data_action, role_definition, role_guid
from chsm_checks.sandbox.wire import JsonObject
from chsm_checks.sandbox.world import ROLE_ASSIGNMENT_TYPE, properties_of

BLOBS = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs"
BLOB_WRITE = f"{BLOBS}/write"
BLOB_READ = f"{BLOBS}/read"

_ASSIGNMENT_INFIX = f"/providers/{ROLE_ASSIGNMENT_TYPE}/".lower()


def scope_contains(outer: str, inner: str) -> bool:
    """True when ``inner`` is ``outer`` or lies below it (ARM scopes are case-insensitive paths)."""
    outer_n = outer.rstrip("/").lower()
    inner_n = inner.rstrip("/").lower()
    return inner_n == outer_n or inner_n.startswith(outer_n + "/")


def assignment_scope(assignment: JsonObject) -> str:
    """The scope an assignment's id names: everything before ``/providers/Microsoft.Authorization/…``."""
    resource_id: str = assignment["id"]
    return resource_id[: resource_id.lower().rindex(_ASSIGNMENT_INFIX)]


def assignments_touching(state: JsonObject, scope: str) -> list[JsonObject]:
    """Assignments at, above and below ``scope``, as the roleAssignments list returns them."""
    return [
        a
        for a in state["role_assignments"]
        if scope_contains(assignment_scope(a), scope) or scope_contains(scope, assignment_scope(a))
    ]


def principal_of(assignment: JsonObject) -> str | None:
    """The principal an assignment names, if it names one."""
    principal = properties_of(assignment).get("principalId")
    return principal if isinstance(principal, str) else None


def holds_data_action(state: JsonObject, principal_id: str | None, resource_id: str, action: str) -> bool:
    """Whether ``principal_id`` holds ``action`` on ``resource_id`` through an assignment at it or above."""
    if principal_id is None:
        return False
    for assignment in state["role_assignments"]:
        properties = properties_of(assignment)
        role_id = properties.get("roleDefinitionId")
        if (
            (principal_of(assignment) or "").lower() != principal_id.lower()
            or not scope_contains(assignment_scope(assignment), resource_id)
            or properties.get("condition")
            or not isinstance(role_id, str)
        ):
            continue
        role = role_definition(state, role_guid(role_id), assignment_scope(assignment))
        if role is not None and grants_data_action(role, action):
            return True
    return False
