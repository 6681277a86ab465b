"""Backup data protection: soft delete, versioning, immutability and a second region, judged by pure
functions over the snapshots ARM gives; and the same checks through the evaluator, reading a target's
``[protection]`` table."""

from __future__ import annotations

from typing import Any

import pytest
from check_fixtures import (
    ABSENT,
    ACCOUNT_ID,
    BLOB_SERVICE_ID,
    CONTAINER_ID,
    account_json,
    assert_finding,
    blob_service_json,
    container_json,
)

from chsm_checks.arm.snapshots import BlobServiceSnapshot, ContainerSnapshot, StorageAccountSnapshot
from chsm_checks.checks import protection
from chsm_checks.outcomes import Outcome

PASSED, FAILED, ERROR, NA = Outcome.PASSED, Outcome.FAILED, Outcome.ERROR, Outcome.NOT_APPLICABLE
SERVICE_ID = BLOB_SERVICE_ID


def service(**overrides: Any) -> BlobServiceSnapshot:
    return BlobServiceSnapshot.from_arm(blob_service_json(**overrides))


def container(**overrides: Any) -> ContainerSnapshot:
    return ContainerSnapshot.from_arm(container_json(**overrides))


@pytest.mark.parametrize(
    ("policy", "min_days", "expected"),
    [
        pytest.param({"enabled": True, "days": 7}, 7, PASSED, id="seven-days-of-seven"),
        pytest.param({"enabled": True, "days": 30}, 14, PASSED, id="more-than-asked"),
        pytest.param({"enabled": True, "days": 3}, 7, FAILED, id="too-short"),
        pytest.param({"enabled": False}, 7, FAILED, id="off"),
        pytest.param(ABSENT, 7, FAILED, id="absent-means-off"),
        pytest.param({"enabled": True}, 7, ERROR, id="on-without-days"),
    ],
)
def test_blob_soft_delete_keeps_deleted_backups_long_enough(
    policy: Any, min_days: int, expected: Outcome
) -> None:
    finding = protection.blob_soft_delete(service(properties__deleteRetentionPolicy=policy), min_days)
    assert_finding(finding, expected, "storage.blob-soft-delete", SERVICE_ID)
    assert "chsmbackupsbx" in finding.message
    if expected is FAILED and policy != ABSENT and policy.get("days"):
        assert f"({min_days})" in finding.message
        assert f"{policy['days']} days" in finding.message


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        pytest.param({"enabled": True, "days": 1}, PASSED, id="on"),
        pytest.param({"enabled": False}, FAILED, id="off"),
        pytest.param(ABSENT, FAILED, id="absent-means-off"),
        pytest.param({"enabled": True}, ERROR, id="on-without-days"),
    ],
)
def test_container_soft_delete_is_on(policy: Any, expected: Outcome) -> None:
    finding = protection.container_soft_delete(service(properties__containerDeleteRetentionPolicy=policy))
    assert_finding(finding, expected, "storage.container-soft-delete", SERVICE_ID)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(True, PASSED, id="on"),
        pytest.param(False, FAILED, id="off"),
        pytest.param(ABSENT, FAILED, id="absent-means-off"),
    ],
)
def test_versioning_is_on(value: Any, expected: Outcome) -> None:
    finding = protection.versioning(service(properties__isVersioningEnabled=value))
    assert_finding(finding, expected, "storage.versioning", SERVICE_ID)


def test_a_policy_field_of_the_wrong_type_is_noted_not_read_as_absent() -> None:
    snapshot = service(properties__deleteRetentionPolicy={"enabled": "true", "days": 7.0})
    assert snapshot.blob_soft_delete.enabled is None
    assert snapshot.blob_soft_delete.days is None
    assert set(snapshot.problems) == {
        "properties.deleteRetentionPolicy.enabled",
        "properties.deleteRetentionPolicy.days",
    }


LOCKED = {"properties": {"immutabilityPeriodSinceCreationInDays": 30, "state": "Locked"}}
UNLOCKED = {"properties": {"immutabilityPeriodSinceCreationInDays": 30, "state": "Unlocked"}}


@pytest.mark.parametrize("required", [True, False])
def test_a_locked_time_based_policy_passes_and_the_report_says_it_is_locked(required: bool) -> None:
    finding = protection.immutability(
        container(properties__immutabilityPolicy=LOCKED, properties__hasImmutabilityPolicy=True), required
    )
    assert_finding(finding, PASSED, "storage.immutability", CONTAINER_ID)
    assert finding.observed["locked"] is True
    assert "Locked" in finding.message
    assert "30 days" in finding.message


def test_an_unlocked_policy_passes_and_the_report_says_it_is_not_locked() -> None:
    finding = protection.immutability(
        container(properties__immutabilityPolicy=UNLOCKED, properties__hasImmutabilityPolicy=True), True
    )
    assert_finding(finding, PASSED, "storage.immutability", CONTAINER_ID)
    assert finding.observed["locked"] is False
    assert "not Locked" in finding.message


def test_version_level_immutability_passes() -> None:
    finding = protection.immutability(
        container(
            properties__hasImmutabilityPolicy=False,
            properties__immutableStorageWithVersioning={"enabled": True},
        ),
        True,
    )
    assert_finding(finding, PASSED, "storage.immutability", CONTAINER_ID)
    assert finding.observed["kind"] == "version-level"


def test_no_policy_fails_when_the_target_requires_one() -> None:
    finding = protection.immutability(container(properties__hasImmutabilityPolicy=False), True)
    assert_finding(finding, FAILED, "storage.immutability", CONTAINER_ID)
    assert finding.severity is None  # the check's own (high)
    assert "requires" in finding.message


def test_no_policy_is_a_low_severity_finding_when_the_target_only_advises_one() -> None:
    finding = protection.immutability(container(properties__hasImmutabilityPolicy=False), False)
    assert_finding(finding, FAILED, "storage.immutability", CONTAINER_ID)
    assert finding.severity == "low"
    assert finding.to_json()["severity"] == "low"
    assert "low severity" in finding.message


def test_a_container_that_reports_neither_kind_of_immutability_is_an_error() -> None:
    finding = protection.immutability(container(), False)
    assert_finding(finding, ERROR, "storage.immutability", CONTAINER_ID)


def account(sku: str | None) -> StorageAccountSnapshot:
    return StorageAccountSnapshot.from_arm(account_json(sku={"name": sku} if sku else ABSENT))


@pytest.mark.parametrize("sku", sorted(protection.GEO_REDUNDANT_SKUS))
def test_a_geo_redundant_account_passes_when_an_alternate_site_is_required(sku: str) -> None:
    assert_finding(protection.geo_redundant(account(sku), True), PASSED, "storage.geo-redundant", ACCOUNT_ID)


@pytest.mark.parametrize("sku", ["Standard_LRS", "Standard_ZRS", "Premium_LRS", "Premium_ZRS"])
def test_an_account_in_one_region_fails_when_an_alternate_site_is_required(sku: str) -> None:
    finding = protection.geo_redundant(account(sku), True)
    assert_finding(finding, FAILED, "storage.geo-redundant", ACCOUNT_ID)
    assert sku in finding.message


def test_redundancy_is_not_judged_when_the_target_requires_no_alternate_site() -> None:
    finding = protection.geo_redundant(account("Standard_LRS"), False)
    assert_finding(finding, NA, "storage.geo-redundant", ACCOUNT_ID)
    assert "require_alternate_site" in finding.message


def test_an_unreported_sku_is_an_error_when_an_alternate_site_is_required() -> None:
    assert_finding(protection.geo_redundant(account(None), True), ERROR, "storage.geo-redundant", ACCOUNT_ID)


def test_a_policy_whose_state_is_not_reported_is_an_error_not_a_pass() -> None:
    policy = {"properties": {"immutabilityPeriodSinceCreationInDays": 30}}
    finding = protection.immutability(
        container(properties__hasImmutabilityPolicy=True, properties__immutabilityPolicy=policy), True
    )
    assert_finding(finding, ERROR, "storage.immutability", CONTAINER_ID)
    assert "Locked" in finding.message
