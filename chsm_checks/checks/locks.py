"""Checks that the backup's resources cannot be deleted by mistake: a management lock on the backup
account (or its resource group or subscription) and on each cluster. Pure functions over snapshots."""

from __future__ import annotations

from collections.abc import Sequence

from ..arm.snapshots import ManagementLock, same_resource
from .model import Finding, failed, passed

PROTECTING_LEVELS = ("CanNotDelete", "ReadOnly")


def _scopes(resource_id: str) -> list[tuple[str, str]]:
    """Where a lock protects ``resource_id`` from: the resource, its resource group, its subscription,
    each with how a message names it."""
    parts = resource_id.strip("/").split("/")
    subscription = "/" + "/".join(parts[:2])
    group = "/" + "/".join(parts[:4])
    return [
        (resource_id, "on it"),
        (group, f"on its resource group {parts[3]}" if len(parts) > 3 else "on its resource group"),
        (subscription, f"on its subscription {parts[1]}"),
    ]


def delete_protected(what: str, resource_id: str, locks: Sequence[ManagementLock]) -> Finding:
    """``what`` (``storage account``, ``cluster``) at ``resource_id`` is under a CanNotDelete or
    ReadOnly lock at its own scope, its resource group's or its subscription's."""
    check = "locks.delete-protected"
    name = resource_id.rstrip("/").rsplit("/", 1)[-1]
    found = [
        (lock, where)
        for scope, where in _scopes(resource_id)
        for lock in locks
        if lock.scope is not None and same_resource(lock.scope, scope) and lock.level in PROTECTING_LEVELS
    ]
    account = what == "storage account"
    if not found:
        finding = failed(
            check,
            resource_id,
            f"{what} {name} has no CanNotDelete or ReadOnly lock on it, its resource group or its "
            "subscription: whoever may delete it deletes the backups with it",
            locks=[],
        )
        return finding.judging(account_delete_locked=False) if account else finding
    shown = "; ".join(f"{lock.level} lock {lock.name} {where}" for lock, where in found)
    note = ""
    if what == "cluster" and any(lock.level == "ReadOnly" for lock, _ in found):
        note = " (a ReadOnly lock may also refuse the backup and restore requests, which are POSTs)"
    finding = passed(
        check,
        resource_id,
        f"{what} {name} cannot be deleted while the lock stands: {shown}{note}",
        locks=[{"name": lock.name, "level": lock.level, "scope": lock.scope} for lock, _ in found],
    )
    return finding.judging(account_delete_locked=True) if account else finding
