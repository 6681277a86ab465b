"""restore.rto, the pure judgement, and the Date that times it: the sandbox dates its answers by its clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from chsm_checks.arm.client import answer_date
from chsm_checks.checks.recovery import RestoreTimeline, recovery_time
from chsm_checks.hsm.checks import RESTORE_CHECKS
from chsm_checks.outcomes import Outcome

START = datetime(2025, 6, 16, 9, 0, 0, tzinfo=UTC)
DEST = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/x/chsm-dest"
ALL_PASSED = dict.fromkeys(RESTORE_CHECKS, Outcome.PASSED)


def _timeline(active: float, validated: float) -> RestoreTimeline:
    return RestoreTimeline(START, START + timedelta(seconds=active), START + timedelta(seconds=validated))


def test_a_recovery_within_the_rto_passes_with_its_figures() -> None:
    finding = recovery_time("chsm-dest", DEST, _timeline(6, 60), ALL_PASSED, RESTORE_CHECKS, 2)
    assert finding.status is Outcome.PASSED
    assert finding.observed["minutes_to_active"] == 0.1
    assert finding.observed["minutes_to_validated"] == 1.0


def test_a_validation_past_the_rto_fails_though_activation_was_in_time() -> None:
    finding = recovery_time("chsm-dest", DEST, _timeline(30, 180), ALL_PASSED, RESTORE_CHECKS, 2)
    assert finding.status is Outcome.FAILED
    assert "not validated within the RTO of 2 minutes" in finding.message


def test_a_validation_that_did_not_pass_is_no_recovery() -> None:
    validation = {**ALL_PASSED, "restore.keys-restored": Outcome.FAILED}
    finding = recovery_time("chsm-dest", DEST, _timeline(6, 60), validation, RESTORE_CHECKS, 2)
    assert finding.status is Outcome.FAILED
    assert "restore.keys-restored failed" in finding.message


def test_a_validation_not_judged_in_full_is_an_error() -> None:
    validation = {k: v for k, v in ALL_PASSED.items() if k != "restore.users-restored"}
    finding = recovery_time("chsm-dest", DEST, _timeline(6, 60), validation, RESTORE_CHECKS, 2)
    assert finding.status is Outcome.ERROR
    assert "restore.users-restored not judged" in finding.message


def test_an_undated_answer_is_an_error_never_a_pass() -> None:
    timeline = RestoreTimeline(START, None, None, undated=("the answer to the restore POST",))
    finding = recovery_time("chsm-dest", DEST, timeline, ALL_PASSED, RESTORE_CHECKS, 2)
    assert finding.status is Outcome.ERROR
    assert "carried no Date" in finding.message


def test_a_destination_never_active_fails() -> None:
    finding = recovery_time("chsm-dest", DEST, RestoreTimeline(START), ALL_PASSED, RESTORE_CHECKS, 2)
    assert finding.status is Outcome.FAILED
    assert "never read Active" in finding.message


def test_dates_running_backwards_time_nothing() -> None:
    finding = recovery_time("chsm-dest", DEST, _timeline(60, 30), ALL_PASSED, RESTORE_CHECKS, 2)
    assert finding.status is Outcome.ERROR


def test_the_answer_date_is_read_from_the_date_header_and_absent_without_one() -> None:
    request = httpx.Request("GET", "http://127.0.0.1/x")
    dated = httpx.Response(200, headers={"date": "Mon, 16 Jun 2025 09:00:04 GMT"}, request=request)
    assert answer_date(dated) == START + timedelta(seconds=4)
    assert answer_date(httpx.Response(200, request=request)) is None
    assert answer_date(httpx.Response(200, headers={"date": "yesterday"}, request=request)) is None
