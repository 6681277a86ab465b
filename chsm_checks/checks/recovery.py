"""Checks of recovery objectives: how old the latest successful backup is (the achieved recovery point),
read from the Azure activity log. Pure functions.

A backup is an ARM action, ``Microsoft.HardwareSecurityModules/cloudHsmClusters/backup/action``; the
activity log writes an event when it starts and another when it ends, with the same correlation id. A
backup counts only by its *Succeeded* event: a started, accepted or failed one restores nothing, and
neither does a validation (``validateBackupProperties/action``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from ..arm.snapshots import ActivityEvent, arm_instant
from .model import Finding, failed, not_applicable, passed

BACKUP_ACTION = "Microsoft.HardwareSecurityModules/cloudHsmClusters/backup/action"


def _age(hours: float) -> str:
    """An age as a person says it: ``2.5 hours``, ``3 days 4 hours``."""
    if hours < 48:
        return f"{hours:.1f} hours"
    days, rest = divmod(hours, 24)
    return f"{int(days)} days {rest:.0f} hours"


def latest_backup(events: Sequence[ActivityEvent], status: str = "Succeeded") -> ActivityEvent | None:
    """The latest backup event of ``status`` in ``events`` (any order), if any."""
    found = [
        e
        for e in events
        if (e.operation_name or "").lower() == BACKUP_ACTION.lower()
        and (e.status or "").lower() == status.lower()
        and e.event_timestamp is not None
    ]
    return max(found, key=lambda e: e.event_timestamp or datetime.min, default=None)


def recovery_point(
    cluster_name: str,
    cluster_id: str,
    events: Sequence[ActivityEvent],
    as_of: datetime,
    rpo_hours: int,
    lookback: timedelta,
    activation_state: str | None = "Active",
) -> Finding:
    """The source's latest successful backup is at most ``rpo_hours`` old at ``as_of``. A cluster that
    was never activated holds no keys: it has nothing to lose, so no recovery point to judge. Only an
    explicit ``NotActivated`` exempts it; any other state, or none, has its backups judged."""
    check = "backup.rpo"
    if activation_state == "NotActivated":
        return not_applicable(
            check, cluster_id, f"cluster {cluster_name} is NotActivated: it holds no keys to back up yet"
        )
    latest = latest_backup(events)
    failures = latest_backup(events, "Failed")
    window = f"the activity log's last {lookback.days} days up to {arm_instant(as_of)}"
    failed_note = ""
    if failures is not None and failures.event_timestamp is not None:
        failed_note = f"; the latest failed backup was at {arm_instant(failures.event_timestamp)}"
    if latest is None or latest.event_timestamp is None:
        return failed(
            check,
            cluster_id,
            f"cluster {cluster_name}: no successful backup in {window} "
            f"({len(events)} event(s) read){failed_note}; the RPO is {rpo_hours} hours",
            rpo_hours=rpo_hours,
            as_of=arm_instant(as_of),
            latest_backup_at=None,
            achieved_rpo_hours=None,
        )
    hours = (as_of - latest.event_timestamp).total_seconds() / 3600
    observed = {
        "rpo_hours": rpo_hours,
        "as_of": arm_instant(as_of),
        "latest_backup_at": arm_instant(latest.event_timestamp),
        "achieved_rpo_hours": round(hours, 2),
        "correlation_id": latest.correlation_id,
    }
    said = (
        f"cluster {cluster_name}: the latest successful backup was at {arm_instant(latest.event_timestamp)}, "
        f"{_age(hours)} before {arm_instant(as_of)}"
    )
    if hours > rpo_hours:
        return failed(
            check, cluster_id, f"{said}: older than the RPO of {rpo_hours} hours{failed_note}", **observed
        )
    return passed(check, cluster_id, f"{said}, within the RPO of {rpo_hours} hours", **observed)
