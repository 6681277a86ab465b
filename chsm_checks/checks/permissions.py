"""What a role lets its holder do, judged as ARM judges it: by permission patterns, not role names.

A role definition's ``permissions`` entries each allow ``actions`` (the control plane) and
``dataActions`` (the data plane), less ``notActions`` and ``notDataActions``. A pattern may hold
``*``, which matches any run of characters, ``/`` included; comparison ignores case. What the
Cloud HSM backup needs is Storage Blob Data Contributor's permissions as Microsoft publishes them
(https://learn.microsoft.com/en-us/azure/role-based-access-control/built-in-roles/storage#storage-blob-data-contributor);
it is written here rather than read from ARM, so an environment under audit cannot redefine it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache

from ..arm.snapshots import Permission, RoleDefinition

STORAGE_BLOB_DATA_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
_BLOB_SERVICE = "Microsoft.Storage/storageAccounts/blobServices"

# The actions and data actions the backup needs: those of Storage Blob Data Contributor.
NEEDED_ACTIONS: tuple[str, ...] = (
    f"{_BLOB_SERVICE}/containers/delete",
    f"{_BLOB_SERVICE}/containers/read",
    f"{_BLOB_SERVICE}/containers/write",
    f"{_BLOB_SERVICE}/generateUserDelegationKey/action",
)
NEEDED_DATA_ACTIONS: tuple[str, ...] = (
    f"{_BLOB_SERVICE}/containers/blobs/delete",
    f"{_BLOB_SERVICE}/containers/blobs/read",
    f"{_BLOB_SERVICE}/containers/blobs/write",
    f"{_BLOB_SERVICE}/containers/blobs/move/action",
    f"{_BLOB_SERVICE}/containers/blobs/add/action",
)


@cache
def _pattern(pattern: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")), re.IGNORECASE | re.DOTALL)


def matches(pattern: str, operation: str) -> bool:
    """Whether the permission ``pattern`` covers ``operation`` (``*`` any run of characters, any case)."""
    return _pattern(pattern).fullmatch(operation) is not None


def _excluded(pattern: str, exclusions: Iterable[str]) -> bool:
    """Whether every operation ``pattern`` could match is excluded: an exclusion that is the pattern
    itself, or a prefix followed only by ``*`` that the pattern's literal part starts with. Anything
    subtler is taken as not excluded: the judgement errs toward "beyond the need"."""
    literal = pattern.split("*", 1)[0].lower()
    for exclusion in exclusions:
        if exclusion.lower() == pattern.lower():
            return True
        head, star, tail = exclusion.partition("*")
        if star and not tail and literal.startswith(head.lower()):
            return True
    return False


@dataclass(frozen=True)
class Beyond:
    """One permission a role grants beyond the need, and on which plane."""

    pattern: str
    plane: str  # "actions" or "dataActions"


def _beyond(
    allowed: Sequence[str], excluded: Sequence[str], needed: Sequence[str], plane: str
) -> list[Beyond]:
    found = []
    for pattern in allowed:
        if "*" in pattern:
            # A wildcard grants whatever falls under it, today's operations and tomorrow's: beyond a
            # finite need unless its exclusions take all of it back.
            if not _excluded(pattern, excluded):
                found.append(Beyond(pattern, plane))
        elif not any(matches(n, pattern) for n in needed) and not any(matches(x, pattern) for x in excluded):
            found.append(Beyond(pattern, plane))
    return found


def beyond_the_need(role: RoleDefinition) -> list[Beyond]:
    """Every permission ``role`` grants that the backup does not need, in the order the role lists them."""
    found: list[Beyond] = []
    for permission in role.permissions:
        found += _beyond(permission.actions, permission.not_actions, NEEDED_ACTIONS, "actions")
        found += _beyond(
            permission.data_actions, permission.not_data_actions, NEEDED_DATA_ACTIONS, "dataActions"
        )
    return found


def _grants(permissions: Iterable[Permission], operation: str, data: bool) -> bool:
    for permission in permissions:
        allowed = permission.data_actions if data else permission.actions
        excluded = permission.not_data_actions if data else permission.not_actions
        if any(matches(p, operation) for p in allowed) and not any(matches(x, operation) for x in excluded):
            return True
    return False


def missing_from(roles: Iterable[RoleDefinition]) -> list[str]:
    """What the backup needs that none of ``roles`` grants, in the need's order."""
    granted = [p for role in roles for p in role.permissions]
    missing = [a for a in NEEDED_ACTIONS if not _grants(granted, a, data=False)]
    return missing + [a for a in NEEDED_DATA_ACTIONS if not _grants(granted, a, data=True)]
