"""The recovery point, judged by a pure function over activity-log events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from check_fixtures import SOURCE_ID, activity_event_json, assert_finding

from chsm_checks.arm.snapshots import ActivityEvent, parse_arm_time
from chsm_checks.checks import recovery
from chsm_checks.checks.model import Finding
from chsm_checks.outcomes import Outcome

AS_OF = datetime(2025, 6, 16, 12, 0, tzinfo=UTC)
LOOKBACK = timedelta(days=89)
VALIDATE = "Microsoft.HardwareSecurityModules/cloudHsmClusters/validateBackupProperties/action"
RESTORE = "Microsoft.HardwareSecurityModules/cloudHsmClusters/restore/action"


def event(
    hours_ago: float, status: str = "Succeeded", operation: str = recovery.BACKUP_ACTION
) -> ActivityEvent:
    return ActivityEvent.from_arm(activity_event_json(AS_OF - timedelta(hours=hours_ago), status, operation))


def judge(events: list[ActivityEvent], rpo_hours: int = 24) -> Finding:
    return recovery.recovery_point("chsm-source", SOURCE_ID, events, AS_OF, rpo_hours, LOOKBACK)


def test_a_backup_within_the_rpo_passes_and_says_how_old_it_is() -> None:
    finding = judge([event(30), event(5.5), event(5.6, "Started")])
    assert_finding(finding, Outcome.PASSED, "backup.rpo", SOURCE_ID)
    assert "the latest successful backup was at 2025-06-16T06:30:00Z, 5.5 hours before" in finding.message
    assert finding.observed["achieved_rpo_hours"] == 5.5
    assert finding.observed["as_of"] == "2025-06-16T12:00:00Z"


def test_a_backup_older_than_the_rpo_fails_naming_it_and_the_failure_since() -> None:
    finding = judge([event(30), event(6, "Failed")])
    assert_finding(finding, Outcome.FAILED, "backup.rpo", SOURCE_ID)
    assert "30.0 hours before 2025-06-16T12:00:00Z: older than the RPO of 24 hours" in finding.message
    assert "the latest failed backup was at 2025-06-16T06:00:00Z" in finding.message


def test_the_targets_rpo_decides() -> None:
    assert judge([event(30)], rpo_hours=48).status is Outcome.PASSED
    assert judge([event(30)], rpo_hours=12).status is Outcome.FAILED


@pytest.mark.parametrize(
    "events",
    [
        pytest.param([], id="no-events"),
        pytest.param([event(1, "Started"), event(1, "Accepted")], id="started-never-ended"),
        pytest.param([event(1, "Failed")], id="only-failed"),
        pytest.param([event(1, operation=VALIDATE)], id="a-validation"),
        pytest.param([event(1, operation=RESTORE)], id="a-restore"),
    ],
)
def test_no_successful_backup_in_the_window_fails(events: list[ActivityEvent]) -> None:
    finding = judge(events)
    assert_finding(finding, Outcome.FAILED, "backup.rpo", SOURCE_ID)
    assert (
        "no successful backup in the activity log's last 89 days up to 2025-06-16T12:00:00Z"
        in finding.message
    )
    assert finding.observed["achieved_rpo_hours"] is None


def test_a_long_age_is_said_in_days() -> None:
    assert "4 days 2 hours before" in judge([event(98)]).message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-06-16T09:00:00.2500000Z", datetime(2025, 6, 16, 9, 0, 0, 250000, tzinfo=UTC)),
        ("2025-06-16T09:00:00Z", datetime(2025, 6, 16, 9, 0, tzinfo=UTC)),
        ("2025-06-16T10:00:00+01:00", datetime(2025, 6, 16, 9, 0, tzinfo=UTC)),
        ("yesterday", None),
        ("2025-13-16T09:00:00Z", None),
    ],
)
def test_arm_times_are_read_to_the_microsecond(text: str, expected: datetime | None) -> None:
    assert parse_arm_time(text) == expected


def test_an_event_time_that_is_no_time_is_a_problem_naming_it() -> None:
    body = activity_event_json(AS_OF)
    body["eventTimestamp"] = "soon"
    assert ActivityEvent.from_arm(body).problems == {"eventTimestamp": "is 'soon', not an ISO 8601 time"}


def test_a_cluster_never_activated_has_no_recovery_point_to_judge() -> None:
    finding = recovery.recovery_point("chsm-dest", SOURCE_ID, [], AS_OF, 24, LOOKBACK, "NotActivated")
    assert finding.status is Outcome.NOT_APPLICABLE
    assert "NotActivated: it holds no keys to back up yet" in finding.message
