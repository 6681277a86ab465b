"""Checks of what the cluster identity may do on the backup storage account. Pure functions.

Both judge by permissions, as ARM does, never by role names: each role the identity holds is read
as its definition's ``actions``/``dataActions`` less their exclusions (``permissions.py``), and a
role assignment's ``condition`` is evaluated where it can be (``conditions.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..arm.snapshots import RoleAssignment, RoleDefinition, same_resource
from . import permissions
from .conditions import UnsupportedCondition, parse_condition
from .model import Finding, error, failed, passed


@dataclass(frozen=True)
class HeldRole:
    """One role assignment of the identity, with the role definition it names, both read whole."""

    assignment: RoleAssignment
    role: RoleDefinition

    @property
    def scope(self) -> str:
        return self.assignment.scope or ""

    @property
    def role_name(self) -> str:
        return self.role.role_name or self.role.guid

    def describe(self) -> str:
        return f"{self.role_name} at {_scope_words(self.scope)}"


def covers(scope: str, resource_id: str) -> bool:
    """Whether an assignment at ``scope`` applies to ``resource_id`` (the scope is it or an ancestor).

    The tenant root (``/``) and management groups cover everything ARM lists them for.
    """
    scope, resource = scope.rstrip("/").lower(), resource_id.rstrip("/").lower()
    if scope == "" or scope.startswith("/providers/microsoft.management/managementgroups/"):
        return True
    return resource == scope or resource.startswith(scope + "/")


def _name(resource_id: str) -> str:
    return resource_id.rstrip("/").rsplit("/", 1)[-1]


def _scope_words(scope: str) -> str:
    """How a reader names a scope: ``resource group rg-x``, ``subscription …``, ``the tenant root``."""
    parts = [p for p in scope.split("/") if p]
    lowered = [p.lower() for p in parts]
    if not parts:
        return "the tenant root (/)"
    if lowered[:3] == ["providers", "microsoft.management", "managementgroups"] and len(parts) == 4:
        return f"management group {parts[3]}"
    if lowered[0] == "subscriptions" and len(parts) == 2:
        return f"subscription {parts[1]}"
    if lowered[0] == "subscriptions" and len(parts) == 4 and lowered[2] == "resourcegroups":
        return f"resource group {parts[3]}"
    return _name(scope)


def _needs_granted(held: HeldRole, container_name: str) -> set[str]:
    """What of the need ``held`` grants on the container, its condition applied to the data actions.

    ``UnsupportedCondition`` when the assignment's condition is not one that can be evaluated.
    """
    condition = (
        parse_condition(held.assignment.condition, held.assignment.condition_version)
        if held.assignment.condition
        else None
    )
    missing = set(permissions.missing_from([held.role]))
    granted = set(permissions.NEEDED_ACTIONS + permissions.NEEDED_DATA_ACTIONS) - missing
    if condition is not None:
        granted = {
            action
            for action in granted
            if action not in permissions.NEEDED_DATA_ACTIONS or condition.allows(action, container_name)
        }
    return granted


def holds_blob_data_contributor(
    identity_id: str,
    held: Sequence[HeldRole],
    account_id: str,
    container_id: str,
) -> Finding:
    """The identity may do everything the backup needs (Storage Blob Data Contributor's permissions)
    on the backup container, through one role or several, built in or custom."""
    check = "access.blob-data-contributor"
    identity = _name(identity_id)
    container = _name(container_id)
    applying = [h for h in held if covers(h.scope, container_id)]
    granted: set[str] = set()
    granting: list[HeldRole] = []
    kept_off: list[HeldRole] = []
    for h in applying:
        try:
            mine = _needs_granted(h, container)
        except UnsupportedCondition as exc:
            return error(
                check,
                identity_id,
                f"identity {identity}: the condition of {h.describe()} ({h.assignment.id}) cannot be "
                f"evaluated: {exc}",
            )
        if h.assignment.condition and not mine & set(permissions.NEEDED_DATA_ACTIONS):
            kept_off.append(h)
        if mine:
            granting.append(h)
            granted |= mine
    needed = permissions.NEEDED_ACTIONS + permissions.NEEDED_DATA_ACTIONS
    missing = [n for n in needed if n not in granted]
    roles = sorted(h.describe() for h in applying)
    if missing:
        why = "; ".join(
            f"the condition of {h.describe()} keeps its data actions off container {container}"
            for h in kept_off
        )
        return failed(
            check,
            identity_id,
            f"identity {identity} may not do everything the backup needs on container {container} of "
            f"storage account {_name(account_id)}: it lacks {missing[0]}"
            + (f" and {len(missing) - 1} more" if len(missing) > 1 else "")
            + (f" ({why})" if why else ""),
            roles=roles,
            missing=missing,
        )
    builtin = [
        h
        for h in granting
        if h.role.guid == permissions.STORAGE_BLOB_DATA_CONTRIBUTOR and not h.assignment.condition
    ]
    if builtin:
        through = f"Storage Blob Data Contributor at {_scope_words(builtin[0].scope)}"
    else:
        through = (
            "what Storage Blob Data Contributor grants, through "
            + "; ".join(h.describe() for h in granting)
            + (" (a custom role)" if any(h.role.role_type == "CustomRole" for h in granting) else "")
        )
    conditioned = [h for h in granting if h.assignment.condition]
    return passed(
        check,
        identity_id,
        f"identity {identity} holds {through}"
        + (f", its condition evaluated to include container {container}" if conditioned else ""),
        roles=sorted(h.describe() for h in granting),
        custom=not builtin,
    )


def least_privilege(
    identity_id: str, held: Sequence[HeldRole], account_id: str, container_id: str
) -> Finding:
    """Everything the identity may do on the backup account — through roles held on it, above it or
    under it — is within what the backup needs, and every grant is scoped to the account or the
    backup container."""
    check = "access.least-privilege"
    identity = _name(identity_id)
    relevant = [h for h in held if covers(h.scope, account_id) or covers(account_id, h.scope)]
    problems: list[str] = []
    for h in relevant:
        beyond = permissions.beyond_the_need(h.role)
        if beyond:
            first = beyond[0]
            more = f" and {len(beyond) - 1} more" if len(beyond) > 1 else ""
            problems.append(f"{h.describe()} grants {first.pattern} ({first.plane}){more}")
        if not (same_resource(h.scope, account_id) or same_resource(h.scope, container_id)):
            reach = (
                "covers every other resource there"
                if covers(h.scope, account_id)
                else "reaches beyond the backup container"
            )
            problems.append(f"{h.describe()} is scoped to {_scope_words(h.scope)}, which {reach}")
    if problems:
        return failed(
            check,
            identity_id,
            f"identity {identity} may do more than the backup needs: " + "; ".join(problems),
            beyond=problems,
        )
    scopes = sorted({_scope_words(h.scope) for h in relevant}) or ["nothing"]
    return passed(
        check,
        identity_id,
        f"identity {identity} holds nothing beyond what the backup needs (Storage Blob Data "
        f"Contributor's permissions), scoped to {', '.join(scopes)}",
        roles=sorted(h.describe() for h in relevant),
    )
