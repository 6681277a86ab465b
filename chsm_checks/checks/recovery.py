"""Checks of recovery objectives, pure functions: how old the latest successful backup is (the achieved
recovery point), read from the Azure activity log; and how long the drill's restore took to give a
validated destination (the achieved recovery time), by the service's dates.

A backup is an ARM action, ``Microsoft.HardwareSecurityModules/cloudHsmClusters/backup/action``; the
activity log writes an event when it starts and another when it ends, with the same correlation id. A
backup counts only by its *Succeeded* event: a started, accepted or failed one restores nothing, and
neither does a validation (``validateBackupProperties/action``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..arm.snapshots import ActivityEvent, arm_instant
from ..outcomes import Outcome
from .model import Finding, error, failed, not_applicable, passed

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


# -- the recovery time ---------------------------------------------------------------------------

RECOVERY_TIME = "restore.rto"


@dataclass(frozen=True)
class RestoreTimeline:
    """A restore drill's instants, each as the service dated its answer (its ``Date``), so that a live
    run and its replay tell the same times: when the restore POST was accepted, when the destination
    was first read ``Active`` after it, and the read that followed the restore validation's last check.
    ``undated`` names each answer that should have dated one of them and carried no ``Date``."""

    requested_at: datetime | None = None
    active_at: datetime | None = None
    validated_by: datetime | None = None
    undated: tuple[str, ...] = ()


def _duration(seconds: float) -> str:
    """A duration as a person says it: ``45 s``, ``2.5 minutes``, ``1 h 20 min``."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    minutes = seconds / 60
    if minutes < 120:
        return f"{minutes:.1f} minutes"
    hours, rest = divmod(minutes, 60)
    return f"{int(hours)} h {rest:.0f} min"


def recovery_time(
    destination_name: str,
    destination_id: str,
    timeline: RestoreTimeline,
    validation: Mapping[str, Outcome],
    validation_checks: Sequence[str],
    rto_minutes: int,
) -> Finding:
    """The destination read ``Active``, and its restore validation had passed, within ``rto_minutes`` of
    the restore request. ``validation`` is how each of ``validation_checks`` ended in this run: the
    recovery is achieved only when every one of them passed, and a check not judged leaves it unknown."""
    check = RECOVERY_TIME
    what = f"cluster {destination_name}"
    if timeline.undated:
        return error(
            check,
            destination_id,
            f"{what}: the restore cannot be timed: {', '.join(timeline.undated)} carried no Date "
            "(the service's clock is what times the drill)",
        )
    start = timeline.requested_at
    if start is None:
        return error(check, destination_id, f"{what}: no restore request was answered in this run to time")
    observed: dict[str, object] = {
        "rto_minutes": rto_minutes,
        "restore_requested_at": arm_instant(start),
        "active_at": None,
        "validated_by": None,
        "minutes_to_active": None,
        "minutes_to_validated": None,
    }
    said = f"{what}: restore requested at {arm_instant(start)}"
    if timeline.active_at is None:
        return failed(
            check,
            destination_id,
            f"{said}; it never read Active after it, so it is not recovered; "
            f"the RTO is {rto_minutes} minutes",
            **observed,
        )
    to_active = (timeline.active_at - start).total_seconds()
    observed |= {"active_at": arm_instant(timeline.active_at), "minutes_to_active": round(to_active / 60, 2)}
    said += f", read Active {_duration(to_active)} later"
    unjudged = [c for c in validation_checks if c not in validation]
    if unjudged:
        return error(
            check,
            destination_id,
            f"{said}, but the restore validation was not judged in full in this run "
            f"({', '.join(unjudged)} not judged), so the recovery cannot be timed to it",
        )
    not_passed = [
        f"{c} {validation[c].value}" for c in validation_checks if validation[c] is not Outcome.PASSED
    ]
    if not_passed:
        return failed(
            check,
            destination_id,
            f"{said}, but the restore validation did not pass ({', '.join(not_passed)}): the destination "
            f"is not recovered; the RTO is {rto_minutes} minutes",
            **observed,
        )
    if timeline.validated_by is None:
        return error(check, destination_id, f"{said}; the read after the restore validation did not happen")
    to_validated = (timeline.validated_by - start).total_seconds()
    if to_active < 0 or to_validated < to_active:
        return error(
            check,
            destination_id,
            f"{said}; the service's dates run backwards "
            f"(validated by {arm_instant(timeline.validated_by)}), so they time nothing",
        )
    observed |= {
        "validated_by": arm_instant(timeline.validated_by),
        "minutes_to_validated": round(to_validated / 60, 2),
    }
    said += f", and validated by {_duration(to_validated)} after the request"
    limit = rto_minutes * 60
    if to_validated > limit:
        late = "read Active" if to_active > limit else "validated"
        return failed(
            check,
            destination_id,
            f"{said}: not {late} within the RTO of {rto_minutes} minutes",
            **observed,
        )
    return passed(check, destination_id, f"{said}: within the RTO of {rto_minutes} minutes", **observed)
