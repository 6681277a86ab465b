"""Checks of the audit trail: diagnostic settings that keep a cluster's audit logs and the backup
account's blob read, write and delete logs somewhere they can be read later. Pure functions.

A setting keeps a category when it has a destination (a Log Analytics workspace, a storage account
or an event hub) and enables that category, by name or by a category group the resource says the
category belongs to (``audit``, ``allLogs``). Which categories a resource offers, and their groups,
are read from the resource (``diagnosticSettingsCategories``), never assumed.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..arm.snapshots import DiagnosticCategory, DiagnosticSetting
from .model import Finding, error, failed, passed

BLOB_ACCESS_CATEGORIES = ("StorageRead", "StorageWrite", "StorageDelete")
# The category Azure documents for a Cloud HSM cluster's operation audit logs (the
# CloudHsmServiceOperationAuditLogs table); judged with whatever else the cluster puts in its audit group.
CLUSTER_AUDIT_CATEGORIES = ("HsmServiceOperations",)


def _kept(category: DiagnosticCategory, setting: DiagnosticSetting) -> bool:
    if not setting.destinations:
        return False
    return any(
        log.enabled is True
        and ((log.category or "") == category.name or (log.category_group or "") in category.groups)
        for log in setting.logs
    )


def logs_kept(
    check: str,
    what: str,
    resource_id: str,
    categories: Sequence[DiagnosticCategory],
    settings: Sequence[DiagnosticSetting],
    required: Sequence[str] = (),
    audit_group: bool = False,
) -> Finding:
    """Every ``required`` log category of the resource (and, with ``audit_group``, every one it puts in
    its ``audit`` group) is kept by a diagnostic setting with a destination."""
    offered = {c.name: c for c in categories if c.category_type == "Logs"}
    grouped = [name for name, c in offered.items() if "audit" in c.groups] if audit_group else []
    if audit_group:
        # A documented category the resource does not offer is judged through its audit group alone.
        wanted = list(dict.fromkeys([*(name for name in required if name in offered), *grouped]))
        if not wanted:
            return error(
                check,
                resource_id,
                f"{what} offers neither {', '.join(required)} nor a log category in the audit group "
                f"({', '.join(offered) or 'no log categories at all'}); "
                "the check cannot tell which are its audit logs",
            )
    else:
        unknown = [name for name in required if name not in offered]
        if unknown:
            return error(
                check,
                resource_id,
                f"{what} does not offer the log categories {', '.join(unknown)}; the check cannot judge them",
            )
        wanted = list(required)
    kept = {name: [s for s in settings if _kept(offered[name], s)] for name in wanted}
    missing = [name for name, by in kept.items() if not by]
    if missing:
        unsent = [s.name for s in settings if not s.destinations]
        tail = f"; setting {', '.join(unsent)} sends nowhere" if unsent else ""
        return failed(
            check,
            resource_id,
            f"{what}: no diagnostic setting keeps {', '.join(missing)} "
            f"({len(settings)} setting(s) read){tail}",
            missing=missing,
            settings=[s.name for s in settings],
        )
    where = sorted({d for by in kept.values() for s in by for d in s.destinations})
    return passed(
        check,
        resource_id,
        f"{what}: {', '.join(wanted)} kept, sent to {', '.join(where)}",
        categories=wanted,
        destinations=where,
    )
